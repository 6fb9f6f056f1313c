package stream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/ferry-gw/ferry/consumers"
)

// BodyConfig is what a stream's Body needs besides its subscription.
type BodyConfig struct {
	// Conn is the client's connection: its write deadline is moved on as
	// the stream goes, and it is peeked at each heartbeat. Nil skips both.
	Conn net.Conn
	// Heartbeat is how often an idle stream sends a comment; Retry is the
	// reconnection delay sent to clients (server.sse).
	Heartbeat, Retry time.Duration
	// Envelope sends each record as its JSON envelope (?envelope=true).
	Envelope bool
	// Expires ends the stream with token_expired; zero for never.
	Expires time.Time
	// Watch, when set, calls gone once if the client hangs up, until the
	// stop it returns is called (ingress/hangup): the stream then ends at
	// once instead of at the next heartbeat.
	Watch func(gone func()) (stop func())
	// Log gets the stream's end at debug level; Metrics its counts.
	Log     *slog.Logger
	Metrics Observer
	// RequestID and Stream (the configured name, a fixed metric label)
	// name the stream in logs and metrics.
	RequestID, Stream string
}

// NewBody returns the body of a stream response reading sub. The caller
// counts the subscriber (Metrics.SSESubscribers +1) before handing the
// Body to the server, which must Close it.
func NewBody(sub *consumers.Subscription, cfg BodyConfig) *Body {
	b := &Body{
		sub: sub, conn: cfg.Conn, heartbeat: cfg.Heartbeat, retry: cfg.Retry,
		envelope: cfg.Envelope, expires: cfg.Expires,
		log: cfg.Log, metrics: cfg.Metrics, requestID: cfg.RequestID, stream: cfg.Stream,
	}
	if cfg.Watch != nil {
		b.gone = make(chan struct{})
		b.unwatch = cfg.Watch(func() { close(b.gone) })
	}
	return b
}

// Body is the body of a stream response: fasthttp's connection
// goroutine reads it and writes each Read as one chunk, flushed at once.
// Read blocks until there is something to send (events, a heartbeat, the
// final event) and then renders it as Server-Sent Events. fasthttp calls
// Close when the response ends, whether the stream ended or a write to
// the client failed (fasthttp cancels nothing when a client disconnects,
// so a failed write, or the peek at each heartbeat, is how a departed
// client is noticed); Close frees the subscription.
//
// This is fasthttp's SetBodyStreamWriter without its extra goroutine, pipe
// and 4 KiB buffer per stream, which an idle subscriber cannot afford
// within its memory budget.
type Body struct {
	sub       *consumers.Subscription
	conn      net.Conn
	heartbeat time.Duration
	retry     time.Duration
	envelope  bool
	expires   time.Time
	log       *slog.Logger
	metrics   Observer
	requestID string
	stream    string // the configured name: a fixed metric label

	started bool
	ended   bool   // the final event is queued: EOF once out is drained
	reason  string // why the stream ended, for the log
	out     []byte // rendered frames not yet read by fasthttp
	off     int    // how much of out was read
	lastID  string // the id the client holds
	hb      *time.Ticker
	expiry  *time.Timer
	ds      []consumers.Delivery // fetched, rendered up to di
	di      int
	scratch []byte // envelope bodies
	closed  bool
	gone    chan struct{} // closed when the client hangs up (Watch)
	unwatch func()
}

// maxOutBuffer bounds what a stream keeps allocated between events.
const maxOutBuffer = 32 << 10

// errClientGone ends the response when the peek finds the client gone.
var errClientGone = errors.New("client gone")

// Read hands fasthttp the next frames, waiting for them if need be.
func (b *Body) Read(p []byte) (int, error) {
	for b.off == len(b.out) {
		if b.ended {
			return 0, io.EOF
		}
		b.out, b.off = b.out[:0], 0
		if cap(b.out) > maxOutBuffer {
			b.out = nil
		}
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.out[b.off:])
	b.off += n
	if b.conn != nil {
		// fasthttp writes streams without a deadline; a client that takes
		// nothing for this long is stuck, not slow, and is dropped.
		_ = b.conn.SetWriteDeadline(time.Now().Add(max(stuckAfter, 2*b.heartbeat)))
	}
	return n, nil
}

// stuckAfter is how long a client may accept no bytes of its stream.
const stuckAfter = 30 * time.Second

// fill renders into out what comes next: the preamble, deliveries, a
// heartbeat, or the final event. It blocks while there is nothing.
func (b *Body) fill() error {
	if !b.started {
		b.started = true
		b.lastID = b.sub.Position()
		b.hb = time.NewTicker(b.heartbeat)
		if !b.expires.IsZero() {
			b.expiry = time.NewTimer(time.Until(b.expires))
		}
		b.out = appendPreamble(b.out, b.retry, b.lastID)
		if note := b.sub.Note(); note != "" {
			b.out = append(append(append(b.out, ": "...), note...), "\n\n"...)
		}
		return nil
	}
	var expired <-chan time.Time
	if b.expiry != nil {
		expired = b.expiry.C
	}
	for {
		if b.di < len(b.ds) {
			// Render fetched deliveries, about maxOutBuffer at a time, so
			// that large records do not pile up here.
			from := b.di
			for b.di < len(b.ds) && len(b.out) < maxOutBuffer {
				b.out = b.appendDelivery(b.out, &b.ds[b.di])
				b.lastID = b.ds[b.di].ID
				b.ds[b.di] = consumers.Delivery{}
				b.di++
			}
			b.metrics.SSEEventsSent(b.stream, b.di-from)
			if b.di == len(b.ds) {
				b.ds, b.di = b.ds[:0], 0
			}
			select { // a busy stream still ends on time
			case <-expired:
				b.end(endTokenExpired, "the credentials expired")
			default:
			}
			return nil
		}
		ds, err := b.sub.Fetch(context.Background(), b.ds[:0])
		b.ds = ds
		if len(ds) > 0 {
			continue
		}
		switch {
		case errors.Is(err, consumers.ErrSlowConsumer):
			b.metrics.SSESlowConsumerClosed(b.stream)
			b.end(endSlowConsumer, "the client fell too far behind the stream; reconnect with Last-Event-ID to resume")
			return nil
		case errors.Is(err, consumers.ErrStreamRemoved):
			b.end(endRemoved, "the stream was removed from the configuration, or now reads another topic")
			return nil
		case err != nil:
			b.end(endShutdown, "the server is shutting down; reconnect with Last-Event-ID to resume")
			return nil
		}
		select {
		case <-b.sub.Wait():
		case <-b.hb.C:
			if !clientAlive(b.conn) {
				b.reason = "client gone"
				return errClientGone
			}
			id := b.sub.Position()
			if id == b.lastID {
				id = ""
			} else {
				b.lastID = id
			}
			b.out = appendHeartbeat(b.out, id)
			return nil
		case <-expired:
			b.end(endTokenExpired, "the credentials expired")
			return nil
		case <-b.gone:
			b.reason = "client gone"
			return errClientGone
		case <-b.sub.Done():
			// Fetch reports ErrClosed on the next turn.
		}
	}
}

// end queues the final event.
func (b *Body) end(reason, detail string) {
	b.ended, b.reason = true, reason
	b.out = appendEnd(b.out, reason, detail)
	if reason == endShutdown {
		// A last comment, and a retry hint so that an EventSource comes
		// back soon, to another instance, with its Last-Event-ID.
		b.out = append(b.out, ": this instance is shutting down; reconnect with Last-Event-ID\nretry: "...)
		b.out = strconv.AppendInt(b.out, shutdownRetry.Milliseconds(), 10)
		b.out = append(b.out, "\n\n"...)
	}
}

// shutdownRetry is the reconnect delay a stream ended by a shutdown
// suggests: short, since another instance is there to serve it.
const shutdownRetry = time.Second

// Close frees the subscription; fasthttp calls it when the response ends.
func (b *Body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.unwatch != nil {
		b.unwatch()
	}
	if b.hb != nil {
		b.hb.Stop()
	}
	if b.expiry != nil {
		b.expiry.Stop()
	}
	b.sub.Close()
	b.metrics.SSESubscribers(b.stream, -1)
	reason := b.reason
	if reason == "" {
		reason = "client gone"
	}
	b.log.LogAttrs(context.Background(), slog.LevelDebug, "stream ended",
		slog.String("request_id", b.requestID), slog.String("route", "stream:"+b.stream), slog.String("reason", reason))
	b.out, b.ds, b.scratch = nil, nil, nil
	return nil
}

// appendDelivery appends one event: the record's value, or its envelope.
func (b *Body) appendDelivery(dst []byte, d *consumers.Delivery) []byte {
	name := eventName(d.Type())
	if !b.envelope {
		return AppendEvent(dst, d.ID, name, d.Value)
	}
	b.scratch = appendEnvelope(b.scratch[:0], d)
	dst = AppendEvent(dst, d.ID, name, b.scratch)
	if cap(b.scratch) > maxOutBuffer {
		b.scratch = nil // do not keep a large record's buffer for the stream's life
	}
	return dst
}

// clientAlive peeks at the connection for at most a millisecond. A client
// that closed its side is seen at once (EOF), which a write would only
// reveal one write later; a client sending anything in the middle of a
// stream is not speaking HTTP/1.1 correctly and is dropped too.
func clientAlive(conn net.Conn) bool {
	if conn == nil {
		return true
	}
	if err := conn.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		return false
	}
	var b [1]byte
	n, err := conn.Read(b[:])
	_ = conn.SetReadDeadline(time.Time{})
	if n > 0 {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
