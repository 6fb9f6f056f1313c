package main

import (
	"strings"
	"testing"
)

// TestReplyBound checks that what bounds the request-reply goal claims
// only what every round of the raw round trip shows.
func TestReplyBound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  spread
		want string
	}{
		{"round trip under 0.70x in every round", spread{5000, 6000, 6900}, "no HTTP gateway in front of it reaches the goal"},
		{"round trip above 0.70x in every round", spread{72000, 90000, 210000}, "leaves room for the goal"},
		{"round trip on both sides", spread{969, 72000, 90000}, "within noise"},
		{"not measured", nil, "which the publish handler never pays for."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := replyBound(2000, 10000, 3000, nil, 0.67, tt.raw)
			if !strings.Contains(got, tt.want) {
				t.Errorf("replyBound(2000, 10000, %v) = %q, want it to say %q", tt.raw, got, tt.want)
			}
			if !strings.HasSuffix(got, ".") {
				t.Errorf("replyBound(2000, 10000, %v) = %q, want a sentence", tt.raw, got)
			}
		})
	}
}

// TestReplyBoundRequestReplyBaseline checks that what bounds the
// request-reply goal blames the round trip only when the minimal
// request/reply handler misses the goal in every round, and ferry only
// when that handler meets it in every round.
func TestReplyBoundRequestReplyBaseline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		share spread
		want  string
	}{
		{"handler under 0.70x in every round", spread{0.30, 0.35, 0.41}, "no request/reply gateway reaches the goal on this machine, and ferry's sync route reaches 0.91x of that handler."},
		{"handler at 0.70x or more in every round", spread{0.70, 0.80, 0.90}, "ferry's sync route, at 0.91x of that handler, is the gap."},
		{"handler on both sides", spread{0.50, 0.60, 0.75}, "within noise"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := replyBound(2000, 10000, 3500, tt.share, 0.91, nil)
			if !strings.Contains(got, tt.want) {
				t.Errorf("replyBound(..., %v, ...) = %q, want it to say %q", tt.share, got, tt.want)
			}
			if !strings.Contains(got, "reaches 3500/s (median)") {
				t.Errorf("replyBound(..., %v, ...) = %q, want the handler's median max", tt.share, got)
			}
		})
	}
}
