package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ferry-gw/ferry/consumers/respond"
	"github.com/ferry-gw/ferry/topics"
)

// echoGroup is the consumer group of the demo responder.
const echoGroup = "ferry-echo"

// respondCmd runs the demo echo responder on the consumers SDK until ctx
// ends: it answers every request of the config's request/response routes
// with the request body.
func respondCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("respond", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		path, brokers, group string
		echo                 bool
		opts                 echoOptions
		topicList            stringList
	)
	fs.StringVar(&path, "c", defaultConfigFile, "config `file`: brokers, and the request topics of routes with a reply section")
	fs.StringVar(&path, "config", defaultConfigFile, "config `file`")
	fs.BoolVar(&echo, "echo", false, "answer each request with its own body (the only mode so far)")
	fs.StringVar(&brokers, "brokers", "", "comma-separated seed `brokers`; default the config's kafka.brokers, or its embedded broker's address")
	fs.Var(&topicList, "topic", "request `topic` to answer (repeatable); default every request topic of the config's reply routes")
	fs.StringVar(&group, "group", echoGroup, "consumer `group`")
	fs.IntVar(&opts.progress, "progress", 0, "send `N` progress replies before the final one")
	fs.DurationVar(&opts.delay, "delay", 0, "wait this `long` before each reply")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: ferry respond --echo [-c FILE] [--brokers HOST:PORT,...] [--topic T]... [--group G] [--progress N] [--delay D]\n\nFlags:\n")
		printFlags(stderr, fs, configAlias)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !echo || fs.NArg() > 0 || opts.progress < 0 || opts.delay < 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return reportConfigError(stderr, err, true)
	}
	seeds := cfg.Kafka.Brokers
	if brokers != "" {
		seeds = strings.Split(brokers, ",")
	} else if cfg.Kafka.UseEmbedded() {
		seeds = []string{cfg.Kafka.Embedded.Listen}
	}
	ts := []string(topicList)
	if len(ts) == 0 {
		ts = requestTopics(cfg.table)
	}
	if len(ts) == 0 {
		return errors.New("respond: no request topics: the config has no route with a reply section; use --topic")
	}
	log := newLogger(cfg.Log, stderr)
	kopts, err := kafkaOpts(cfg.Kafka, seeds, newKafkaLog(cfg.Log, log))
	if err != nil {
		return err
	}
	r, err := respond.New(respond.Config{Topics: ts, Group: group},
		kopts, echoHandler(opts), respond.WithLogger(log))
	if err != nil {
		return err
	}
	log.Info("echo responder running", "brokers", strings.Join(seeds, ","), "topics", ts, "group", group)
	// $FERRY_PPROF_LISTEN profiles the responder as it does ferry serve.
	pctx, stopPprof := context.WithCancel(ctx)
	pprofDone := make(chan struct{})
	go func() {
		defer close(pprofDone)
		if err := servePprof(pctx, log); err != nil {
			log.Warn("pprof stopped", "err", err)
		}
	}()
	defer func() { stopPprof(); <-pprofDone }()
	err = r.Run(ctx)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	log.Info("echo responder stopped")
	return err
}

// echoOptions shape the demo replies.
type echoOptions struct {
	progress int
	delay    time.Duration
}

// echoHandler answers each request with its own body and content type,
// after opts.progress progress replies of {"progress":i,"of":n}.
func echoHandler(opts echoOptions) respond.Handler {
	return func(ctx context.Context, req respond.Request) (respond.Reply, error) {
		for i := 1; i <= opts.progress; i++ {
			if err := pause(ctx, opts.delay); err != nil {
				return respond.Reply{}, err
			}
			body := fmt.Appendf(nil, `{"progress":%d,"of":%d}`, i, opts.progress)
			if err := req.Progress(ctx, respond.Reply{ContentType: "application/json", Body: body}); err != nil {
				return respond.Reply{}, err
			}
		}
		if err := pause(ctx, opts.delay); err != nil {
			return respond.Reply{}, err
		}
		return respond.Reply{ContentType: req.ContentType, Body: req.Value}, nil
	}
}

func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// requestTopics are the topics of routes with a reply section.
func requestTopics(t *topics.Table) []string {
	var out []string
	for _, r := range t.Routes() {
		if r.Reply == nil {
			continue
		}
		for _, t := range r.Topics() {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// replyTopics are the reply topics of routes with a reply section.
func replyTopics(t *topics.Table) []string {
	var out []string
	for _, r := range t.Routes() {
		if r.Reply != nil && !slices.Contains(out, r.Reply.Topic) {
			out = append(out, r.Reply.Topic)
		}
	}
	return out
}
