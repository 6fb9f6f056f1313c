package ingress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/ingress/stream"
	"github.com/ferry-gw/ferry/topics"
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
	if err := s.admit(c, s.replayAccess()); err != nil {
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
	s.audit(c, "replay", slog.String("topic", req.Topic), slog.String("from", c.Query("from")), slog.String("to", c.Query("to")))
	switch format {
	case stream.FormatJSON:
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	case stream.FormatSSE:
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
	cfg := stream.ReplayConfig{Format: format, RequestID: id, Heartbeat: s.replayHeartbeat, Problem: toProblem, Log: s.log, Metrics: s.metrics}
	c.Context().Hijack(func(conn net.Conn) { stream.WriteReplay(conn, head, rp, cfg) })
	return nil
}

// replayRequest copies the replay's parameters out of the request: Fiber's
// values are only valid inside the handler.
func replayRequest(c *fiber.Ctx) (consumers.ReplayRequest, stream.Format, error) {
	var req consumers.ReplayRequest
	req.Topic = strings.Clone(c.Params("topic"))
	format := stream.FormatNDJSON
	switch f := c.Query("format"); f {
	case "":
		if strings.Contains(c.Get(fiber.HeaderAccept), mimeEventStream) {
			format = stream.FormatSSE
		}
	case "ndjson":
	case "json":
		format = stream.FormatJSON
	case "sse":
		format = stream.FormatSSE
	default:
		return req, 0, problem.New(problem.BadRequest, "format must be ndjson, json or sse, not "+strconv.Quote(f))
	}
	args := c.Context().QueryArgs()
	from, to := c.Query("from"), c.Query("to")
	if id := c.Get("Last-Event-ID"); format == stream.FormatSSE && id != "" {
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
	var wheres []string
	for _, v := range args.PeekMulti("where") {
		wheres = append(wheres, string(v))
	}
	if req.Match.Where, err = consumers.ParseWheres(wheres); err != nil {
		return req, 0, err
	}
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
		if format != stream.FormatSSE {
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

// redriveBody is the body of POST /v1/replay/{topic}/redrive.
type redriveBody struct {
	From        string         `json:"from"`
	To          string         `json:"to"`
	Filters     redriveFilters `json:"filters"`
	Limit       int            `json:"limit"`
	TargetTopic string         `json:"target_topic"`
	DryRun      bool           `json:"dry_run"`
	NewIDs      *bool          `json:"new_ids"` // default true
}

type redriveFilters struct {
	Partitions []int32           `json:"partitions"`
	Key        *string           `json:"key"`
	Headers    map[string]string `json:"headers"`
	Where      []string          `json:"where"`
}

// redriveAnswer is the 200 body of a redrive.
type redriveAnswer struct {
	Topic       string        `json:"topic"`
	TargetTopic string        `json:"target_topic"`
	DryRun      bool          `json:"dry_run"`
	NewIDs      bool          `json:"new_ids"`
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
	if err := s.admit(c, s.replayAccess()); err != nil {
		return err
	}
	if _, err := jsonMediaType(c.Get(fiber.HeaderContentType)); err != nil {
		return err
	}
	var body redriveBody
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return problem.New(problem.MalformedJSON, "the body must be {from, to, filters: {partitions, key, headers, where}, limit, target_topic, dry_run}: "+err.Error())
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
		NewIDs:        body.NewIDs == nil || *body.NewIDs,
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
	if req.Match.Where, err = consumers.ParseWheres(body.Filters.Where); err != nil {
		return err
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
	s.audit(c, "redrive", slog.String("topic", res.Topic), slog.String("target", res.Target), slog.Bool("dry_run", res.DryRun),
		slog.Int64("matched", res.Matched), slog.Int64("produced", res.Produced))
	ans := redriveAnswer{Topic: res.Topic, TargetTopic: res.Target, DryRun: res.DryRun, NewIDs: req.NewIDs,
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

// audit logs an admin action (replay, redrive) at info with who did it:
// one line with "log":"audit", the action, the principal's kind and id
// (as the records' ce_authtype and ce_authid), the client address and
// the request id.
func (s *Server) audit(c *fiber.Ctx, action string, attrs ...slog.Attr) {
	ri := info(c)
	p := principal(c)
	base := []slog.Attr{slog.String("log", "audit"), slog.String("action", action), slog.String("request_id", ri.id),
		slog.String("client_address", s.clientAddr(c))}
	if p != nil {
		base = append(base, slog.String("authtype", p.Kind), slog.String("authid", p.ID))
	}
	s.log.LogAttrs(c.UserContext(), slog.LevelInfo, action, append(base, attrs...)...)
}
