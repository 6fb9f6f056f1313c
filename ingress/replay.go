package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

// replayFormat is how a replay's records are framed.
type replayFormat int

const (
	formatNDJSON replayFormat = iota // one JSON record per line (the default)
	formatJSON                       // one JSON array
	formatSSE                        // text/event-stream, one event per record
)

// Response headers of GET /v1/replay.
const (
	// headerRecordsInRange is how many offsets the range spans: an upper
	// bound of the records a bounded replay reads (absent when following).
	headerRecordsInRange = "Ferry-Records-In-Range"
	// headerReplayLimit is the most records the replay sends: a client that
	// got exactly this many knows the output may be cut short.
	headerReplayLimit = "Ferry-Replay-Limit"
	mimeNDJSON        = "application/x-ndjson"
	mimeEventStream   = "text/event-stream"
)

// replay serves GET /v1/replay/{topic}: the topic's records between two
// positions, streamed as NDJSON, a JSON array or SSE as they are read.
func (s *Server) replay(c *fiber.Ctx) error {
	info(c).route = "replay"
	if err := s.authorize(c, s.replayAccess()); err != nil {
		return err
	}
	req, format, err := replayRequest(c)
	if err != nil {
		return err
	}
	rp, err := s.deps.Replayer.Open(c.UserContext(), req)
	if err != nil {
		return err
	}
	switch format {
	case formatJSON:
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	case formatSSE:
		c.Set(fiber.HeaderContentType, mimeEventStream)
		c.Set("X-Accel-Buffering", "no") // proxies must not hold events back
	default:
		c.Set(fiber.HeaderContentType, mimeNDJSON)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if n := rp.InRange(); n >= 0 {
		c.Set(headerRecordsInRange, strconv.FormatInt(n, 10))
	}
	c.Set(headerReplayLimit, strconv.FormatInt(rp.Limit(), 10))
	// The records go straight to the connection, in large chunks: fasthttp's
	// body stream copies through a pipe in 4 KiB chunks, flushed one by
	// one, which more than halves the replay's throughput. So the answer
	// is written here in full (chunked, then the connection closes), after
	// the handler returns.
	c.Response().Header.SetContentLength(-1) // Transfer-Encoding: chunked
	c.Response().Header.SetConnectionClose()
	if c.Method() == fiber.MethodHead {
		return rp.Close()
	}
	head := bytes.Clone(c.Response().Header.Header())
	id := info(c).id // the writer must not touch c: copy what it needs
	c.Context().HijackSetNoResponse(true)
	c.Context().Hijack(func(conn net.Conn) { s.writeReplay(conn, head, rp, format, id) })
	return nil
}

// replayRequest copies the replay's parameters out of the request: Fiber's
// values are only valid inside the handler.
func replayRequest(c *fiber.Ctx) (consumers.ReplayRequest, replayFormat, error) {
	var req consumers.ReplayRequest
	req.Topic = strings.Clone(c.Params("topic"))
	format := formatNDJSON
	switch f := c.Query("format"); f {
	case "":
		if strings.Contains(c.Get(fiber.HeaderAccept), mimeEventStream) {
			format = formatSSE
		}
	case "ndjson":
	case "json":
		format = formatJSON
	case "sse":
		format = formatSSE
	default:
		return req, 0, problem.New(problem.BadRequest, "format must be ndjson, json or sse, not "+strconv.Quote(f))
	}
	args := c.Context().QueryArgs()
	from, to := c.Query("from"), c.Query("to")
	if id := c.Get("Last-Event-ID"); format == formatSSE && id != "" {
		// An EventSource reconnecting: resume after its last event, whose
		// id is the replay's cursor.
		p, err := consumers.ParsePosition(id)
		if err != nil || p.Kind != consumers.PositionOffsets {
			return req, 0, problem.New(problem.BadPosition, "Last-Event-ID must be an event id of this replay (PARTITION:OFFSET,...)")
		}
		from = id
	}
	r, err := consumers.ParseRange(from, to)
	if err != nil {
		return req, 0, err
	}
	req.Range = r
	for _, v := range args.PeekMulti("partition") {
		for _, f := range strings.Split(string(v), ",") {
			p, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
			if err != nil || p < 0 {
				return req, 0, problem.New(problem.BadPosition, "partition must be a partition number (or a list: 0,2), not "+strconv.Quote(f))
			}
			req.Partitions = append(req.Partitions, int32(p))
		}
	}
	if args.Has("key") {
		req.Match.Key, req.Match.HasKey = []byte(c.Query("key")), true
	}
	args.VisitAll(func(k, v []byte) {
		if name, ok := strings.CutPrefix(string(k), "header."); ok && name != "" {
			req.Match.Headers = append(req.Match.Headers, topics.Header{Key: name, Value: []byte(string(v))})
		}
	})
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 {
			return req, 0, problem.New(problem.BadRequest, "limit must be a positive number, not "+strconv.Quote(l))
		}
		req.Limit = n
	}
	switch f := c.Query("follow"); f {
	case "", "false", "0":
	case "true", "1":
		if format != formatSSE {
			return req, 0, problem.New(problem.BadRequest, "follow=true streams Server-Sent Events: send Accept: text/event-stream (or format=sse)")
		}
		if to != "" {
			return req, 0, problem.New(problem.BadRequest, "follow=true has no end: drop to")
		}
		req.Follow = true
	default:
		return req, 0, problem.New(problem.BadRequest, "follow must be true or false, not "+strconv.Quote(f))
	}
	return req, format, nil
}

// Limits of the replay writer.
const (
	// replayChunk is the size at which a chunk of records is sent without
	// waiting for the end of the fetch. Each chunk is one write: over
	// loopback, 128 KiB chunks cost ferry about 15% less CPU per record
	// than 32 KiB ones (fewer syscalls and reader wake-ups); larger ones
	// gained nothing measurable. A replay holds two buffers of twice this.
	replayChunk = 128 << 10
	// replayWriteTimeout bounds one write to the client: a client that
	// reads nothing for this long (gone without a FIN, or stuck) ends its
	// replay and frees the slot. A pager paused longer loses the stream.
	replayWriteTimeout = 5 * time.Minute
)

// writeReplay writes the response, head then the replay's records in the
// chunked body, to the hijacked connection until the replay ends, the
// client goes away (a write fails) or an error occurs, which is sent
// in-band since the status line is out. It owns rp and closes it. It runs
// in fasthttp's goroutine for hijacked connections, after the handler
// returned: it must not touch the *fiber.Ctx.
func (s *Server) writeReplay(conn net.Conn, head []byte, rp *consumers.Replay, format replayFormat, requestID string) {
	defer rp.Close()
	s.metrics.ReplayActive(1)
	defer func() {
		s.metrics.ReplayActive(-1)
		s.metrics.ReplayRecordsStreamed(int(rp.Delivered()))
	}()
	cw := newChunkWriter(conn)
	if cw.write(head) != nil {
		return
	}
	cw.start()
	defer cw.stop()
	if format == formatJSON {
		cw.buf = append(cw.buf, '[')
	}
	// An SSE replay sends a comment each heartbeat while it waits, so that
	// a client that left is noticed (the write fails) even on a quiet topic.
	hb := heartbeat{ctx: context.Background()}
	if format == formatSSE {
		hb.renew(s.replayHeartbeat)
	}
	defer hb.stop()
	for {
		rec, err := rp.Next(hb.ctx)
		switch {
		case err == nil:
			cw.buf = appendFrame(cw.buf, rp, rec, format)
			if (len(cw.buf) >= replayChunk || !rp.Pending()) && cw.flush() != nil {
				return // the client went away
			}
		case format == formatSSE && errors.Is(err, context.DeadlineExceeded):
			cw.buf = append(cw.buf, ": ping\n\n"...)
			if cw.flush() != nil {
				return
			}
			hb.renew(s.replayHeartbeat)
		case errors.Is(err, io.EOF):
			cw.buf = appendReplayEnd(cw.buf, rp, format)
			_ = cw.end()
			return
		default:
			pe := toProblem(err)
			level := slog.LevelWarn
			if pe.Type.Status >= 500 {
				level = slog.LevelError
			}
			s.log.LogAttrs(context.Background(), level, "replay failed", slog.String("request_id", requestID),
				slog.String("topic", rp.Topic()), slog.Int64("delivered", rp.Delivered()), slog.Any("err", err))
			cw.buf = appendError(cw.buf, rp, format, pe, requestID)
			_ = cw.end()
			return
		}
	}
}

// chunkHeaderLen is the room kept at the front of a chunk for its size:
// eight hex digits (leading zeros are allowed) and CRLF.
const chunkHeaderLen = 10

// chunkWriter writes an HTTP/1.1 chunked body to a connection, one write
// per chunk. Once started, a goroutine it owns does the writes while the
// caller fills the next buffer, so that encoding and the write syscalls
// overlap (two buffers take turns). Not safe for concurrent use; the
// caller must call stop (end does) before it returns.
type chunkWriter struct {
	conn net.Conn
	buf  []byte // chunkHeaderLen bytes of room, then the chunk's data

	full chan []byte // buffers to write, in order; nil before start
	free chan []byte // buffers written, back for reuse
	done chan struct{}
	err  atomic.Pointer[error] // the writer's first error
}

func newChunkWriter(conn net.Conn) *chunkWriter {
	return &chunkWriter{conn: conn, buf: make([]byte, chunkHeaderLen, 2*replayChunk)}
}

// write sends p as it is, with the write deadline.
func (cw *chunkWriter) write(p []byte) error {
	if err := cw.conn.SetWriteDeadline(time.Now().Add(replayWriteTimeout)); err != nil {
		return err
	}
	_, err := cw.conn.Write(p)
	return err
}

// start hands the writes to the writer goroutine.
func (cw *chunkWriter) start() {
	cw.full, cw.free, cw.done = make(chan []byte, 1), make(chan []byte, 1), make(chan struct{})
	cw.free <- make([]byte, chunkHeaderLen, 2*replayChunk)
	go func() {
		defer close(cw.done)
		for b := range cw.full {
			if cw.err.Load() == nil {
				if err := cw.write(b); err != nil {
					e := err // only a failed write puts its error on the heap
					cw.err.Store(&e)
				}
			}
			cw.free <- b[:chunkHeaderLen]
		}
	}()
}

// stop waits for the writer goroutine to finish its writes and return.
func (cw *chunkWriter) stop() {
	if cw.full == nil {
		return
	}
	close(cw.full)
	<-cw.done
	cw.full = nil
}

// failed returns the writer's first error.
func (cw *chunkWriter) failed() error {
	if e := cw.err.Load(); e != nil {
		return *e
	}
	return nil
}

// flush sends the data gathered in buf as one chunk, and reports a write
// that failed (this one, when not started, or an earlier one).
func (cw *chunkWriter) flush() error {
	n := len(cw.buf) - chunkHeaderLen
	if n == 0 {
		return cw.failed()
	}
	for i := 7; i >= 0; i-- {
		cw.buf[i] = "0123456789abcdef"[n&0xf]
		n >>= 4
	}
	cw.buf[8], cw.buf[9] = '\r', '\n'
	cw.buf = append(cw.buf, '\r', '\n')
	if cw.full == nil {
		err := cw.write(cw.buf)
		cw.buf = cw.buf[:chunkHeaderLen]
		return err
	}
	cw.full <- cw.buf
	cw.buf = <-cw.free
	return cw.failed()
}

// end sends what is gathered and the last chunk, and stops the writer.
func (cw *chunkWriter) end() error {
	err := cw.flush()
	cw.stop()
	if err != nil {
		return err
	}
	if err := cw.failed(); err != nil {
		return err
	}
	return cw.write([]byte("0\r\n\r\n"))
}

// heartbeat is a context that expires at the next heartbeat.
type heartbeat struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (h *heartbeat) renew(d time.Duration) {
	h.stop()
	h.ctx, h.cancel = context.WithTimeout(context.Background(), d)
}

func (h *heartbeat) stop() {
	if h.cancel != nil {
		h.cancel()
	}
}

// appendFrame appends one record in the replay's format.
func appendFrame(dst []byte, rp *consumers.Replay, rec *consumers.Record, format replayFormat) []byte {
	switch format {
	case formatJSON:
		if rp.Delivered() > 1 {
			dst = append(dst, ',')
		}
		return rec.AppendJSON(dst)
	case formatSSE:
		dst = append(dst, "id: "...)
		dst = rp.AppendCursor(dst)
		dst = append(dst, "\nevent: record\ndata: "...)
		dst = rec.AppendJSON(dst)
		return append(dst, "\n\n"...)
	}
	dst = rec.AppendJSON(dst)
	return append(dst, '\n')
}

// replayEnd is the data of the SSE "end" event.
type replayEnd struct {
	Reason    string `json:"reason"`
	Delivered int64  `json:"records"`
	Scanned   int64  `json:"scanned"`
}

// appendReplayEnd closes the replay's output. Only SSE says why it ended; NDJSON
// and JSON simply end.
func appendReplayEnd(dst []byte, rp *consumers.Replay, format replayFormat) []byte {
	switch format {
	case formatJSON:
		return append(dst, "]\n"...)
	case formatSSE:
		data, _ := json.Marshal(replayEnd{Reason: rp.Reason(), Delivered: rp.Delivered(), Scanned: rp.Scanned()})
		dst = append(dst, "id: "...)
		dst = rp.AppendCursor(dst)
		dst = append(dst, "\nevent: end\ndata: "...)
		dst = append(dst, data...)
		return append(dst, "\n\n"...)
	}
	return dst
}

// appendError ends the output with the error as a problem: an
// {"error":{...}} line (NDJSON) or last array element (JSON), or an SSE
// "error" event, so that a failed replay never looks complete.
func appendError(dst []byte, rp *consumers.Replay, format replayFormat, pe *problem.Error, requestID string) []byte {
	data, _ := json.Marshal(struct {
		Error problem.Details `json:"error"`
	}{problem.Details{Type: pe.Type.URI, Title: pe.Type.Title, Status: pe.Type.Status, Detail: pe.Detail, RequestID: requestID}})
	switch format {
	case formatJSON:
		if rp.Delivered() > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, data...)
		return append(dst, "]\n"...)
	case formatSSE:
		dst = append(dst, "event: error\ndata: "...)
		dst = append(dst, data...)
		return append(dst, "\n\n"...)
	}
	dst = append(dst, data...)
	return append(dst, '\n')
}

// redriveBody is the body of POST /v1/replay/{topic}/redrive.
type redriveBody struct {
	From        string         `json:"from"`
	To          string         `json:"to"`
	Filters     redriveFilters `json:"filters"`
	Limit       int            `json:"limit"`
	TargetTopic string         `json:"target_topic"`
	DryRun      bool           `json:"dry_run"`
}

type redriveFilters struct {
	Partitions []int32           `json:"partitions"`
	Key        *string           `json:"key"`
	Headers    map[string]string `json:"headers"`
}

// redriveAnswer is the 200 body of a redrive.
type redriveAnswer struct {
	Topic       string        `json:"topic"`
	TargetTopic string        `json:"target_topic"`
	DryRun      bool          `json:"dry_run"`
	Scanned     int64         `json:"scanned"`
	Matched     int64         `json:"matched"`
	Produced    int64         `json:"produced"`
	Ranges      []rangeAnswer `json:"ranges"`
}

type rangeAnswer struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"start"`
	End       int64 `json:"end"`
}

// redrive serves POST /v1/replay/{topic}/redrive: copy the selected records
// to a target topic (or, with dry_run, count them) and answer with counts.
func (s *Server) redrive(c *fiber.Ctx) error {
	info(c).route = "redrive"
	if err := s.authorize(c, s.replayAccess()); err != nil {
		return err
	}
	if _, err := jsonMediaType(c.Get(fiber.HeaderContentType)); err != nil {
		return err
	}
	var body redriveBody
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return problem.New(problem.MalformedJSON, "the body must be {from, to, filters: {partitions, key, headers}, limit, target_topic, dry_run}: "+err.Error())
	}
	if body.TargetTopic == "" {
		return problem.New(problem.BadRequest, "target_topic is required")
	}
	rng, err := consumers.ParseRange(body.From, body.To)
	if err != nil {
		return err
	}
	req := consumers.RedriveRequest{
		ReplayRequest: consumers.ReplayRequest{Topic: strings.Clone(c.Params("topic")), Range: rng, Partitions: body.Filters.Partitions, Limit: body.Limit},
		Target:        body.TargetTopic,
		DryRun:        body.DryRun,
	}
	if body.Limit < 0 {
		return problem.New(problem.BadRequest, "limit must be a positive number")
	}
	for _, p := range body.Filters.Partitions {
		if p < 0 {
			return problem.New(problem.BadPosition, "filters.partitions holds a negative partition")
		}
	}
	if body.Filters.Key != nil {
		req.Match.Key, req.Match.HasKey = []byte(*body.Filters.Key), true
	}
	for name, v := range body.Filters.Headers {
		req.Match.Headers = append(req.Match.Headers, topics.Header{Key: name, Value: []byte(v)})
	}
	res, err := s.deps.Replayer.Redrive(c.UserContext(), req)
	if err != nil {
		if res.Produced > 0 {
			// Some copies are stored: say how many, whatever the cause.
			pe := toProblem(err)
			return &problem.Error{Type: pe.Type, RetryAfter: pe.RetryAfter, Cause: err,
				Detail: fmt.Sprintf("%s (%d of the %d records matched so far were copied before the failure)", pe.Detail, res.Produced, res.Matched)}
		}
		return err
	}
	ans := redriveAnswer{Topic: res.Topic, TargetTopic: res.Target, DryRun: res.DryRun,
		Scanned: res.Scanned, Matched: res.Matched, Produced: res.Produced, Ranges: make([]rangeAnswer, 0, len(res.Ranges))}
	for _, r := range res.Ranges {
		ans.Ranges = append(ans.Ranges, rangeAnswer{Partition: r.Partition, Start: r.Start, End: r.End})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(ans)
}

// replayHeartbeatDefault is how often an SSE replay sends a comment while
// it waits for records.
const replayHeartbeatDefault = 15 * time.Second
