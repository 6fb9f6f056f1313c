package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// bareApp answers every POST with 202 and a small JSON body: the floor any
// HTTP gateway on Fiber stands on.
func bareApp() *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/*", func(c *fiber.Ctx) error {
		c.Status(fiber.StatusAccepted)
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.SendString(`{"id":"x","topic":"t","partition":0,"offset":0}`)
	})
	return app
}

// kafkaApp is the minimal Fiber handler that produces the body to topic
// with franz-go (acks=all, no linger) and answers 202 with the offset: what
// a gateway costs before any of ferry's features.
func kafkaApp(cl *kgo.Client, topic string) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/*", func(c *fiber.Ctx) error {
		r := &kgo.Record{Topic: topic, Value: append([]byte(nil), c.Body()...)}
		if err := cl.ProduceSync(c.UserContext(), r).FirstErr(); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).SendString(err.Error())
		}
		c.Status(fiber.StatusAccepted)
		return c.SendString(`{"partition":` + strconv.Itoa(int(r.Partition)) + `,"offset":` + strconv.FormatInt(r.Offset, 10) + `}`)
	})
	return app
}

// Spring Kafka's request/reply headers, which ferry's responders read.
const (
	springCorrelationID = "kafka_correlationId"
	springReplyTopic    = "kafka_replyTopic"
)

// replyApp is the minimal Fiber request/reply handler: it produces the
// body to topic with franz-go (acks=all, no linger) and Spring's reply
// headers, as ferry's sync routes do, waits up to 5 s for the reply that
// a responder sends to replyTopic (read by replies, a consumer of it, from
// ctx until ctx ends), and answers 200 with the reply's body. It is what a
// request/reply gateway costs before any of ferry's features: the same
// round trip, answered by the same responder.
func replyApp(ctx context.Context, prod, replies *kgo.Client, topic, replyTopic string) *fiber.App {
	var (
		waiters replyWaiters
		next    atomic.Uint64
	)
	go waiters.consume(ctx, replies, springCorrelationID)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/*", func(c *fiber.Ctx) error {
		id := strconv.FormatUint(next.Add(1), 10)
		ch := waiters.add(id)
		r := &kgo.Record{Topic: topic, Value: append([]byte(nil), c.Body()...), Headers: []kgo.RecordHeader{
			{Key: springCorrelationID, Value: []byte(id)},
			{Key: springReplyTopic, Value: []byte(replyTopic)},
			{Key: "content-type", Value: []byte(fiber.MIMEApplicationJSON)},
		}}
		if err := prod.ProduceSync(c.UserContext(), r).FirstErr(); err != nil {
			waiters.forget(id)
			return c.Status(fiber.StatusServiceUnavailable).SendString(err.Error())
		}
		t := time.NewTimer(5 * time.Second)
		defer t.Stop()
		select {
		case v := <-ch:
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
			return c.Send(v)
		case <-t.C:
			waiters.forget(id)
			return c.SendStatus(fiber.StatusGatewayTimeout)
		}
	})
	return app
}

// pendingApp is the floor under a pending synchronous request: fasthttp
// and Fiber with ferry's server settings (ingress.Config's defaults:
// 16 KB read buffer, read timeout 30 s, idle timeout 120 s, read buffers
// released while waiting), one POST route whose handler waits for one
// timer, as ferry's waiter does, and then answers 202, and GET /healthz.
// What a pending request holds here is fasthttp's RequestCtx, Fiber's Ctx,
// the handler's goroutine and the timer; ferry's own share is what it
// holds beyond that. GET /pending says how many requests wait, as
// ferry_correlator_pending does for ferry.
func pendingApp(hold time.Duration) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ReadBufferSize: 16 << 10, ReadTimeout: 30 * time.Second,
		IdleTimeout: 120 * time.Second, ReduceMemoryUsage: true, DisablePreParseMultipartForm: true})
	var waiting atomic.Int64
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	app.Get("/pending", func(c *fiber.Ctx) error { return c.SendString(strconv.FormatInt(waiting.Load(), 10)) })
	app.Post("/*", func(c *fiber.Ctx) error {
		waiting.Add(1)
		defer waiting.Add(-1)
		t := time.NewTimer(hold)
		<-t.C
		return c.SendStatus(fiber.StatusAccepted)
	})
	return app
}

// serveApp serves app on a free loopback port until ctx ends and returns
// its base URL.
func serveApp(ctx context.Context, app *fiber.App) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listen: %w", err)
	}
	go func() { _ = app.Listener(ln) }()
	go func() { <-ctx.Done(); _ = app.Shutdown() }()
	return "http://" + ln.Addr().String(), nil
}

// baselineCmd serves one baseline until ctx ends, printing its URL first.
func baselineCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka seed brokers, comma-separated (kafka)")
	topic := fs.String("topic", "bench.baseline", "topic to produce to (kafka)")
	hold := fs.Duration("hold", 15*time.Second, "how long each POST waits before its 202 (pending)")
	replyTopic := fs.String("reply-topic", "bench.baseline.replies", "topic the responder answers on (kafka-reply)")
	if len(args) == 0 {
		return errors.New("baseline: want bare, kafka, kafka-reply, sse or pending")
	}
	kind := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var app *fiber.App
	switch kind {
	case "bare":
		app = bareApp()
	case "sse":
		app = broadcasterApp()
	case "pending":
		app = pendingApp(*hold)
	case "kafka":
		cl, err := kgo.NewClient(append(producerOpts(strings.Split(*brokers, ",")...), kgo.AllowAutoTopicCreation())...)
		if err != nil {
			return err
		}
		defer cl.Close()
		if err := ensureTopic(ctx, cl, *topic, 3); err != nil {
			return err
		}
		app = kafkaApp(cl, *topic)
	case "kafka-reply":
		prod, err := kgo.NewClient(producerOpts(strings.Split(*brokers, ",")...)...)
		if err != nil {
			return err
		}
		defer prod.Close()
		for _, t := range []string{*topic, *replyTopic} {
			if err := ensureTopic(ctx, prod, t, 3); err != nil {
				return err
			}
		}
		replies, err := kgo.NewClient(append(producerOpts(strings.Split(*brokers, ",")...),
			kgo.ConsumeTopics(*replyTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))...)
		if err != nil {
			return err
		}
		defer replies.Close()
		app = replyApp(ctx, prod, replies, *topic, *replyTopic)
	default:
		return fmt.Errorf("baseline: unknown kind %q", kind)
	}
	u, err := serveApp(ctx, app)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, u)
	<-ctx.Done()
	return nil
}

// producerOpts are the producer settings of ferry's own clients (acks=all,
// idempotent, no linger, no compression), for every baseline and floor
// that produces: a ratio compares the gateway, not two producer configs.
func producerOpts(brokers ...string) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression())}
}

// ensureTopic creates topic if it does not exist.
func ensureTopic(ctx context.Context, cl *kgo.Client, topic string, partitions int32) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// kadm returns the topic's own error as well: an existing topic is
	// no error.
	_, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}
