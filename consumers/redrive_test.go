package consumers

import (
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-gw/ferry/topics"
)

// TestRedriveDescribesOnce counts what one redrive asks the cluster to
// describe: each Admin.Describe lists the start offsets of its topics in
// one ListOffsets request (timestamp -2) and the end offsets in another
// (-1). A redrive describes its source and its target together, once; a
// dry run reads with offsets it already knows, so nothing else lists
// offsets.
func TestRedriveDescribesOnce(t *testing.T) {
	e := newEnv(t, ReplayConfig{}, "orders.dlq", "orders.events")
	e.produce(t, "orders.dlq", 0, 4, t0)
	var starts, ends atomic.Int64
	e.cluster.ControlKey(kmsg.ListOffsets.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		lreq := req.(*kmsg.ListOffsetsRequest)
		if len(lreq.Topics) > 0 && len(lreq.Topics[0].Partitions) > 0 {
			switch lreq.Topics[0].Partitions[0].Timestamp {
			case -2:
				starts.Add(1)
			case -1:
				ends.Add(1)
			}
		}
		return nil, nil, false
	})
	for _, tt := range []struct{ name, source, target string }{
		{"to another topic", "orders.dlq", "orders.events"},
		{"onto itself", "orders.dlq", "orders.dlq"},
	} {
		starts.Store(0)
		ends.Store(0)
		res, err := e.replayer.Redrive(t.Context(), RedriveRequest{ReplayRequest: ReplayRequest{Topic: tt.source}, Target: tt.target, DryRun: true})
		if err != nil || res.Matched != 4 {
			t.Fatalf("%s: Redrive = %+v, %v; want 4 matched", tt.name, res, err)
		}
		if s, n := starts.Load(), ends.Load(); s != 1 || n != 1 {
			t.Errorf("%s: one redrive listed start offsets %d times and end offsets %d times, want once each (one describe)", tt.name, s, n)
		}
	}
}

// TestCopyRecordIDs: with NewIDs a copy gets a new ce_id and carries the
// original in ferry-redriven-id (a copy of a copy names its immediate
// source); without, ce_id is kept. Every other header is kept, and
// ferry-redriven-from names the source record.
func TestCopyRecordIDs(t *testing.T) {
	t.Parallel()
	rec := &Record{Topic: "orders", Partition: 1, Offset: 7, Key: []byte("k"), Value: []byte(`{}`),
		Headers: []topics.Header{{Key: "ce_id", Value: []byte("orig")}, {Key: "ce_source", Value: []byte("/s")},
			{Key: HeaderRedrivenID, Value: []byte("older")}, {Key: HeaderRedrivenFrom, Value: []byte("x/0/0")}}}
	hdr := func(r *kgo.Record) map[string]string {
		m := map[string]string{}
		for _, h := range r.Headers {
			if _, dup := m[h.Key]; dup {
				t.Errorf("header %s twice", h.Key)
			}
			m[h.Key] = string(h.Value)
		}
		return m
	}
	fresh := hdr(copyRecord(rec, "orders.retry", true))
	if fresh["ce_id"] == "orig" || fresh["ce_id"] == "" || fresh[HeaderRedrivenID] != "orig" || fresh["ce_source"] != "/s" ||
		fresh[HeaderRedrivenFrom] != "orders/1/7" {
		t.Errorf("new ids: %v", fresh)
	}
	kept := hdr(copyRecord(rec, "orders.retry", false))
	if kept["ce_id"] != "orig" || kept[HeaderRedrivenID] != "older" || kept[HeaderRedrivenFrom] != "orders/1/7" {
		t.Errorf("kept ids: %v", kept)
	}
}
