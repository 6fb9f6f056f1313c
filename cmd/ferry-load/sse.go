package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gofiber/fiber/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// eventSize is the size of every fan-out event's JSON.
const eventSize = 256

// stampedEvent is a 256-byte JSON event carrying its send time in ns.
func stampedEvent(dst []byte, sent time.Time) []byte {
	dst = append(dst[:0], `{"t":`...)
	dst = strconv.AppendInt(dst, sent.UnixNano(), 10)
	dst = append(dst, `,"pad":"`...)
	for len(dst) < eventSize-2 {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}

// eventTime reads the send time out of a stamped event.
func eventTime(data []byte) (int64, bool) {
	i := bytes.Index(data, []byte(`"t":`))
	if i < 0 {
		return 0, false
	}
	data = data[i+4:]
	j := bytes.IndexByte(data, ',')
	if j < 0 {
		return 0, false
	}
	ns, err := strconv.ParseInt(string(data[:j]), 10, 64)
	return ns, err == nil
}

// dialSSE opens one SSE stream over its own connection and returns the
// connection and the (de-chunked) body, after the response headers.
func dialSSE(ctx context.Context, addr, path string) (net.Conn, io.Reader, error) {
	return dialSSEWith(ctx, &net.Dialer{}, addr, path)
}

// dialSSEWith is dialSSE through d (its source address).
func dialSSEWith(ctx context.Context, d *net.Dialer, addr, path string) (net.Conn, io.Reader, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", path, addr); err != nil {
		c.Close()
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 2048), nil)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, nil, fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return c, resp.Body, nil
}

// fanoutRun collects the deliveries of one run.
type fanoutRun struct {
	start    int64 // events sent before it belong to no run
	mu       sync.Mutex
	hist     *hdrhistogram.Histogram
	received atomic.Int64
}

// subscribers are N SSE clients recording send → receipt latency of every
// stamped event into the current run.
type subscribers struct {
	cur        atomic.Pointer[fanoutRun]
	events     atomic.Int64  // every event received, in a run or not
	seen       []atomic.Bool // has had an event (warm-up)
	reconnects atomic.Int64
	wg         sync.WaitGroup
	cancel     context.CancelFunc
}

func startSubscribers(ctx context.Context, n int, addr, path string) *subscribers {
	ctx, cancel := context.WithCancel(ctx)
	s := &subscribers{seen: make([]atomic.Bool, n), cancel: cancel}
	for i := range n {
		s.wg.Go(func() { s.subscribe(ctx, i, addr, path) })
	}
	return s
}

// subscribe reads one stream until ctx ends, reconnecting when it drops.
func (s *subscribers) subscribe(ctx context.Context, i int, addr, path string) {
	for ctx.Err() == nil {
		c, body, err := dialSSE(ctx, addr, path)
		if err == nil {
			stop := context.AfterFunc(ctx, func() { c.Close() })
			s.read(i, body)
			stop()
			c.Close()
		}
		if ctx.Err() != nil {
			return
		}
		s.reconnects.Add(1)
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *subscribers) read(i int, body io.Reader) {
	br := bufio.NewReaderSize(body, 4096)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
		data, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			continue
		}
		sent, ok := eventTime(data)
		if !ok {
			continue
		}
		lat := time.Now().UnixNano() - sent
		s.seen[i].Store(true)
		s.events.Add(1)
		if r := s.cur.Load(); r != nil && sent >= r.start {
			r.mu.Lock()
			_ = r.hist.RecordValue(max(1, min(lat/1000, maxLatencyUS)))
			r.mu.Unlock()
			r.received.Add(1)
		}
	}
}

// warm emits until every subscriber has had an event.
func (s *subscribers) warm(ctx context.Context, emit func(rate float64, n int) error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		all := true
		for i := range s.seen {
			all = all && s.seen[i].Load()
		}
		if all {
			return nil
		}
		if err := emit(10, 1); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("subscribers did not all receive an event in time")
}

// run emits rate events/s for d and measures every delivery to the n
// subscribers: the Result's rate and achieved rate are deliveries/s.
func (s *subscribers) run(ctx context.Context, rate float64, d time.Duration, emit func(rate float64, n int) error) Result {
	s.quiet(ctx)
	n := len(s.seen)
	count := int(rate * d.Seconds())
	r := &fanoutRun{start: time.Now().UnixNano(), hist: hdrhistogram.New(1, maxLatencyUS, 3)}
	s.cur.Store(r)
	reconnects := s.reconnects.Load()
	res := Result{Plan: Plan{Rate: rate * float64(n), Duration: d}, Failed: map[string]int64{}, Hist: r.hist}
	if err := emit(rate, count); err != nil {
		res.Failed["emit error"]++
	}
	want := int64(count * n)
	// Deliveries may trail the last event by up to the p99 bound and
	// then some; after that they count as missing.
	deadline := time.Now().Add(d + 2*time.Second)
	for r.received.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	s.cur.Store(nil)
	r.mu.Lock()
	defer r.mu.Unlock()
	res.OK = r.received.Load()
	res.Elapsed = time.Duration(time.Now().UnixNano() - r.start)
	res.Achieved = float64(res.OK) / d.Seconds()
	if miss := want - res.OK; miss > 0 {
		res.Failed["missing"] = miss
	}
	if rc := s.reconnects.Load() - reconnects; rc > 0 {
		res.Failed["reconnect"] = rc
	}
	return res
}

// quiet waits until no event has arrived for a quarter of a second (at
// most 15 s): after an overloaded run the server still delivers its
// backlog, which would load the next run's machine.
func (s *subscribers) quiet(ctx context.Context) {
	deadline := time.Now().Add(15 * time.Second)
	for last := int64(-1); time.Now().Before(deadline) && ctx.Err() == nil; {
		n := s.events.Load()
		if n == last {
			return
		}
		last = n
		time.Sleep(250 * time.Millisecond)
	}
}

func (s *subscribers) close() {
	s.cancel()
	s.wg.Wait()
}

// kafkaEmitter produces stamped events to topic at rate, open loop, and
// returns when the last one is acknowledged.
func kafkaEmitter(cl *kgo.Client, topic string) func(rate float64, n int) error {
	return func(rate float64, n int) error {
		var wg sync.WaitGroup
		var failed atomic.Int64
		interval := time.Duration(float64(time.Second) / rate)
		start := time.Now()
		for i := range n {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: stampedEvent(nil, time.Now())}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
				}
				wg.Done()
			})
		}
		wg.Wait()
		if f := failed.Load(); f > 0 {
			return fmt.Errorf("%d produces failed", f)
		}
		return nil
	}
}

// httpEmitter asks the broadcaster baseline to emit n events at rate and
// waits as long as that takes.
func httpEmitter(base string) func(rate float64, n int) error {
	return func(rate float64, n int) error {
		resp, err := http.Post(fmt.Sprintf("%s/emit?rate=%g&n=%d", base, rate, n), "", nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("emit: status %d", resp.StatusCode)
		}
		time.Sleep(time.Duration(float64(n) / rate * float64(time.Second)))
		return nil
	}
}

// broadcasterApp is the SSE fan-out floor: one Fiber handler per
// subscriber, each fed by a buffered channel, and a broadcaster that
// copies every event into every channel (dropping for a full one). No
// Kafka, no resume, no filters. POST /emit?rate=R&n=N makes it emit N
// stamped events at R/s.
func broadcasterApp() *fiber.App {
	var (
		mu   sync.Mutex
		subs = make(map[chan []byte]struct{})
	)
	broadcast := func(msg []byte) {
		mu.Lock()
		for ch := range subs {
			select {
			case ch <- msg:
			default:
			}
		}
		mu.Unlock()
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/events", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "text/event-stream")
		c.Set(fiber.HeaderCacheControl, "no-cache")
		ch := make(chan []byte, 4096)
		mu.Lock()
		subs[ch] = struct{}{}
		mu.Unlock()
		c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
			defer func() { mu.Lock(); delete(subs, ch); mu.Unlock() }()
			_, _ = w.WriteString("retry: 2000\n\n")
			if w.Flush() != nil {
				return
			}
			heartbeat := time.NewTicker(15 * time.Second)
			defer heartbeat.Stop()
			for {
				select {
				case msg := <-ch:
					_, _ = w.Write(msg)
				drain:
					for {
						select {
						case msg := <-ch:
							_, _ = w.Write(msg)
						default:
							break drain
						}
					}
				case <-heartbeat.C:
					_, _ = w.WriteString(": ping\n\n")
				}
				if w.Flush() != nil {
					return
				}
			}
		})
		return nil
	})
	app.Post("/emit", func(c *fiber.Ctx) error {
		rate, _ := strconv.ParseFloat(c.Query("rate"), 64)
		n, _ := strconv.Atoi(c.Query("n"))
		if rate <= 0 || n <= 0 {
			return c.SendStatus(fiber.StatusBadRequest)
		}
		go func() {
			interval := time.Duration(float64(time.Second) / rate)
			start := time.Now()
			for i := range n {
				if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
					time.Sleep(d)
				}
				msg := append([]byte("data: "), stampedEvent(make([]byte, 0, eventSize), time.Now())...)
				broadcast(append(msg, "\n\n"...))
			}
		}()
		return c.SendStatus(fiber.StatusAccepted)
	})
	return app
}

// sseScenarios measures fan-out through ferry's stream against the
// broadcaster baseline: N subscribers each, events at a swept rate, the
// highest deliveries/s with p99 send → receipt under 50 ms.
func (e *benchEnv) sseScenarios(ctx context.Context) ([]row, []string, error) {
	// Start rates are events/s: 200,000 and 40,000 deliveries/s.
	n, start := 500, 400.0
	if e.quick {
		n, start = 100, 400
	}
	const p99 = 50 * time.Millisecond
	bcast, err := startBaseline(ctx, "sse")
	if err != nil {
		return nil, nil, err
	}
	defer bcast.stopProcess()
	cl, err := kgo.NewClient(producerOpts(e.brokers)...)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()

	type side struct {
		name string
		srv  *server
		path string
		emit func(float64, int) error
		subs *subscribers
	}
	sides := []*side{
		{name: "ferry", srv: e.ferry, path: "/v1/streams/bench-events", emit: kafkaEmitter(cl, "bench.events")},
		{name: "broadcaster", srv: bcast, path: "/events", emit: httpEmitter(bcast.url)},
	}
	// Both sides' subscribers stay connected over all rounds; a side's
	// are idle while the other side runs.
	var names []string
	var sweeps []sweepSide
	for _, sd := range sides {
		u, _ := url.Parse(sd.srv.url)
		sd.subs = startSubscribers(ctx, n, u.Host, sd.path)
		defer sd.subs.close()
		if err := sd.subs.warm(ctx, sd.emit); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", sd.name, err)
		}
		names = append(names, sd.name)
		sweeps = append(sweeps, sweepSide{run: func(rate float64) Result { return sd.subs.run(ctx, rate/float64(n), e.step, sd.emit) }})
	}
	// The sweeps' rates are deliveries/s.
	rounds := e.jointRounds(ctx, fmt.Sprintf("SSE fan-out to %d subscribers", n), start*float64(n), p99, names, sweeps)
	ratio := ratios(rounds, 0, 1)
	rows := []row{{fmt.Sprintf("SSE fan-out, %d subscribers, 256 B events", n), "minimal broadcaster (Fiber, channels), no Kafka", "≥ 0.70x deliveries/s at p99 < 50 ms",
		fmt.Sprintf("%s; max %s vs %s deliveries", ratio.format("%.2f", "x"), maxes(rounds, 0).brief("%.0f", "/s"), maxes(rounds, 1).brief("%.0f", "/s")), judge(ratio, 0.70, false)}}
	details := []string{fmt.Sprintf("SSE fan-out to %d subscribers, max deliveries/s at p99 < 50 ms send → receipt, swept in lockstep (rate = deliveries/s):", n),
		"  " + jointSummary(rounds, names, p99)}
	details = append(details, roundLines(rounds, names)...)
	return rows, details, nil
}
