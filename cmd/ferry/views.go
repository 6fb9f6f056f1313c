package main

import (
	"log/slog"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/consumers/view"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/topics"
)

// views are the in-memory views of the topics the GET routes read, one
// per topic (the smallest view.max_keys of its routes).
type views map[string]*view.View

// View implements ingress.Views.
func (vs views) View(topic string) (ingress.View, bool) {
	v, ok := vs[topic]
	if !ok {
		return nil, false
	}
	return v, true
}

// viewTopics returns each topic a GET route reads, with its max_keys:
// the GET routes of a topic share one view, bounded by the smallest
// max_keys among them, so that a bound one route sets is never lifted by
// another route's default.
func viewTopics(t *topics.Table) map[string]int {
	out := make(map[string]int)
	for _, r := range t.Routes() {
		if !r.IsView() {
			continue
		}
		if n, ok := out[r.Topic]; ok {
			out[r.Topic] = min(n, r.View.MaxKeys)
		} else {
			out[r.Topic] = r.View.MaxKeys
		}
	}
	return out
}

// newViews builds a view of every topic a GET route of cfg reads, each
// reading with its own client from opts; on error, those built so far
// (to be closed).
func newViews(cfg *loaded, opts []kgo.Opt, log *slog.Logger) (views, error) {
	vs := make(views)
	tops := viewTopics(cfg.table)
	names := make([]string, 0, len(tops))
	for t := range tops {
		names = append(names, t)
	}
	slices.Sort(names)
	for _, t := range names {
		v, err := view.New(t, tops[t], opts, log)
		if err != nil {
			return vs, err
		}
		vs[t] = v
	}
	return vs, nil
}
