// Package correlator turns request/response over Kafka into a function
// call: it keeps waiters keyed by correlation id, consumes reply topics and
// hands each reply to its waiter, and stores late or asynchronous replies
// for /v1/results.
//
// Files: waiters.go is the pure pending map (nats.go's respMap), and
// deadlines.go its shared WaitFor time limits; replies.go
// is the kgo reply consumer; store.go and lease.go hold go-redis (results,
// partition leases, reply positions).
//
// It may import topics, franz-go and go-redis, and never consumers,
// ingress or an HTTP library: it knows nothing about HTTP.
//
// Lock order: no code path holds two of the package's mutexes (Waiters.mu,
// Store.mu, Correlator.mu, Correlator.posMu) at once.
package correlator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
)

// Correlator matches reply records to the requests that are waiting for
// them and keeps the replies of asynchronous requests in Redis.
//
// Build it with New, call Start before the instance reports ready (it
// positions the reply consumer), run Run in its own goroutine, and call
// Close at shutdown, after the HTTP server stopped and before the Kafka
// client and Redis close. It is safe for concurrent use.
type Correlator struct {
	cfg      Config
	cl       *kgo.Client
	store    *Store
	waiters  *Waiters
	log      *slog.Logger
	obs      Observer
	instance string
	allow    map[string]string
	topics   []string
	recheck  time.Duration

	started atomic.Bool
	// readErr and keepErr are the reply consumer's last failure to read
	// a reply partition and the keeper's to store replies, nil once a
	// read or a store succeeds again (Check).
	readErr, keepErr atomic.Pointer[error]
	replyTo          map[string]topics.ReplyTo // by reply topic; written by Start only
	queue            chan keepBatch            // replies for the store, poll -> keep

	posMu sync.Mutex
	next  map[string]map[int32]int64 // next offset per consumed partition

	// parts is each reply topic's partition count; adopted, the
	// partitions of other instances this one reads while nobody holds
	// them (layout partition). Both are used by maintain (and Close
	// after Run returned) only.
	parts   map[string]int32
	adopted map[string]map[int32]bool

	mu      sync.Mutex
	closed  bool
	cancel  context.CancelFunc // stops Run
	runDone chan struct{}      // closed when Run returns; nil if Run never started
}

// Option configures a Correlator.
type Option func(*Correlator)

// WithLogger sets the logger, overriding the default of slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *Correlator) { c.log = l } }

// WithInstanceID names this instance in partition leases, overriding the
// default of the host name plus random bytes.
func WithInstanceID(id string) Option { return func(c *Correlator) { c.instance = id } }

// WithRecheck sets how often a waiting GET /v1/results re-reads its result
// in case a pub/sub notification was lost, overriding the default of 1s.
func WithRecheck(d time.Duration) Option { return func(c *Correlator) { c.recheck = d } }

// New returns a Correlator for the given reply topics. cl is a Kafka client
// without a consumer group that this correlator alone consumes with; rdb
// holds results, leases and positions. The caller owns both and closes them
// after Close. cfg must have passed WithDefaults and Validate.
func New(cfg Config, cl *kgo.Client, rdb *redis.Client, replyTopics []string, opts ...Option) *Correlator {
	c := &Correlator{
		cfg:     cfg,
		cl:      cl,
		waiters: NewWaiters(cfg.MaxPending, cfg.MaxPendingPerPrincipal),
		log:     slog.Default(),
		obs:     nopObserver{},
		allow:   cfg.allowlist(),
		recheck: time.Second,
		replyTo: make(map[string]topics.ReplyTo),
		next:    make(map[string]map[int32]int64),
		parts:   make(map[string]int32),
		adopted: make(map[string]map[int32]bool),
		queue:   make(chan keepBatch, 64),
	}
	for _, o := range opts {
		o(c)
	}
	if c.instance == "" {
		host, _ := os.Hostname()
		var b [6]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		c.instance = host + "-" + hex.EncodeToString(b[:])
	}
	c.log = c.log.With("component", "correlator")
	if c.obs == nil {
		c.obs = nopObserver{}
	}
	c.waiters.obs = c.obs
	c.store = NewStore(rdb, cfg.KeyPrefix, cfg.ResultTTL, c.log)
	for _, t := range replyTopics {
		if !slices.Contains(c.topics, t) {
			c.topics = append(c.topics, t)
		}
	}
	return c
}

// Start subscribes to result changes, leases reply partitions (layout
// partition) and positions the reply consumer: at the end of each consumed
// partition, or at the position an instance last recorded for it (at
// shutdown, or periodically) when that is within the result TTL, so that
// replies which arrived while nobody read it are still kept. Replies
// produced after Start returns are never missed.
func (c *Correlator) Start(ctx context.Context) error {
	if err := c.store.subscribe(ctx); err != nil {
		return err
	}
	consume := make(map[string]map[int32]kgo.Offset, len(c.topics))
	for _, t := range c.topics {
		n, err := partitionCount(ctx, c.cl, t)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("reply topic %s: no partitions", t)
		}
		parts := make([]int32, 0, n)
		to := topics.ReplyTo{Topic: t, Partition: topics.NoPartition}
		if c.cfg.Layout == LayoutPartition {
			p, err := c.acquire(ctx, t, n)
			if err != nil {
				return err
			}
			to.Partition = p
			parts = append(parts, p)
		} else {
			for p := int32(0); p < n; p++ {
				parts = append(parts, p)
			}
		}
		c.replyTo[t] = to
		c.parts[t] = n
		ends, err := listOffsets(ctx, c.cl, t, parts, -1)
		if err != nil {
			return err
		}
		starts, err := listOffsets(ctx, c.cl, t, parts, -2)
		if err != nil {
			return err
		}
		saved, err := c.store.loadPositions(ctx, t)
		if err != nil {
			return err
		}
		consume[t] = make(map[int32]kgo.Offset, len(parts))
		c.next[t] = make(map[int32]int64, len(parts))
		for _, p := range parts {
			off := ends[p]
			if s, ok := saved[p]; ok && s.offset >= starts[p] && s.offset < off && time.Since(s.at) < c.cfg.ResultTTL {
				c.log.Info("resuming replies at a recorded position", "topic", t, "partition", p, "offset", s.offset, "end", off)
				off = s.offset
			}
			consume[t][p] = kgo.NewOffset().At(off)
			c.next[t][p] = off
		}
		// Recorded before any request names the partition: if this
		// instance dies before its first periodic save, whoever reads
		// the partition next starts here, not at the end.
		if err := c.store.savePositions(ctx, t, c.next[t]); err != nil {
			return err
		}
		c.log.Info("reading replies", "topic", t, "layout", c.cfg.Layout, "partitions", parts)
	}
	c.cl.AddConsumePartitions(consume)
	c.started.Store(true)
	return nil
}

// acquire leases a partition of topic. When all are leased it keeps
// trying for one lease TTL: the lease of a crashed instance (perhaps this
// one, restarting) expires by then.
func (c *Correlator) acquire(ctx context.Context, topic string, n int32) (int32, error) {
	deadline := time.Now().Add(c.cfg.LeaseTTL + c.cfg.LeaseTTL/10)
	logged := false
	for {
		p, err := c.store.acquire(ctx, topic, n, c.instance, c.cfg.LeaseTTL)
		if !errors.Is(err, ErrNoPartition) || time.Now().After(deadline) {
			return p, err
		}
		if !logged {
			c.log.Warn("every reply partition is leased; waiting for a lease to expire", "topic", topic, "partitions", n, "lease_ttl", c.cfg.LeaseTTL.String())
			logged = true
		}
		t := time.NewTimer(c.cfg.LeaseTTL / 10)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// Run consumes replies, keeps asynchronous ones, forwards result changes
// and renews partition leases, until ctx ends or Close is called. It needs
// Start first.
func (c *Correlator) Run(ctx context.Context) error {
	if !c.started.Load() {
		return errors.New("correlator: Run before Start")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return nil // Close won the race with a starting Run
	case c.runDone != nil:
		c.mu.Unlock()
		return errors.New("correlator: Run called twice")
	}
	c.cancel = cancel
	c.runDone = make(chan struct{})
	c.mu.Unlock()
	defer close(c.runDone)

	var wg sync.WaitGroup
	wg.Go(func() { c.keep(ctx) })
	wg.Go(func() { c.store.listen(ctx) })
	wg.Go(func() { c.maintain(ctx) })
	err := c.poll(ctx)
	close(c.queue) // keep drains what poll queued, then returns
	cancel()
	wg.Wait()
	return err
}

// maintain renews this instance's partition leases and records where it
// is reading, every third of the lease TTL, until ctx ends. The positions
// let the next reader of a partition resume there even after a crash.
func (c *Correlator) maintain(ctx context.Context) {
	t := time.NewTicker(c.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for topic, next := range c.positions() {
			if err := c.store.savePositions(ctx, topic, next); err != nil && ctx.Err() == nil {
				c.log.Warn("recording reply positions failed", "topic", topic, "err", err)
			}
		}
		if c.cfg.Layout != LayoutPartition {
			continue
		}
		for topic, to := range c.replyTo {
			ok, err := c.store.renew(ctx, topic, to.Partition, c.instance, c.cfg.LeaseTTL)
			switch {
			case err != nil && ctx.Err() == nil:
				c.log.Warn("renewing reply partition lease failed; retrying", "topic", topic, "partition", to.Partition, "err", err)
			case err == nil && !ok:
				// Another instance took the partition after this one
				// failed to renew in time. Both now read it; each keeps
				// only its own replies, so answers stay correct.
				c.log.Error("reply partition lease lost to another instance", "topic", topic, "partition", to.Partition)
			}
			c.adopt(ctx, topic, to.Partition)
		}
	}
}

// adopt reads the reply partitions of instances that stopped (their
// lease expired or was released) while nobody else holds them: from the
// position recorded for them, so that the replies to requests those
// instances accepted are kept for GET /v1/results by this one. It renews
// the partitions it adopted, and gives one up when an instance leases it
// for itself (acquire takes adopted leases). Adopted partitions are never
// named in this instance's requests.
func (c *Correlator) adopt(ctx context.Context, topic string, own int32) {
	holder := adoptPrefix + c.instance
	adopted := c.adopted[topic]
	for p := range adopted {
		ok, err := c.store.renewHeld(ctx, topic, p, holder, c.cfg.LeaseTTL)
		if err != nil || ok {
			continue // a Redis error: keep reading, try again next time
		}
		// An instance leased it for itself: it reads on from the position
		// this one recorded.
		c.cl.RemoveConsumePartitions(map[string][]int32{topic: {p}})
		c.posMu.Lock()
		delete(c.next[topic], p)
		c.posMu.Unlock()
		delete(adopted, p)
		c.log.Info("adopted reply partition taken over by its new holder", "topic", topic, "partition", p)
	}
	saved, err := c.store.loadPositions(ctx, topic)
	if err != nil {
		return
	}
	for p := int32(0); p < c.parts[topic]; p++ {
		s, recorded := saved[p]
		if p == own || adopted[p] || !recorded || time.Since(s.at) > c.cfg.ResultTTL {
			continue // only partitions some instance advertised, lately
		}
		ok, err := c.store.adoptLease(ctx, topic, p, holder, c.cfg.LeaseTTL)
		if err != nil || !ok {
			continue
		}
		bounds, err := listOffsets(ctx, c.cl, topic, []int32{p}, -2)
		if err != nil {
			_ = c.store.release(ctx, topic, p, holder)
			continue
		}
		off := max(s.offset, bounds[p])
		c.posMu.Lock()
		c.next[topic][p] = off
		c.posMu.Unlock()
		c.cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(off)}})
		if adopted == nil {
			adopted = make(map[int32]bool)
			c.adopted[topic] = adopted
		}
		adopted[p] = true
		c.log.Info("adopting the reply partition of a stopped instance", "topic", topic, "partition", p, "offset", off)
	}
}

// Drain fails every pending waiter with ErrClosed, and every later
// Register, while the reply consumer keeps running: at shutdown the HTTP
// handlers waiting for replies answer at once (202 + Location, or their
// route's timeout answer), and the replies that come later are still kept
// for GET /v1/results. Close drains too.
func (c *Correlator) Drain() { c.waiters.Close() }

// Close fails every pending waiter with ErrClosed, stops Run after the
// replies it read are kept, records where it stopped reading, releases its
// partition leases and ends the result subscription. Call it after the HTTP
// server stopped and before the Kafka client and Redis close. It is
// idempotent.
func (c *Correlator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cancel, runDone := c.cancel, c.runDone
	c.mu.Unlock()

	c.waiters.Close()
	if cancel != nil {
		cancel()
		<-runDone
	}
	var errs []error
	if c.started.Load() {
		ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		positions := c.positions()
		remove := make(map[string][]int32, len(positions))
		for t, next := range positions {
			if err := c.store.savePositions(ctx, t, next); err != nil {
				errs = append(errs, err)
			}
			for p := range next {
				remove[t] = append(remove[t], p)
			}
		}
		c.cl.RemoveConsumePartitions(remove)
	}
	if c.cfg.Layout == LayoutPartition {
		// Also after a Start that failed half way.
		ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		for t, to := range c.replyTo {
			if err := c.store.release(ctx, t, to.Partition, c.instance); err != nil {
				errs = append(errs, err)
			}
			for p := range c.adopted[t] {
				if err := c.store.release(ctx, t, p, adoptPrefix+c.instance); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if err := c.store.closePubSub(); err != nil {
		errs = append(errs, fmt.Errorf("close result subscription: %w", err))
	}
	return errors.Join(errs...)
}

// positions copies where this instance is reading each partition.
func (c *Correlator) positions() map[string]map[int32]int64 {
	c.posMu.Lock()
	defer c.posMu.Unlock()
	out := make(map[string]map[int32]int64, len(c.next))
	for t, ps := range c.next {
		out[t] = maps.Clone(ps)
	}
	return out
}

// Register adds a waiter for the request with event id id, which will ask
// for its reply on replyTopic, on behalf of owner (who may read its result
// later). Register before producing the request, and always Cancel the
// waiter when done with it; it also removes itself when ctx ends. Errors:
// ErrTooManyPending, ErrClosed, ErrUnknownTopic.
func (c *Correlator) Register(ctx context.Context, id, replyTopic, owner string) (*Waiter, error) {
	if !c.started.Load() {
		return nil, fmt.Errorf("%w: %s (Register before Start)", ErrUnknownTopic, replyTopic)
	}
	to, ok := c.replyTo[replyTopic]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTopic, replyTopic)
	}
	return c.waiters.Register(ctx, id, owner, to)
}

// Detach turns w's request asynchronous: from now on its replies are kept
// in the store, readable with Result by any instance, and w stops waiting.
// If the final reply already arrived it is kept too, and returned with ok
// true. Use it when the client will not wait (Prefer: respond-async) or
// waited long enough (on_timeout: accept). It fails with an error wrapping
// ErrUnavailable when Redis cannot record the pending result. route, the
// name of the request's route, is kept with the result, so that whoever
// reads it can hold the reply to that route's contract.
func (c *Correlator) Detach(ctx context.Context, w *Waiter, route string) (r Reply, ok bool, err error) {
	if err := c.store.Pending(ctx, w.id, w.owner, route, w.gatherSpec()); err != nil {
		w.Cancel()
		return Reply{}, false, err
	}
	prev, rep := c.waiters.detach(w)
	if prev != stateTaken {
		return Reply{}, false, nil
	}
	r = *rep
	if _, err := c.store.Push(ctx, []push{{id: w.id, reply: r}}); err != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "keeping a reply failed", slog.String("correlation_id", w.id), slog.Any("err", err))
	}
	return r, true, nil
}

// Result reads the result of an asynchronous request: ErrUnknownID when
// there is none (never asynchronous, or expired), ErrUnavailable when
// Redis cannot be read.
func (c *Correlator) Result(ctx context.Context, id string) (*Result, error) {
	if !ValidID(id) {
		return nil, ErrUnknownID
	}
	return c.store.Get(ctx, id)
}

// Await returns the result of id once it holds more than seen replies or
// its final reply, or when ctx ends (then with the last state read and a
// nil error). Errors are Result's.
func (c *Correlator) Await(ctx context.Context, id string, seen int) (*Result, error) {
	if !ValidID(id) {
		return nil, ErrUnknownID
	}
	return c.store.Await(ctx, id, seen, c.recheck)
}

// MaxWait is the longest wait a GET /v1/results may ask for
// (Config.ResultMaxWait).
func (c *Correlator) MaxWait() time.Duration { return c.cfg.ResultMaxWait }

// Check reports whether replies flow, for /readyz: an error before Start
// positioned the reply consumer, while its last read of a reply partition
// failed, or while the replies it read cannot be kept (the results store
// fails; reading waits meanwhile). It clears once a read or a store
// succeeds again.
func (c *Correlator) Check(context.Context) error {
	if !c.started.Load() {
		return errors.New("not reading replies yet")
	}
	if err := c.readErr.Load(); err != nil {
		return fmt.Errorf("reading replies failed: %w", *err)
	}
	if err := c.keepErr.Load(); err != nil {
		return fmt.Errorf("keeping replies failed: %w", *err)
	}
	return nil
}

// Pending returns the number of requests waiting on this instance.
func (c *Correlator) Pending() int { return c.waiters.Len() }

// ReplyTo returns where requests ask for replies on topic; after Start.
func (c *Correlator) ReplyTo(topic string) (topics.ReplyTo, bool) {
	if !c.started.Load() {
		return topics.ReplyTo{}, false
	}
	to, ok := c.replyTo[topic]
	return to, ok
}
