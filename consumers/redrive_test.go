package consumers

import (
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
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
