// Package webhook pushes the records of a topic to an HTTP endpoint: each
// configured webhook consumes its topic in a Kafka consumer group of its
// own and POSTs every record (the value as the body, the CloudEvents
// attributes as ce-* headers, a Standard Webhooks signature), retrying with
// exponential backoff and jitter, keeping the order of each key, writing
// what cannot be delivered to a dead-letter topic, and pausing while the
// endpoint is down (a circuit breaker). An offset is committed only after
// its record was answered with a 2xx or written to the dead-letter topic:
// delivery is at least once.
//
// It may import consumers (for the filter vocabulary), topics, franz-go,
// sony/gobreaker and net/http's client; never Fiber, fasthttp, ingress,
// correlator, Redis or a metrics library (an Observer reports instead).
//
// Files: config.go (the `webhooks` section), sign.go (secrets and
// signatures), request.go (the HTTP contract), retry.go (failure classes
// and backoff) are pure; queue.go keeps the per-key order and the commit
// position of each partition; deliver.go makes the attempts; this file
// holds the Kafka consumer and the lifecycle.
package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/topics"
)

// Webhook delivers one configured webhook. Build it with New, run it with
// Run, and end it with Shutdown, which also closes its Kafka client. Its
// methods are safe for concurrent use.
//
// Lock order: the breaker's own mutex, then bmu (its state-change
// callback takes bmu). mu is never held while calling the breaker.
type Webhook struct {
	cfg     Config
	cl      *kgo.Client
	hc      *http.Client
	admin   *topics.Admin
	secrets []Secret
	filter  consumers.Filter
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]
	log     *slog.Logger
	obs     Observer
	rnd     func(int64) int64

	lagEvery   time.Duration
	lag        atomic.Int64
	maxPending int

	// sem holds a slot per delivery in progress (max_in_flight).
	sem chan struct{}
	// wg counts the goroutines Run started: deliveries and the lag reader.
	wg sync.WaitGroup

	mu      sync.Mutex
	parts   map[int32]*partition // owned partitions
	chains  map[string][]*item   // records waiting per key, the one in delivery first
	pending int                  // records polled and not yet committable past
	room    chan struct{}        // signalled when pending drops

	bmu      sync.Mutex
	changed  chan struct{} // closed at each breaker state change
	open     bool          // the breaker is open
	openedAt time.Time
	lastFail string

	// stop ends when Shutdown begins or Run's context ends: no new
	// fetches or attempts. abort ends the attempts in flight.
	stop    context.Context
	stopFn  context.CancelFunc
	abort   context.Context
	abortFn context.CancelFunc

	runMu   sync.Mutex
	running bool
	closed  bool
	runDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// New returns the webhook cfg describes (defaults applied, validated with
// Validate). base are the client options that reach the cluster (seeds,
// TLS, SASL, logger, hooks); New adds the consumer group settings. A group
// without committed offsets starts at the earliest record.
func New(cfg Config, base []kgo.Opt, opts ...Option) (*Webhook, error) {
	cfg = cfg.WithDefaults()
	if err := Validate([]Config{cfg}); err != nil {
		return nil, fmt.Errorf("webhook %s: %w", cfg.Name, err)
	}
	secrets, err := LoadSecrets(cfg.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", cfg.Name, err)
	}
	filter, _ := ParseFilters(cfg.Filters) // checked by Validate
	o := buildOptions(opts)
	w := &Webhook{
		cfg:        cfg,
		secrets:    secrets,
		filter:     filter,
		log:        o.log.With("component", "webhook", "webhook", cfg.Name),
		obs:        o.obs,
		rnd:        o.rnd,
		lagEvery:   o.lagEvery,
		maxPending: max(1024, 4*cfg.MaxInFlight),
		sem:        make(chan struct{}, cfg.MaxInFlight),
		parts:      make(map[int32]*partition),
		chains:     make(map[string][]*item),
		room:       make(chan struct{}, 1),
		changed:    make(chan struct{}),
		runDone:    make(chan struct{}),
	}
	w.stop, w.stopFn = context.WithCancel(context.Background())
	w.abort, w.abortFn = context.WithCancel(context.Background())
	w.hc = &http.Client{
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment, // an egress proxy (smokescreen) guards against SSRF
			DialContext:         (&net.Dialer{Timeout: min(10*time.Second, cfg.Timeout), KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        cfg.MaxInFlight,
			MaxIdleConnsPerHost: cfg.MaxInFlight,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: min(10*time.Second, cfg.Timeout),
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		},
		// A redirect is a failure (Standard Webhooks), and following
		// one could lead ferry to an address nobody configured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	bc := cfg.CircuitBreaker
	w.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:          cfg.Name,
		MaxRequests:   1,
		Interval:      bc.Window,
		Timeout:       bc.OpenFor,
		ReadyToTrip:   func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(bc.Failures) },
		IsExcluded:    func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: w.breakerChanged,
	})

	all := []kgo.Opt{kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	all = append(all, base...)
	all = append(all,
		kgo.ConsumerGroup(cfg.GroupID()),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(min(3*time.Second, cfg.SessionTimeout/3)),
		kgo.AutoCommitMarks(),
		// Marks are committed every second: after a crash at most about
		// a second of deliveries is made again.
		kgo.AutoCommitInterval(time.Second),
		// Polled records are queued before the next rebalance step, so
		// that queueing and giving partitions up never interleave.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, lost map[string][]int32) {
			w.drop(lost[cfg.Topic])
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				w.log.Warn("commit before giving partitions up failed; their last deliveries will be made again", "err", err)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
			w.drop(lost[cfg.Topic])
		}),
	)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", cfg.Name, err)
	}
	w.cl = cl
	w.admin = topics.NewAdmin(cl)
	return w, nil
}

// Name returns the webhook's name.
func (w *Webhook) Name() string { return w.cfg.Name }

// Run fetches and delivers until ctx ends or Shutdown begins. Then it
// fetches nothing more and starts no attempt, waits for the attempts in
// flight (Shutdown cuts them short at its deadline), and returns nil. It
// returns ErrClosed after Shutdown. Call it once.
func (w *Webhook) Run(ctx context.Context) error {
	w.runMu.Lock()
	if w.closed || w.running {
		w.runMu.Unlock()
		return fmt.Errorf("webhook %s: %w", w.cfg.Name, ErrClosed)
	}
	w.running = true
	w.runMu.Unlock()
	defer close(w.runDone)
	defer context.AfterFunc(ctx, w.stopFn)()

	w.log.Info("webhook delivering", "topic", w.cfg.Topic, "group", w.cfg.GroupID(), "url", redact(w.cfg.URL),
		"max_in_flight", w.cfg.MaxInFlight, "dead_letter_topic", w.cfg.DeadLetterTopic)
	w.wg.Go(w.readLag)
	w.wg.Go(w.watchBreaker)
	var backoff topics.PollBackoff
	for {
		room := w.waitRoom()
		if room == 0 {
			break
		}
		pctx, cancel := backoff.Context(w.stop)
		fs := w.cl.PollRecords(pctx, room)
		cancel()
		if w.stop.Err() != nil || fs.IsClientClosed() {
			w.cl.AllowRebalance()
			break
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				w.log.Warn("fetching records failed; retrying", "topic", t, "partition", p, "err", err)
			}
		})
		backoff.After(w.cl, fs)
		w.mu.Lock()
		fs.EachRecord(w.add)
		w.mu.Unlock()
		w.cl.AllowRebalance()
		if recreated := topics.RecreatedTopics(fs); len(recreated) > 0 {
			w.log.Warn("the topic was recreated; consuming it again", "topic", w.cfg.Topic)
			w.cl.PurgeTopicsFromConsuming(recreated...)
			w.cl.AddConsumeTopics(recreated...)
		}
	}
	w.wg.Wait()
	return nil
}

// waitRoom waits until fewer than maxPending records are held, and returns
// how many more may be fetched, or 0 once the webhook stops.
func (w *Webhook) waitRoom() int {
	for {
		w.mu.Lock()
		room := w.maxPending - w.pending
		w.mu.Unlock()
		if room > 0 && w.stop.Err() == nil {
			return room
		}
		select {
		case <-w.room:
		case <-w.stop.Done():
			return 0
		}
	}
}

// Shutdown stops fetching and starting attempts, waits until ctx ends for
// the attempts in flight (they are cut short then, and their records are
// left uncommitted, to be delivered again), commits what was delivered,
// leaves the group and closes the Kafka client. It is idempotent.
func (w *Webhook) Shutdown(ctx context.Context) error {
	w.runMu.Lock()
	w.closed = true
	running := w.running
	w.runMu.Unlock()
	w.stopFn()
	if running {
		select {
		case <-w.runDone:
		case <-ctx.Done():
			w.log.Warn("shutdown grace period over; abandoning the deliveries in flight (they will be made again)")
			w.abortFn()
			<-w.runDone
		}
	}
	w.abortFn()
	w.closeOnce.Do(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.cl.CommitMarkedOffsets(cctx); err != nil {
			w.closeErr = fmt.Errorf("webhook %s: final commit: %w", w.cfg.Name, err)
		}
		w.cl.Close()
		w.hc.CloseIdleConnections()
	})
	return w.closeErr
}

// readLag refreshes the group's lag until the webhook stops.
func (w *Webhook) readLag() {
	t := time.NewTicker(w.lagEvery)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(w.stop, 5*time.Second)
		lag, err := w.admin.GroupLag(ctx, w.cfg.GroupID(), w.cfg.Topic)
		cancel()
		if err == nil {
			w.lag.Store(lag)
		} else if w.stop.Err() == nil {
			w.log.Debug("reading the group's lag failed", "err", err)
		}
		select {
		case <-t.C:
		case <-w.stop.Done():
			return
		}
	}
}

// Lag returns the records of the topic the webhook's group has not
// committed yet, as last read from Kafka (every 5s): the same figure on
// every instance, as kafka-consumer-groups --describe shows it.
func (w *Webhook) Lag() int64 { return w.lag.Load() }

// BreakerState is the state of a webhook's circuit breaker.
type BreakerState int

// The breaker states, as numbers for a gauge.
const (
	BreakerClosed   BreakerState = 0 // delivering
	BreakerHalfOpen BreakerState = 1 // one attempt probes the endpoint
	BreakerOpen     BreakerState = 2 // the endpoint is down: fetching paused
)

// Breaker returns the state of the circuit breaker.
func (w *Webhook) Breaker() BreakerState {
	switch w.cb.State() {
	case gobreaker.StateOpen:
		return BreakerOpen
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	}
	return BreakerClosed
}

// Check reports the breaker for /readyz: nil while it is closed, else an
// error wrapping ErrEndpointDown that says since when and why. An open
// breaker means the endpoint is down, not this instance: cmd/ferry shows
// the error without turning the instance unready.
func (w *Webhook) Check(context.Context) error {
	state := w.Breaker()
	w.bmu.Lock()
	since, last := w.openedAt, w.lastFail
	w.bmu.Unlock()
	switch state {
	case BreakerOpen:
		return fmt.Errorf("%w: circuit breaker open since %s (last failure: %s); fetching paused",
			ErrEndpointDown, since.UTC().Format(time.RFC3339), last)
	case BreakerHalfOpen:
		return fmt.Errorf("%w: circuit breaker half-open, probing the endpoint (last failure: %s)", ErrEndpointDown, last)
	}
	return nil
}

// watchBreaker half-opens the breaker when its open_for has passed: the
// breaker changes state only when asked, and when the record whose
// failure opened it was dead-lettered no delivery is left to ask, while
// fetching stays paused. Half-open resumes fetching, so the next record
// probes the endpoint.
func (w *Webhook) watchBreaker() {
	for {
		w.bmu.Lock()
		changed, open, due := w.changed, w.open, time.Until(w.openedAt.Add(w.cfg.CircuitBreaker.OpenFor))
		w.bmu.Unlock()
		var (
			timer   *time.Timer
			timeout <-chan time.Time
		)
		if open {
			timer = time.NewTimer(max(due, 0))
			timeout = timer.C
		}
		select {
		case <-changed:
		case <-timeout:
			w.cb.State() // open_for is over: half-open
		case <-w.stop.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if w.stop.Err() != nil {
			return
		}
	}
}

// breakerChanged runs inside the breaker's lock at each state change: it
// wakes the deliveries waiting on the breaker and pauses fetching while
// the breaker is open.
func (w *Webhook) breakerChanged(_ string, from, to gobreaker.State) {
	w.bmu.Lock()
	w.open = to == gobreaker.StateOpen
	if w.open {
		w.openedAt = time.Now()
	}
	close(w.changed)
	w.changed = make(chan struct{})
	last := w.lastFail
	w.bmu.Unlock()
	switch to {
	case gobreaker.StateOpen:
		w.cl.PauseFetchTopics(w.cfg.Topic)
		w.log.Warn("endpoint down: circuit breaker open, fetching paused", "from", from.String(),
			"open_for", w.cfg.CircuitBreaker.OpenFor.String(), "last_failure", last)
	case gobreaker.StateHalfOpen:
		w.cl.ResumeFetchTopics(w.cfg.Topic)
		w.log.Info("circuit breaker half-open: fetching resumed, the next attempt probes the endpoint")
	case gobreaker.StateClosed:
		w.log.Info("endpoint answers again: circuit breaker closed")
	}
}
