package main

import (
	"errors"
	"testing"
	"time"
)

// TestPendingSampleValid checks when a pending sample counts: every
// request pending before the RSS sample, none answered before it ended,
// and none left pending after the answers.
func TestPendingSampleValid(t *testing.T) {
	t.Parallel()
	good := pendingSample{base: 10 << 20, idle: 20 << 20, pending: 50 << 20, sampled: time.Second, first: 15 * time.Second, peak: 1024}
	tests := []struct {
		name string
		edit func(*pendingSample)
		want bool
	}{
		{"held", func(*pendingSample) {}, true},
		{"not all pending", func(p *pendingSample) { p.peak = 1023 }, false},
		{"still pending after", func(p *pendingSample) { p.after = 3 }, false},
		{"answered before the sample", func(p *pendingSample) { p.first = 500 * time.Millisecond }, false},
		{"count unreadable", func(p *pendingSample) { p.countErr = errors.New("refused") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := good
			tt.edit(&p)
			if got := p.valid(1024); got != tt.want {
				t.Errorf("valid(1024) = %v, want %v (%s)", got, tt.want, p.note(1024, "pending"))
			}
		})
	}
	if got := good.connKB(1024); got != 10 {
		t.Errorf("connKB(1024) = %v, want 10", got)
	}
	if got := good.perKB(1024); got != 30 {
		t.Errorf("perKB(1024) = %v, want 30", got)
	}
}
