package main

import (
	"fmt"
	"slices"
	"strings"
)

// spread is one figure measured in several interleaved rounds.
type spread []float64

// median is the middle round (the mean of the middle two for an even
// count); 0 without rounds.
func (s spread) median() float64 {
	if len(s) == 0 {
		return 0
	}
	v := slices.Sorted(slices.Values(s))
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

func (s spread) min() float64 {
	if len(s) == 0 {
		return 0
	}
	return slices.Min(s)
}

func (s spread) max() float64 {
	if len(s) == 0 {
		return 0
	}
	return slices.Max(s)
}

// format prints the median and the range of the rounds: num is the
// verb of one number, unit follows it, e.g. format("%.2f", "x") gives
// "0.83x (0.79–0.88x, 5 rounds)".
func (s spread) format(num, unit string) string {
	switch len(s) {
	case 0:
		return "not measured"
	case 1:
		return fmt.Sprintf(num+unit+" (1 round)", s[0])
	}
	return fmt.Sprintf(num+unit+" ("+s.between(num)+unit+", %d rounds)", s.median(), s.min(), s.max(), len(s))
}

// brief is format without the count of rounds, for a figure next to one
// already given: "37089/s (35310–47552)".
func (s spread) brief(num, unit string) string {
	if len(s) < 2 {
		return s.format(num, unit)
	}
	return fmt.Sprintf(num+unit+" ("+s.between(num)+")", s.median(), s.min(), s.max())
}

// between is the verb pair of a range: "%.2f–%.2f", or with signed
// numbers "%+.2f to %+.2f", where a dash would read as a minus.
func (s spread) between(num string) string {
	if strings.Contains(num, "+") {
		return num + " to " + num
	}
	return num + "–" + num
}

// verdict is a goal's outcome in one run of the bench.
type verdict int

const (
	notMet verdict = iota
	withinNoise
	met
)

func (v verdict) String() string {
	switch v {
	case met:
		return "yes"
	case withinNoise:
		return "within noise"
	}
	return "no"
}

// judge decides a goal on the rounds of a figure: met when every round
// is on the goal's side of the threshold, not met when none is, and
// within noise when the threshold lies inside the rounds' range, so that
// the median alone would decide by chance. atMost says the figure must
// stay at or below the threshold (a latency), else at or above it (a
// ratio).
func judge(s spread, threshold float64, atMost bool) verdict {
	if len(s) == 0 {
		return notMet
	}
	lo, hi := s.min(), s.max()
	if atMost {
		lo, hi = -hi, -lo
		threshold = -threshold
	}
	switch {
	case lo >= threshold:
		return met
	case hi < threshold:
		return notMet
	}
	return withinNoise
}

// all is the verdict of a goal made of several: not met if any part is
// not met, else within noise if any part is, else met.
func all(vs ...verdict) verdict {
	out := met
	for _, v := range vs {
		out = min(out, v)
	}
	return out
}

// stability compares a goal's verdicts over the runs of one bench: "yes"
// when they agree, "within noise" when they differ only through a run
// that was within noise, and "NO" when one run met the goal and another
// did not (the bench contradicts itself).
func stability(vs []verdict) string {
	if len(vs) == 0 {
		return "—"
	}
	sawMet, sawNot := false, false
	for _, v := range vs {
		sawMet = sawMet || v == met
		sawNot = sawNot || v == notMet
	}
	switch {
	case sawMet && sawNot:
		return "NO"
	case slices.Contains(vs, withinNoise) && (sawMet || sawNot):
		return "within noise"
	}
	return "yes"
}
