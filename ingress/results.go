package ingress

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/ingress/stream"
	"github.com/ferry-gw/ferry/topics"
)

// resultsPath prefixes the location of a result.
const resultsPath = "/v1/results/"

// resultAdminScope lets a principal read every result.
const resultAdminScope = "admin"

// sseHeartbeat is how often an idle result stream sends a comment, which
// also finds clients that have gone.
const sseHeartbeat = 15 * time.Second

// owner names who sent a request, to check who may read its result:
// "KIND:ID", or "anonymous" without a principal (routes with auth: none).
// Every anonymous client is the same owner: their results are protected
// only by their unguessable ids.
func owner(p *identity.Principal) string {
	if p == nil || p.Kind == identity.PrincipalAnonymous {
		return "anonymous"
	}
	return p.Kind + ":" + p.ID
}

// mayRead reports whether p may read a result owned by o.
func mayRead(p *identity.Principal, o string) bool {
	return owner(p) == o || (p != nil && slices.Contains(p.Scopes, resultAdminScope))
}

// result serves GET /v1/results/{id}: 200 (or the reply's status) with the
// final reply, 202 with Retry-After while pending, 404 when unknown or
// expired, 403 for another principal's result. Prefer: wait=N long-polls
// (at most Results.MaxWait); Accept: text/event-stream streams progress
// replies and the final one, then ends.
func (s *Server) result(c *fiber.Ctx) error {
	ri := info(c)
	ri.route = "results"
	id := c.Params("id")
	if !correlator.ValidID(id) {
		return problem.New(problem.ResultNotFound, "no result has this id")
	}
	id = strings.Clone(id) // Fiber's params are only valid in the handler
	ctx := c.UserContext()
	res, err := s.deps.Results.Result(ctx, id)
	if err != nil {
		return err
	}
	if !mayRead(principal(c), res.Owner) {
		return problem.New(problem.ForbiddenResult, "this result belongs to the principal that sent the request")
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if wantsEventStream(c.Get(fiber.HeaderAccept)) {
		seen := 0
		if n, ok := stream.ParseResultEventID(c.Get("Last-Event-ID")); ok {
			seen = n
		}
		var envelope bool
		switch c.Query("envelope") {
		case "true", "1":
			envelope = true
		case "", "false", "0":
		default:
			return problem.New(problem.BadRequest, "envelope must be true or false")
		}
		return s.streamResult(c, id, seen, envelope, ri.id)
	}
	if !res.Done() {
		if pref := parsePrefer(c.Request().Header.PeekAll("Prefer")); pref.hasWait && pref.wait > 0 {
			wait := min(pref.wait, s.deps.Results.MaxWait())
			c.Set("Preference-Applied", "wait="+strconv.Itoa(int(wait/time.Second)))
			if res, err = s.awaitFinal(c, id, res, wait); err != nil {
				return err
			}
		}
	}
	if !res.Done() {
		c.Status(fiber.StatusAccepted)
		c.Set(fiber.HeaderRetryAfter, "1")
		c.Set(fiber.HeaderLocation, resultsPath+id)
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		body := append([]byte(`{"id":`), strconv.Quote(id)...)
		body = append(body, `,"status":"pending","progress":`...)
		body = strconv.AppendInt(body, int64(len(res.Replies)), 10)
		c.Response().SetBody(append(body, '}'))
		return nil
	}
	if res.Gather > 0 {
		reps, _ := res.Gathered()
		return answerGathered(c, s.gatherOf(res.Route), reps)
	}
	final, _ := res.Final()
	return s.writeReply(c, s.table.Route(res.Route), final)
}

// gatherOf returns the reply.gather of route, or a gather of at least one
// reply when the route has none any more (a reload changed it).
func (s *Server) gatherOf(route string) *topics.GatherConfig {
	if rt := s.table.Route(route); rt != nil && rt.Reply != nil && rt.Reply.Gather != nil {
		return rt.Reply.Gather
	}
	return &topics.GatherConfig{Min: 1}
}

// awaitFinal waits up to wait for the final reply of id; res is the last
// state read. Shutdown ends the wait early.
func (s *Server) awaitFinal(c *fiber.Ctx, id string, res *correlator.Result, wait time.Duration) (*correlator.Result, error) {
	ctx, cancel := context.WithTimeout(c.UserContext(), wait)
	defer cancel()
	stop := context.AfterFunc(s.streams, cancel)
	defer stop()
	defer s.hangups.Watch(c.Context().Conn(), hangupResult, cancel).Stop() // a client that leaves ends it
	for {
		if res.Done() || ctx.Err() != nil {
			return res, nil
		}
		next, err := s.deps.Results.Await(ctx, id, len(res.Replies))
		if err != nil {
			return nil, err
		}
		res = next
	}
}

// wantsEventStream reports whether an Accept header names SSE explicitly:
// a result is JSON unless the client asks for a stream.
func wantsEventStream(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
			return true
		}
	}
	return false
}

// streamResult streams the replies of id after the first seen as SSE
// events: "progress" for progress replies and "result" for the final one
// (or "error" with a problem when the final reply breaks the contract),
// each with id = its position (for Last-Event-ID) and data = its body,
// or with envelope its {"status","headers","body"}. The
// stream ends after the final reply, when the result expires, when the
// client goes or when the server shuts down; an idle stream gets a
// comment every 15s.
func (s *Server) streamResult(c *fiber.Ctx, id string, seen int, envelope bool, requestID string) error {
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no")
	instance := resultsPath + id
	log := s.log
	// Watched from here, in the handler, where c is valid: the writer
	// runs after the handler returns.
	ctx, cancel := context.WithCancel(s.streams)
	watch := s.hangups.Watch(c.Context().Conn(), hangupResultStream, cancel)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer watch.Stop()
		defer cancel()
		// fasthttp sends the headers with the first chunk, and the first
		// event may take a while: start with a comment.
		if _, err := w.WriteString(": waiting for replies\n\n"); err != nil {
			return
		}
		if err := w.Flush(); err != nil {
			return
		}
		var buf []byte
		for {
			wctx, stop := context.WithTimeout(ctx, sseHeartbeat)
			res, err := s.deps.Results.Await(wctx, id, seen)
			stop()
			if err != nil {
				if !errors.Is(err, correlator.ErrUnknownID) && ctx.Err() == nil {
					log.LogAttrs(ctx, slog.LevelWarn, "result stream ended", slog.String("request_id", requestID),
						slog.String("correlation_id", id), slog.Any("err", err))
				}
				return
			}
			buf = buf[:0]
			for i := seen; i < len(res.Replies); i++ {
				rep := res.Replies[i]
				ev, data := "progress", rep.Body
				if rep.Final && res.Gather > 0 {
					ev = "reply" // one of the gathered set, which comes last
				} else if rep.Final {
					ev = "result"
					err := rep.Err()
					if rt := s.table.Route(res.Route); err == nil && rt != nil {
						err = s.checkReply(*rt, rep.Status, rep.Body)
					}
					if err != nil {
						ev = "error"
						data, _ = toProblem(err).Body(instance, requestID)
					}
				}
				if envelope && ev != "error" {
					// The reply's status and headers, which a bare body
					// would lose: a responder's 500 is not its 201.
					data, _ = json.Marshal(envelopeOf(rep))
				}
				buf = stream.AppendEvent(buf, strconv.Itoa(i+1), ev, data)
			}
			if res.Gather > 0 && res.Done() && seen <= len(res.Replies) {
				// The gathered set, as GET answers it.
				reps, _ := res.Gathered()
				ev, data := "result", []byte(nil)
				if g := s.gatherOf(res.Route); len(reps) < g.Min {
					ev = "error"
					data, _ = toProblem(problem.New(problem.ReplyTimeout, fmt.Sprintf("%d of the %d replies needed arrived within %s", len(reps), g.Min, g.Window))).Body(instance, requestID)
				} else if data, err = gatheredBody(reps); err != nil {
					return
				}
				buf = stream.AppendEvent(buf, strconv.Itoa(len(res.Replies)+1), ev, data)
			} else if len(res.Replies) <= seen {
				buf = append(buf, ": ping\n\n"...)
			}
			seen = max(seen, len(res.Replies))
			if _, err := w.Write(buf); err != nil {
				return
			}
			if err := w.Flush(); err != nil {
				return // the client has gone
			}
			if res.Done() || ctx.Err() != nil {
				return
			}
		}
	})
	return nil
}
