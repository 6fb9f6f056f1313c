package correlator

import (
	"context"
	"fmt"
	"testing"

	"github.com/ferry-gw/ferry/topics"
)

// BenchmarkRegisterDeliver is the correlator's hot path for one synchronous
// request: register a waiter, deliver its reply from the consumer side,
// receive it, cancel. pending=N keeps N other waiters in the map;
// ctx=cancelable registers with a context that can end (a request
// deadline), which costs the waiter a context.AfterFunc.
//
// Run: go test -run=^$ -bench=RegisterDeliver -benchmem ./correlator/
func BenchmarkRegisterDeliver(b *testing.B) {
	cancelable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, bc := range []struct {
		pending int
		name    string
		ctx     context.Context
	}{
		{0, "background", context.Background()},
		{0, "cancelable", cancelable},
		{10000, "cancelable", cancelable},
	} {
		pending := bc.pending
		b.Run(fmt.Sprintf("pending=%d/ctx=%s", pending, bc.name), func(b *testing.B) {
			ws := NewWaiters(0, 0)
			ctx := bc.ctx
			for i := range pending {
				if _, err := ws.Register(ctx, fmt.Sprintf("other-%d", i), "p", noReply); err != nil {
					b.Fatal(err)
				}
			}
			ids := make([]string, 1024)
			raw := make([][]byte, len(ids))
			for i := range ids {
				ids[i] = topics.NewEventID()
				raw[i] = []byte(ids[i])
			}
			r := Reply{Status: 200, Final: true, Body: []byte(`{"ok":true}`)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				k := i % len(ids)
				w, err := ws.Register(ctx, ids[k], "app_user:alice", noReply)
				if err != nil {
					b.Fatal(err)
				}
				if !ws.Deliver(raw[k], r) {
					b.Fatal("not delivered")
				}
				if _, err := w.Wait(ctx); err != nil {
					b.Fatal(err)
				}
				w.Cancel()
			}
		})
	}
}

// BenchmarkRegisterDeliverParallel is the same under contention from all
// cores.
//
// Run: go test -run=^$ -bench=RegisterDeliverParallel -benchmem ./correlator/
func BenchmarkRegisterDeliverParallel(b *testing.B) {
	ws := NewWaiters(0, 0)
	ctx := context.Background()
	r := Reply{Status: 200, Final: true}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := topics.NewEventID()
			w, err := ws.Register(ctx, id, "app_user:alice", noReply)
			if err != nil {
				b.Fatal(err)
			}
			ws.Deliver([]byte(id), r)
			if _, err := w.Wait(ctx); err != nil {
				b.Fatal(err)
			}
			w.Cancel()
		}
	})
}

// BenchmarkDecodeReply decodes a reply record with the common headers.
//
// Run: go test -run=^$ -bench=DecodeReply -benchmem ./correlator/
func BenchmarkDecodeReply(b *testing.B) {
	rec := replyRecord("0190c0de-0000-7000-8000-000000000001", []byte(`{"price":12.5}`),
		topics.HeaderStatus, "201", topics.HeaderContentType, "application/json", "ferry-header-Cache-Control", "no-store")
	allow := Config{}.WithDefaults().allowlist()
	b.ReportAllocs()
	for b.Loop() {
		decodeReply(rec, allow)
	}
}
