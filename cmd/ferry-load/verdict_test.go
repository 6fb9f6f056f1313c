package main

import (
	"slices"
	"testing"
)

func TestSpread(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s                spread
		median, min, max float64
	}{
		{spread{0.9, 0.7, 0.8, 1.2, 0.75}, 0.8, 0.7, 1.2},
		{spread{4, 1, 3, 2}, 2.5, 1, 4}, // even: the mean of the middle two
		{spread{5}, 5, 5, 5},
		{nil, 0, 0, 0},
	} {
		orig := slices.Clone(tc.s)
		if got := tc.s.median(); got != tc.median {
			t.Errorf("%v.median() = %v, want %v", tc.s, got, tc.median)
		}
		if !slices.Equal(tc.s, orig) {
			t.Errorf("median reordered the rounds: %v, want %v", tc.s, orig)
		}
		if tc.s.min() != tc.min || tc.s.max() != tc.max {
			t.Errorf("%v: min %v max %v, want %v %v", tc.s, tc.s.min(), tc.s.max(), tc.min, tc.max)
		}
	}
	for _, tc := range []struct{ got, want string }{
		{spread{0.88, 0.79, 0.83}.format("%.2f", "x"), "0.83x (0.79–0.88x, 3 rounds)"},
		{spread{-0.1, 0.3, 0.2}.format("%+.2f", " ms"), "+0.20 ms (-0.10 to +0.30 ms, 3 rounds)"},
		{spread{100, 300, 200}.brief("%.0f", "/s"), "200/s (100–300)"},
		{spread{1.5}.format("%.1f", " KB"), "1.5 KB (1 round)"},
		{spread{}.format("%.1f", "x"), "not measured"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		s         spread
		threshold float64
		atMost    bool
		want      verdict
	}{
		{"every round above", spread{0.85, 0.81, 0.9}, 0.80, false, met},
		{"lowest round on the threshold", spread{0.80, 0.85}, 0.80, false, met},
		{"every round below", spread{0.5, 0.6, 0.79}, 0.80, false, notMet},
		// The median (0.82) meets the goal, but a round does not: the
		// verdict would flip with the luck of the rounds.
		{"threshold inside the range", spread{0.78, 0.82, 0.9}, 0.80, false, withinNoise},
		{"median below, a round above", spread{0.7, 0.75, 0.81}, 0.80, false, withinNoise},
		{"latency: every round under", spread{0.2, 0.9, 1.0}, 1, true, met},
		{"latency: every round over", spread{1.1, 1.5}, 1, true, notMet},
		{"latency: inside", spread{0.5, 1.2}, 1, true, withinNoise},
		{"not measured", nil, 0.8, false, notMet},
	} {
		if got := judge(tc.s, tc.threshold, tc.atMost); got != tc.want {
			t.Errorf("%s: judge(%v, %v, atMost=%v) = %v, want %v", tc.name, tc.s, tc.threshold, tc.atMost, got, tc.want)
		}
	}
	if got := all(met, withinNoise, met); got != withinNoise {
		t.Errorf("all(met, within noise, met) = %v, want within noise", got)
	}
	if got := all(withinNoise, notMet); got != notMet {
		t.Errorf("all(within noise, no) = %v, want no", got)
	}
	if got := all(met, met); got != met {
		t.Errorf("all(met, met) = %v, want yes", got)
	}
}

func TestStability(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vs   []verdict
		want string
	}{
		{[]verdict{met, met}, "yes"},
		{[]verdict{notMet, notMet}, "yes"},
		{[]verdict{withinNoise, withinNoise}, "yes"},
		{[]verdict{met, withinNoise}, "within noise"},
		{[]verdict{withinNoise, notMet}, "within noise"},
		{[]verdict{met, notMet}, "NO"},
		{[]verdict{met, withinNoise, notMet}, "NO"},
		{[]verdict{met}, "yes"},
	} {
		if got := stability(tc.vs); got != tc.want {
			t.Errorf("stability(%v) = %q, want %q", tc.vs, got, tc.want)
		}
	}
}
