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
			got := replyBound(2000, 10000, tt.raw)
			if !strings.Contains(got, tt.want) {
				t.Errorf("replyBound(2000, 10000, %v) = %q, want it to say %q", tt.raw, got, tt.want)
			}
			if !strings.HasSuffix(got, ".") {
				t.Errorf("replyBound(2000, 10000, %v) = %q, want a sentence", tt.raw, got)
			}
		})
	}
}
