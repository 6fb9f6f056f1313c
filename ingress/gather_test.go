package ingress

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// TestScatterGather: a route with reply.gather publishes one record and
// answers every reply that arrives within the window (or as soon as max
// did), in arrival order; fewer than min is a 504 naming the count.
func TestScatterGather(t *testing.T) {
	t.Parallel()
	prod := &downProducer{}
	corr := newFakeCorrelator()
	_, h := newTestServer(t, []topics.RouteConfig{
		{Name: "quotes", Path: "/v1/quotes", Topic: "q", Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: "q.replies", Gather: &topics.GatherConfig{Window: 5 * time.Second, Min: 2, Max: 3}}},
		{Name: "slow", Path: "/v1/slow", Topic: "q", Auth: topics.AuthNone,
			Reply: &topics.ReplyConfig{Topic: "q.replies", Gather: &topics.GatherConfig{Window: 300 * time.Millisecond, Min: 2}}},
	}, Deps{Producer: prod, Correlator: corr, Results: &fakeResults{}})

	// answer delivers n replies to the k-th record produced, once it is.
	answer := func(k, n int) {
		topicstest.Eventually(t, 5*time.Second, time.Millisecond, func() error {
			if prod.calls.Load() < int32(k+1) || corr.ws.Len() == 0 {
				return errors.New("not yet waiting")
			}
			return nil
		})
		prod.mu.Lock()
		id := prod.ids[k]
		prod.mu.Unlock()
		for i := range n {
			corr.ws.Deliver([]byte(id), correlator.Reply{Status: 200, Final: true, Body: fmt.Appendf(nil, `{"from":"responder-%d"}`, i),
				Header: []correlator.HeaderField{{Name: "X-Responder", Value: fmt.Sprint(i)}}})
		}
	}
	done := make(chan handled, 1)
	go func() { done <- handle(h, "POST", "/v1/quotes", "application/json", `{"sym":"ACME"}`) }()
	began := time.Now()
	answer(0, 3)
	r := <-done
	var got struct {
		Replies []struct {
			Status  int
			Headers map[string]string
			Body    json.RawMessage
		}
	}
	if r.status != 200 || json.Unmarshal([]byte(r.body), &got) != nil || len(got.Replies) != 3 {
		t.Fatalf("gathered answer = %d %s, want 200 with 3 replies", r.status, r.body)
	}
	if time.Since(began) > 4*time.Second {
		t.Errorf("the answer took %v: max replies should end the gathering at once", time.Since(began))
	}
	for i, rep := range got.Replies {
		if rep.Status != 200 || rep.Headers["X-Responder"] != fmt.Sprint(i) || !strings.Contains(string(rep.Body), fmt.Sprintf("responder-%d", i)) {
			t.Errorf("reply %d = %+v", i, rep)
		}
	}
	if n := prod.calls.Load(); n != 1 {
		t.Errorf("%d records, want 1", n)
	}

	go func() { done <- handle(h, "POST", "/v1/slow", "application/json", `{}`) }()
	answer(1, 1)
	if r := <-done; r.status != 504 || r.typ != problem.ReplyTimeout.URI || !strings.Contains(r.detail, "1 of the 2 replies") {
		t.Errorf("one reply of min 2 = %d %s %q, want 504 reply-timeout with the count", r.status, r.typ, r.detail)
	}
}
