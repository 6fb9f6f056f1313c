package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/topics"
)

// serveCmd runs the gateway until ctx ends (SIGINT/SIGTERM).
func serveCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var path string
	fs.StringVar(&path, "c", "ferry.yaml", "config `file`")
	fs.StringVar(&path, "config", "ferry.yaml", "config `file` (same as -c)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ferry serve: unexpected argument %q (use -c FILE)\n", fs.Arg(0))
		return errUsage
	}
	cfg, err := loadConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s", formatErrors(err))
		return errInvalidConfig
	}
	return serve(ctx, cfg, newLogger(cfg.Log, stderr))
}

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
// delay, in-flight requests finish, the producer flushes, and the Kafka
// client, Redis and the embedded brokers close last.
func serve(ctx context.Context, cfg *loaded, log *slog.Logger) (err error) {
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()

	seeds := cfg.Kafka.Brokers
	if cfg.Kafka.UseEmbedded() {
		kc, addrs, err := startKafka(cfg.Kafka, log)
		if err != nil {
			return err
		}
		closers = append(closers, func() { kc.Close(); log.Info("embedded kafka stopped") })
		seeds = addrs
		log.Info("embedded kafka listening", "addr", strings.Join(addrs, ","), "data_dir", cfg.Kafka.Embedded.DataDir)
	}

	redisURL := cfg.Redis.URL
	if redisURL == "" {
		mr, err := startRedis()
		if err != nil {
			return err
		}
		closers = append(closers, mr.Close)
		redisURL = "redis://" + mr.Addr()
		log.Info("embedded redis listening", "addr", mr.Addr())
	}
	ropts, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("redis.url: %w", err)
	}
	rdb := redis.NewClient(ropts)
	closers = append(closers, func() { _ = rdb.Close() })

	cl, err := kgo.NewClient(kafkaOpts(cfg.Kafka, seeds, log)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	closers = append(closers, cl.Close)

	admin := topics.NewAdmin(cl)
	needed := neededTopics(cfg)
	if *cfg.Kafka.CreateTopics {
		if err := ensureTopics(ctx, admin, cfg.Kafka, needed, log); err != nil {
			return err
		}
	}

	producer := topics.NewProducer(cl, cfg.Kafka.ProduceTimeout)
	// Replays read with short-lived clients of their own, built from the
	// same options as cl.
	replayer := consumers.NewReplayer(cfg.Replay, admin, replayKafkaOpts(cfg.Kafka, seeds, log), consumers.WithLogger(log))
	srv, err := ingress.New(cfg.Server, cfg.table, ingress.Deps{
		Producer:     producer,
		Validator:    cfg.schemas,
		Checks:       readyChecks(admin, rdb, needed),
		Replayer:     replayer,
		Topics:       replayer,
		ReplayScopes: cfg.Replay.Scopes,
	}, ingress.WithLogger(log))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("ferry listening", "addr", ln.Addr().String(), "version", version)
	for _, r := range cfg.table.Routes() {
		log.Info("route", "route", r.Name, "method", r.Method, "path", r.Path, "topic", r.Topic, "auth", r.Auth)
	}
	if len(cfg.Streams) > 0 {
		log.Warn("streams are configured but not served by this version")
	}
	if len(cfg.Replay.Topics) > 0 {
		log.Info("replay", "topics", cfg.Replay.Topics, "scopes", cfg.Replay.Scopes,
			"max_concurrent", cfg.Replay.MaxConcurrent, "max_records", cfg.Replay.MaxRecords)
		if !cfg.Auth.Configured() {
			log.Warn("replay is configured but auth has no jwt or api_keys: every replay request gets 401")
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(ln) })
	srv.SetReady(true)
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down", "shutdown_delay", cfg.Server.ShutdownDelay.String(), "grace_period", cfg.Server.GracePeriod.String())
		srv.SetReady(false)
		if ctx.Err() != nil && cfg.Server.ShutdownDelay > 0 {
			time.Sleep(cfg.Server.ShutdownDelay) // let load balancers see /readyz fail
		}
		_ = replayer.Close() // followed replays end now; bounded ones finish within the grace period
		grace, cancel := context.WithTimeout(context.Background(), cfg.Server.GracePeriod)
		defer cancel()
		var errs []error
		if err := srv.Shutdown(grace); err != nil {
			errs = append(errs, err)
		}
		if err := replayer.Wait(grace); err != nil {
			errs = append(errs, err)
		}
		if err := producer.Flush(grace); err != nil {
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
		add(r.Topic)
		if r.Reply != nil {
			add(r.Reply.Topic)
		}
	}
	for _, s := range cfg.Streams {
		add(s.Topic)
	}
	return out
}

// ensureTopics creates missing topics, retrying while the cluster is still
// coming up, for at most 30s.
func ensureTopics(ctx context.Context, admin *topics.Admin, kc topics.Config, names []string, log *slog.Logger) error {
	spec := topics.TopicSpec{Partitions: kc.Partitions, ReplicationFactor: kc.ReplicationFactor}
	if kc.UseEmbedded() {
		spec.Retention = kc.Embedded.Retention
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		created, err := admin.Ensure(ctx, names, spec)
		if err == nil {
			if len(created) > 0 {
				log.Info("created topics", "topics", created, "partitions", spec.Partitions)
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
