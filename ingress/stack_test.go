//go:build !race

package ingress_test

import (
	"io"
	"runtime/metrics"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fasthttp"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// TestPublishFitsEightKiBStack: a publish, down to franz-go's produce
// call, runs within a goroutine stack of 8 KiB, with 1 KiB to spare for
// fasthttp's frames below the handler. A fasthttp worker whose stack a
// request grows to 16 KiB has it halved again by the next garbage
// collection while it waits, so every request after a collection copied
// the whole stack: 6% of ferry's CPU under load (pprof: runtime.copystack
// under topics.(*Message).Record), until the chain's frames were cut
// (idempotency and publish keep their rare paths in functions of their
// own; routes go by pointer).
//
// Without the race detector, whose instrumentation makes every frame
// larger.
func TestPublishFitsEightKiBStack(t *testing.T) {
	if start := stackStartingSize(); start > 8<<10 {
		t.Fatalf("goroutines start with %d bytes of stack here, so a publish that needs more than 8 KiB cannot be seen", start)
	}
	set, table := testSetAndTable(t)
	c := topicstest.Cluster(t, 3, "orders", "anything", "slow")
	producer := topics.NewProducer(topicstest.Client(t, c, kgo.ProducerLinger(0)), 5*time.Second)
	// A request-reply route, whose request the worker produces itself and
	// then waits for its reply with the stack the produce left it (the
	// reply is there at once).
	syncTable := replyTable(t)
	_, res := ingress.FakeReplyDeps(nil)
	deps := ingress.Deps{Producer: producer, Validator: set, Correlator: answeringCorrelator{correlator.NewWaiters(0, 0)}, Results: res}
	order := readFile(t, "../testdata/payloads/order.json")
	for _, tc := range []struct {
		table *topics.Table
		path  string
	}{{table, "/v1/anything"}, {table, "/v1/orders"}, {syncTable, "/v1/slow"}} {
		srv, err := ingress.New(ingress.Config{}, tc.table, deps, ingress.WithLogger(testLogger()), ingress.WithAccessLines(io.Discard))
		if err != nil {
			t.Fatal(err)
		}
		h := srv.App().Handler()
		var ctx fasthttp.RequestCtx
		postJSON(&ctx, tc.path, order)
		h(&ctx) // the first produce of a client also fetches metadata
		// A garbage collection between growing the stack and the publish
		// may halve it; try a few times.
		grew := true
		for range 3 {
			ctx.Response.Reset()
			done := make(chan bool)
			go func() { done <- publishGrowsStack(h, &ctx) }()
			if grew = <-done; !grew {
				break
			}
		}
		if code := ctx.Response.StatusCode(); code != 202 && (tc.path != "/v1/slow" || code != 200) {
			t.Fatalf("POST %s: status %d: %s", tc.path, code, ctx.Response.Body())
		}
		// What the handler needs, for the log: the most of 10 runs, one
		// of which may take a rare deeper path (a breaker's state change
		// logs).
		depth := make(chan int)
		var ds []int
		for range 10 {
			go func() { depth <- handlerDepth(h, &ctx) }()
			if d := <-depth; d >= 0 {
				ds = append(ds, d)
			}
		}
		slices.Sort(ds)
		if len(ds) > 0 {
			t.Logf("POST %s: %d-%d bytes of stack below the handler", tc.path, ds[0], ds[len(ds)-1])
		}
		if grew {
			t.Errorf("POST %s grew an 8 KiB goroutine stack (3 tries): some frame on the publish path got larger", tc.path)
		}
	}
}

// handlerDepth runs h on a stack painted with a pattern and returns how
// far below its caller's frame h's frames wrote: the stack h needs, less
// the unwritten bottom of its deepest frame (-1 if the stack moved).
func handlerDepth(h fasthttp.RequestHandler, ctx *fasthttp.RequestCtx) int {
	paintStack()
	var marker byte
	top := uintptr(unsafe.Pointer(&marker))
	h(ctx)
	if uintptr(unsafe.Pointer(&marker)) != top {
		return -1
	}
	for off := paintSize - 64; off > 0; off-- {
		if *(*byte)(unsafe.Add(unsafe.Pointer(&marker), -off)) != paintByte {
			return off
		}
	}
	return 0
}

const (
	paintSize = 32 << 10
	paintByte = 0xA5
)

// paintStack grows the goroutine's stack past paintSize and fills it with
// paintByte, which the frames of the next call overwrite.
//
//go:noinline
func paintStack() byte {
	var b [paintSize]byte
	for i := range b {
		b[i] = paintByte
	}
	return b[0]
}

// publishGrowsStack grows the calling goroutine's stack to 8 KiB, runs h
// below a 1 KiB frame, and reports whether the stack had to grow (it
// moved: a local's address changed).
func publishGrowsStack(h fasthttp.RequestHandler, ctx *fasthttp.RequestCtx) bool {
	growStack()
	var marker byte
	before := uintptr(unsafe.Pointer(&marker))
	belowFrame(h, ctx)
	return uintptr(unsafe.Pointer(&marker)) != before
}

// growStack needs more than 4 KiB of stack, so that the goroutine's stack
// is 8 KiB (or more) when it returns.
//
//go:noinline
func growStack() byte {
	var b [5 << 10]byte
	for i := range b {
		b[i] = byte(i)
	}
	return b[len(b)-1]
}

// belowFrame runs h under a frame of 1 KiB, as fasthttp's serveConn and
// worker frames are.
//
//go:noinline
func belowFrame(h fasthttp.RequestHandler, ctx *fasthttp.RequestCtx) byte {
	var b [1 << 10]byte
	b[ctx.ID()%uint64(len(b))] = 1
	h(ctx)
	return b[0]
}

// stackStartingSize is the stack size new goroutines start with (the
// runtime adapts it to the average stack in use).
func stackStartingSize() uint64 {
	s := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
