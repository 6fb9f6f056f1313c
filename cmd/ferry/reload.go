package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/topics"
)

// generationStreams is the stream hub as one generation of the HTTP side
// sees it: it subscribes through the hub, whose streams a reload changes,
// and lists its own config's streams, which its API documents describe
// (built before the hub is given them).
type generationStreams struct {
	*consumers.Hub
	list []topics.StreamConfig
}

// Streams returns the generation's streams, sorted by name.
func (g generationStreams) Streams() []topics.StreamConfig {
	out := slices.Clone(g.list)
	slices.SortFunc(out, func(a, b topics.StreamConfig) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// reloader applies the config file again on SIGHUP, Caddy's way: it
// reads and validates the file exactly as ferry check does, builds a new
// HTTP side (route table, schemas, auth) next to the running one, and
// swaps it in at once (ingress.Server.Swap). Requests in flight finish on
// the config they started with. Streams change live (consumers.Hub's
// SetStreams): their subscribers stay, except those of a stream that is
// gone, which get a final event. A config that fails is rejected, logged
// with its field, counted, and the running one keeps serving. Settings
// that live in the process (listen address, brokers, Redis, ...) keep
// their running values and are named in a "needs restart" warning.
type reloader struct {
	mu      sync.Mutex
	base    *loaded // the config the process started with
	running *loaded // the config serving now
	front   *ingress.Server
	views   views // the views of the GET routes' topics, read for the process's life
	// replayer serves /v1/replay and /v1/topics for the process's life;
	// a reload applies the replay section to it.
	replayer interface {
		SetConfig(consumers.ReplayConfig) error
	}
	// hub serves the streams; a reload gives it the new ones (the first
	// ones too: a process without streams has a hub without any).
	hub interface {
		SetStreams([]topics.StreamConfig)
	}
	stop    func() // ends what the running generation started
	build   func(*loaded) (*ingress.Server, func(), error)
	ensure  func(context.Context, *loaded) error // creates the new topics (kafka.create_topics)
	log     *slog.Logger
	metrics *metrics.Recorder
}

// watch reloads on every SIGHUP until ctx ends.
func (r *reloader) watch(ctx context.Context) {
	onSIGHUP(ctx, func() { _ = r.reload(ctx) })
}

// onSIGHUP calls fn on every SIGHUP until ctx ends.
func onSIGHUP(ctx context.Context, fn func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			fn()
		}
	}
}

// close ends what the running generation started.
func (r *reloader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stop()
}

// reload applies the config file again, or rejects it.
func (r *reloader) reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running.path == "" {
		r.log.Warn("SIGHUP: the config was not read from a file; nothing to reload")
		return nil
	}
	next, err := loadConfig(r.running.path)
	if err == nil {
		err = r.compatible(next)
	}
	if err == nil {
		err = r.ensure(ctx, next)
	}
	var (
		srv  *ingress.Server
		stop func()
	)
	if err == nil {
		srv, stop, err = r.build(next)
	}
	if err != nil {
		r.metrics.ConfigReload("rejected")
		r.log.Error("SIGHUP: config rejected; the running config keeps serving", "config", r.running.path, "err", err.Error())
		return err
	}
	fields := restartOnly(r.base, next)
	r.hub.SetStreams(next.Streams)
	r.front.Swap(srv)
	if r.replayer != nil {
		if err := r.replayer.SetConfig(next.Replay); err != nil {
			fields = append(fields, "replay.max_concurrent")
		}
	}
	if len(fields) > 0 {
		r.log.Warn("SIGHUP: these settings change only on restart and keep their running values", "needs_restart", fields)
	}
	r.stop() // the previous auth's JWKS refresh; requests in flight keep its keys
	r.stop, r.running = stop, next
	r.metrics.ConfigReload("applied")
	r.log.Info("SIGHUP: config reloaded", "config", next.path, "hash", next.hash, "routes", len(next.table.Routes()))
	return nil
}

// compatible refuses what a reload cannot apply: a reply topic the
// correlator does not read (it subscribes to its topics for its life).
func (r *reloader) compatible(next *loaded) error {
	have := replyTopics(r.base.table)
	var errs []error
	for _, rt := range replyTopics(next.table) {
		if !slices.Contains(have, rt) {
			errs = append(errs, fmt.Errorf("routes: reply topic %s is new; the correlator reads its reply topics for the life of the process, so a new one needs a restart", rt))
		}
	}
	for t := range viewTopics(next.table) {
		if _, ok := r.views[t]; !ok {
			errs = append(errs, fmt.Errorf("routes: GET routes read %s, which no view reads yet; a new view needs a restart", t))
		}
	}
	return errors.Join(errs...)
}

// restartOnly names the sections of next that differ from the running
// process's and that only a restart applies. (tls is not among them: its
// files are read again on SIGHUP by themselves.)
func restartOnly(run, next *loaded) []string {
	var out []string
	for _, f := range []struct {
		name      string
		old, next any
	}{
		{"listen", run.Listen, next.Listen},
		// The certificate, key and client CAs are re-read from the
		// running paths on SIGHUP (tlsFiles); the paths themselves, the
		// modes and the versions are the listener's, fixed at start.
		{"tls", run.TLS, next.TLS},
		{"server", run.Server, next.Server},
		{"log", run.Log, next.Log},
		{"kafka", run.Kafka, next.Kafka},
		{"redis", run.Redis, next.Redis},
		{"hub", run.Hub, next.Hub},
		{"telemetry", run.Telemetry, next.Telemetry},
		{"correlator", run.Correlator, next.Correlator},
		{"webhooks", run.Webhooks, next.Webhooks},
		{"groups", run.Groups, next.Groups},
	} {
		if !reflect.DeepEqual(f.old, f.next) {
			out = append(out, f.name)
		}
	}
	return out
}
