package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/consumers/group"
	"github.com/ferry-gw/ferry/consumers/respond"
	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/console"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/topics"
)

// serveCmd runs the gateway until ctx ends (SIGINT/SIGTERM).
func serveCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var path string
	var opts serveOptions
	fs.StringVar(&path, "c", defaultConfigFile, "config `file`")
	fs.StringVar(&path, "config", defaultConfigFile, "config `file`")
	fs.BoolVar(&opts.echo, "echo-responder", false, "also run the demo echo responder (ferry respond --echo) in-process")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: ferry serve [-c FILE] [--echo-responder]\n\nRuns the gateway until SIGINT or SIGTERM.\n\nFlags:\n")
		printFlags(stderr, fs, configAlias)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ferry serve: unexpected argument %q (use -c FILE)\n", fs.Arg(0))
		return errUsage
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return reportConfigError(stderr, err, true)
	}
	out := stderr
	if every := cfg.Log.FlushInterval; every >= 0 {
		buf := newLogBuffer(stderr)
		lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { defer close(done); buf.run(lctx, cmp.Or(every, defaultLogFlush)) }()
		defer func() { stop(); <-done }() // the last lines, after serve returned
		out = buf
	}
	if cfg.Log.Format != "text" {
		opts.accessOut = out
	}
	return serve(ctx, cfg, newLogger(cfg.Log, out), opts)
}

// defaultLogFlush is log.flush_interval's default.
const defaultLogFlush = 100 * time.Millisecond

// serveOptions are serve's command-line switches.
type serveOptions struct {
	// echo runs the demo echo responder in-process, so that the
	// quickstart's request/response routes answer (make run).
	echo bool
	// accessOut, when set, is the JSON log's writer: access lines are
	// written to it directly (ingress.WithAccessLines).
	accessOut io.Writer
}

// closeNotice is the shortest time between SIGTERM and closing the
// listener: long enough for a client that sends requests back to back on
// a keep-alive connection to receive one answer with Connection: close
// (Server.CloseConnections). Only a connection idle for all of it is
// closed under a request its client may be sending at that moment, which
// no HTTP/1.1 server can rule out.
const closeNotice = 500 * time.Millisecond

// newLogger builds the process logger from the `log` section.
func newLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cmpOr(cfg.Level, "info"))) // validated by loadConfig
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// serve starts every component in order and, when ctx ends, stops them in
// reverse order: /readyz turns 503, the listener closes after the shutdown
// delay, in-flight requests finish, the demo responder stops, the
// correlator fails what still waits and stops reading replies, the
// producer flushes, and the Kafka clients, Redis and the embedded brokers
// close last.
func serve(ctx context.Context, cfg *loaded, log *slog.Logger, opts serveOptions) (err error) {
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()

	for _, w := range cfg.warnings {
		log.Warn("config: " + w) // what ferry check prints as a warning
	}
	klog := newKafkaLog(cfg.Log, log)
	info := startInfo{kafkaEmbedded: cfg.Kafka.UseEmbedded(), redis: cfg.Redis.Address()}
	tel, err := newTelemetry(ctx, cfg.Telemetry, log)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	if err := tel.addWebhooks(cfg.Webhooks); err != nil {
		return err
	}
	closers = append(closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.shutdown(ctx); err != nil {
			log.Warn("telemetry shutdown", "err", err)
		}
	})

	seeds := cfg.Kafka.Brokers
	if cfg.Kafka.UseEmbedded() {
		kc, addrs, err := startKafka(cfg.Kafka, log)
		if err != nil {
			return err
		}
		closers = append(closers, func() { kc.Close(); log.Info("embedded kafka stopped") })
		seeds = addrs
	}

	redisURL := cfg.Redis.URL
	if redisURL == "" {
		mr, err := startRedis()
		if err != nil {
			return err
		}
		closers = append(closers, mr.Close)
		redisURL = "redis://" + mr.Addr()
		info.redis, info.redisEmbedded = mr.Addr(), true
	}
	ropts, err := cfg.Redis.options(redisURL)
	if err != nil {
		return fmt.Errorf("redis.url: %w", err)
	}
	setRedisLog(log)
	rdb := redis.NewClient(ropts)
	closers = append(closers, func() { _ = rdb.Close() })

	cl, err := newKafkaClient(cfg.Kafka, seeds, klog, tel.kafkaHooks("producer")...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	closers = append(closers, cl.Close)

	admin := topics.NewAdmin(cl)
	needed := neededTopics(cfg)
	if *cfg.Kafka.CreateTopics {
		if err := ensureTopics(ctx, admin, cfg.Kafka, needed, slices.Collect(maps.Keys(viewTopics(cfg.table))), log); err != nil {
			return err
		}
	}

	producer := topics.NewProducer(cl, cfg.Kafka.ProduceTimeout, tel.producerOptions()...)
	var atomic *topics.Transactor
	if hasAtomicBatch(cfg.table) {
		// Atomic batches go through a transactional client of their own,
		// one transaction at a time; its id is unique to this process.
		txOpts, err := kafkaOpts(cfg.Kafka, seeds, klog, tel.kafkaHooks("transactions")...)
		if err != nil {
			return err
		}
		txcl, err := kgo.NewClient(append(txOpts, kgo.TransactionalID("ferry-"+rand.Text()))...)
		if err != nil {
			return fmt.Errorf("kafka transactional client: %w", err)
		}
		closers = append(closers, txcl.Close)
		atomic = topics.NewTransactor(txcl, cfg.Kafka.ProduceTimeout)
	}
	var tlsf *tlsFiles
	if cfg.TLS.enabled() {
		if tlsf, err = newTLSFiles(*cfg.TLS); err != nil {
			return err
		}
	}
	deps := ingress.Deps{
		Producer:    producer,
		Validator:   cfg.schemas,
		Checks:      readyChecks(admin, rdb, needed),
		Limiter:     policy.NewRedisLimiter(rdb),
		Idempotency: policy.NewRedisIdempotency(rdb),
	}
	if tlsf != nil && tlsf.verifiesInHTTP() {
		deps.ClientCerts = identity.NewCertVerifier(tlsf.clientCAs)
	}
	if atomic != nil {
		deps.Atomic = atomic
	}
	var corr *correlator.Correlator
	if rt := replyTopics(cfg.table); len(rt) > 0 {
		// The reply consumer gets its own client: it polls, the producer
		// client does not.
		replyCl, err := newKafkaClient(cfg.Kafka, seeds, klog, tel.kafkaHooks("replies")...)
		if err != nil {
			return fmt.Errorf("kafka reply client: %w", err)
		}
		closers = append(closers, replyCl.Close)
		corr = correlator.New(cfg.Correlator, replyCl, rdb, rt, append([]correlator.Option{correlator.WithLogger(log)}, tel.correlatorOptions()...)...)
		closers = append(closers, func() { _ = corr.Close() }) // no-op after the shutdown below
		if err := corr.Start(ctx); err != nil {
			return fmt.Errorf("correlator: %w", err)
		}
		deps.Correlator, deps.Results = corr, corr
		deps.Checks = append(deps.Checks, ingress.Check{Name: "replies", Check: corr.Check})
	}
	// Replays read with short-lived clients of their own, built from the
	// same options as cl.
	replayOpts, err := replayKafkaOpts(cfg.Kafka, seeds, klog)
	if err != nil {
		return err
	}
	replayer := consumers.NewReplayer(cfg.Replay, admin, replayOpts, consumers.WithLogger(log))
	deps.Replayer, deps.Topics, deps.ReplayScopes = replayer, replayer, cfg.Replay.Scopes
	var groups *group.Groups
	if len(cfg.Groups) > 0 {
		// Polls read as replays do, with a reader of their own: the
		// groups' topics, and slots apart from the replay API's.
		reader := consumers.NewReplayer(consumers.ReplayConfig{Topics: cfg.Groups.Topics(), MaxRecords: cfg.Groups.MaxRecords(),
			MaxConcurrent: maxConcurrentPolls}.WithDefaults(), admin, replayOpts, consumers.WithLogger(log))
		closers = append(closers, func() { _ = reader.Close() })
		groups = group.New(cfg.Groups, redisLeases{rdb: rdb, prefix: cfg.Correlator.KeyPrefix}, admin, reader, group.WithLogger(log))
		deps.Groups = groups
	}
	hub, hubClosers, err := newHub(cfg, seeds, log, klog, tel)
	if err != nil {
		return err
	}
	closers = append(closers, hubClosers...)
	deps.Streams = hub
	fixedChecks := []ingress.Check{{Name: "streams", Check: hub.Check}} // those of parts a reload does not rebuild
	viewOpts, err := kafkaOpts(cfg.Kafka, seeds, klog)
	if err != nil {
		return err
	}
	vs, err := newViews(cfg, viewOpts, log)
	for _, v := range vs {
		closers = append(closers, v.Close)
	}
	if err != nil {
		return err
	}
	if len(vs) > 0 {
		deps.Views = vs
		for _, t := range slices.Sorted(maps.Keys(vs)) {
			// Catching up gates the instance; a view past max_keys puts
			// only its GET routes out of service (503), so it is shown,
			// not gating: every instance reads the same topic, and a
			// balancer would take them all out, publishing routes too.
			fixedChecks = append(fixedChecks,
				ingress.Check{Name: "view." + t, Check: vs[t].CaughtUp},
				ingress.Check{Name: "view." + t + ".max_keys", Check: vs[t].Capacity, Advisory: true})
		}
	}
	hooks, hookChecks, err := newWebhooks(cfg, seeds, log, klog, tel)
	if err != nil {
		return err
	}
	closers = append(closers, func() { _ = shutdownWebhooks(context.Background(), hooks) }) // no-op after the shutdown below
	fixedChecks = append(fixedChecks, hookChecks...)
	// build makes the HTTP side of config c: the route table, schemas and
	// auth are c's, everything else is the running process's (cfg). It
	// runs at start and on every reload (SIGHUP); stop ends what it
	// started (the JWKS refresh).
	build := func(c *loaded) (srv *ingress.Server, stop func(), err error) {
		d := deps
		d.Validator = c.schemas
		d.Streams = generationStreams{Hub: hub, list: c.Streams}
		d.ReplayScopes = c.Replay.Scopes // a reload applies them (and Replayer.SetConfig the rest)
		d.Checks = append(readyChecks(admin, rdb, neededTopics(c)), fixedChecks...)
		if lease := c.Auth.Policy.RateLimits.LocalLease; lease > 0 {
			d.Limiter = policy.NewRedisLimiter(rdb, policy.WithLocalLease(lease))
		}
		stop = func() {}
		if c.Auth.Configured() {
			authCtx, cancelAuth := context.WithCancel(context.Background())
			auth, err := identity.New(authCtx, c.Auth.Config, identity.WithLogger(log))
			if err != nil {
				cancelAuth()
				return nil, nil, err
			}
			d.Authenticator, stop = auth, cancelAuth
			if c.Auth.JWT != nil && c.Auth.JWT.JWKSURL != "" {
				d.Checks = append(d.Checks, ingress.Check{Name: "jwks", Check: auth.Ready})
			}
		}
		srvOpts := append([]ingress.Option{ingress.WithLogger(log), ingress.WithAuth(c.Auth), apiDocs(c, seeds),
			ingress.WithKafkaBreaker(kafkaBreaker(cfg.Kafka)), ingress.WithConfigInfo(ingress.ConfigInfo{Hash: c.hash, LoadedAt: c.loadedAt})},
			tel.serverOptions()...)
		if opts.accessOut != nil {
			srvOpts = append(srvOpts, ingress.WithAccessLines(opts.accessOut))
		}
		if c.Console.Enabled {
			h, err := console.Handler()
			if err != nil {
				stop()
				return nil, nil, fmt.Errorf("console: %w", err)
			}
			srvOpts = append(srvOpts, ingress.WithConsole(h))
		}
		srv, err = ingress.New(cfg.Server, c.table, d, srvOpts...)
		if err != nil {
			stop()
			return nil, nil, err
		}
		return srv, stop, nil
	}
	srv, stopAuth, err := build(cfg)
	if err != nil {
		return err
	}
	rl := &reloader{base: cfg, running: cfg, front: srv, views: vs, replayer: replayer, hub: hub, stop: stopAuth, build: build, log: log, metrics: tel.metrics,
		ensure: func(ctx context.Context, c *loaded) error {
			if !*cfg.Kafka.CreateTopics {
				return nil
			}
			return ensureTopics(ctx, admin, cfg.Kafka, neededTopics(c), slices.Collect(maps.Keys(viewTopics(c.table))), log)
		}}
	closers = append(closers, rl.close)
	var echo *respond.Responder
	if opts.echo {
		if len(requestTopics(cfg.table)) == 0 {
			return errors.New("--echo-responder: the config has no route with a reply section")
		}
		echoOpts, err := kafkaOpts(cfg.Kafka, seeds, klog)
		if err != nil {
			return err
		}
		echo, err = respond.New(respond.Config{Topics: requestTopics(cfg.table), Group: echoGroup},
			echoOpts, echoHandler(echoOptions{}), respond.WithLogger(log))
		if err != nil {
			return err
		}
		closers = append(closers, func() { _ = echo.Close() })
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if tlsf != nil {
		ln = tls.NewListener(ln, tlsf.config())
	}
	info.addr, info.seeds = ln.Addr(), seeds

	g, gctx := errgroup.WithContext(ctx)
	if tlsf != nil {
		g.Go(func() error { tlsf.watch(gctx, log); return nil })
	}
	g.Go(func() error { return hub.Run(gctx) })
	for _, v := range vs {
		g.Go(func() error { return v.Run(gctx) })
	}
	for _, w := range hooks {
		// Run stops fetching when gctx ends; the shutdown below waits
		// for the deliveries in flight, within the grace period.
		g.Go(func() error { return w.Run(gctx) })
	}
	g.Go(func() error { return srv.Serve(ln) })
	g.Go(func() error { rl.watch(gctx); return nil })
	g.Go(func() error { return servePprof(gctx, log) })
	if corr != nil {
		// Run ends when Close is called below, not with gctx: replies
		// must still arrive while in-flight requests finish.
		g.Go(func() error { return corr.Run(context.Background()) })
	}
	echoCtx, stopEcho := context.WithCancel(context.Background())
	defer stopEcho()
	echoDone := make(chan struct{})
	if echo != nil {
		g.Go(func() error { defer close(echoDone); return echo.Run(echoCtx) })
		info.echoTopics = requestTopics(cfg.table)
	} else {
		close(echoDone)
	}
	srv.SetReady(true)
	log.LogAttrs(ctx, slog.LevelInfo, "ferry ready", readyAttrs(cfg, info)...)
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down", "shutdown_delay", cfg.Server.ShutdownDelay.String(), "grace_period", cfg.Server.GracePeriod.String())
		srv.SetReady(false)
		srv.CloseConnections() // keep-alive clients reconnect, elsewhere
		if ctx.Err() != nil {
			// Load balancers see /readyz fail while new connections are
			// still served; then new connections are refused while the
			// open ones get Connection: close on their next answer.
			time.Sleep(cfg.Server.ShutdownDelay)
			srv.StopAccepting()
			time.Sleep(closeNotice)
		}
		hub.Close()          // ends the SSE streams, which the server would wait for
		_ = replayer.Close() // followed replays end now; bounded ones finish within the grace period
		if groups != nil {
			_ = groups.Close() // polls that wait answer what they have now
		}
		if corr != nil {
			corr.Drain() // sync requests still waiting answer now, not at the end of the grace period
		}
		grace, cancel := context.WithTimeout(context.Background(), cfg.Server.GracePeriod)
		defer cancel()
		// Webhook deliveries in flight finish within the grace period,
		// alongside the HTTP requests; those cut short stay uncommitted.
		hooksDone := make(chan error, 1)
		go func() { hooksDone <- shutdownWebhooks(grace, hooks) }()
		var errs []error
		if err := srv.Shutdown(grace); err != nil {
			errs = append(errs, err)
		}
		if err := replayer.Wait(grace); err != nil {
			errs = append(errs, err)
		}
		stopEcho()
		<-echoDone
		if echo != nil {
			if err := echo.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if corr != nil {
			if err := corr.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := producer.Flush(grace); err != nil {
			errs = append(errs, err)
		}
		if err := <-hooksDone; err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("ferry stopped")
	return nil
}

// neededTopics are the topics the config writes to or reads from.
func neededTopics(cfg *loaded) []string {
	seen := make(map[string]bool)
	var out []string
	add := func(t string) {
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, r := range cfg.table.Routes() {
		for _, t := range r.Topics() {
			add(t)
		}
		if r.Reply != nil {
			add(r.Reply.Topic)
		}
	}
	for _, s := range cfg.Streams {
		add(s.Topic)
	}
	for _, w := range cfg.Webhooks {
		add(w.Topic)
		add(w.DeadLetterTopic)
	}
	return out
}

// ensureTopics creates missing topics, retrying while the cluster is still
// coming up, for at most 30s.
func ensureTopics(ctx context.Context, admin *topics.Admin, kc topics.Config, names, compact []string, log *slog.Logger) error {
	spec := topics.TopicSpec{Partitions: kc.Partitions, ReplicationFactor: kc.ReplicationFactor}
	if kc.UseEmbedded() {
		spec.Retention = kc.Embedded.Retention
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var plain, compacted []string
	for _, n := range names {
		if slices.Contains(compact, n) {
			compacted = append(compacted, n)
		} else {
			plain = append(plain, n)
		}
	}
	for {
		created, err := admin.Ensure(ctx, plain, spec)
		if err == nil {
			cspec := spec
			cspec.Compact = true
			var more []string
			more, err = admin.Ensure(ctx, compacted, cspec)
			created = append(created, more...)
		}
		if err == nil {
			if len(created) > 0 {
				log.Info("created topics", "topics", created, "partitions", spec.Partitions, "compacted", compacted)
			}
			return nil
		}
		log.Warn("creating topics failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("create topics: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// readyChecks are the dependencies /readyz reports.
func readyChecks(admin *topics.Admin, rdb *redis.Client, needed []string) []ingress.Check {
	return []ingress.Check{
		{Name: "kafka", Check: func(ctx context.Context) error {
			missing, err := admin.Missing(ctx, needed)
			if err != nil {
				return fmt.Errorf("unreachable: %w", err)
			}
			if len(missing) > 0 {
				return fmt.Errorf("missing topics: %s", strings.Join(missing, ", "))
			}
			return nil
		}},
		{Name: "redis", Check: func(ctx context.Context) error {
			if err := rdb.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("unreachable: %w", err)
			}
			return nil
		}},
	}
}

// newHub builds the stream hub and its two Kafka clients: one whose
// consumer the hub drives, and one for the catch-up reads of resuming
// subscribers (kept off the consumer's long-polling connections). Both
// are long-lived, so both get metrics and tracing hooks. It returns the
// clients' closers. The hub is built without streams too, so that a
// reload can add the first ones: until then its clients connect to
// nothing and its consumer waits for them.
func newHub(cfg *loaded, seeds []string, log *slog.Logger, klog kafkaLog, tel *telemetry) (*consumers.Hub, []func(), error) {
	live, err := newKafkaClient(cfg.Kafka, seeds, klog, tel.kafkaHooks("streams")...)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka client: %w", err)
	}
	reader, err := newKafkaClient(cfg.Kafka, seeds, klog, tel.kafkaHooks("streams_history")...)
	if err != nil {
		live.Close()
		return nil, nil, fmt.Errorf("kafka client: %w", err)
	}
	hub := consumers.NewHub(cfg.Hub, cfg.Streams, live, reader, consumers.WithLogger(log))
	return hub, []func(){live.Close, reader.Close}, nil
}

// kafkaBreaker is the Kafka breaker's config, its window reaching back by
// produce_timeout: the breaker counts a failure at the time its produce
// started, so a produce that waited out the timeout would otherwise count
// that much earlier, and failures of one client at a time, spaced by
// window/failures, would leave the window as fast as they entered it.
func kafkaBreaker(k topics.Config) topics.BreakerConfig {
	b := k.CircuitBreaker.WithDefaults()
	b.Window += k.ProduceTimeout
	return b
}

// hasAtomicBatch reports whether a route of t takes atomic batches.
func hasAtomicBatch(t *topics.Table) bool {
	for _, r := range t.Routes() {
		if r.Batch != nil && r.Batch.Atomic {
			return true
		}
	}
	return false
}
