package ingress

// This file is the flow of one request on a configured route, top-down,
// each step a function named for what it does:
//
//	authenticate -> authorize -> limit -> idempotency -> validate -> publish -> wait
//
// A request that fails a step is answered there (a problem+json error,
// rendered by handleError) and reaches no later step: nothing is produced
// before validate has passed. Once publish has produced the record, the
// answer is the reply or a 202 with the result's Location (the exceptions
// are listed in ARCHITECTURE.md, Failure semantics).

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// chain returns the handlers of configured route r, in the order they run
// (routes.go registers them after requestContext).
func (s *Server) chain(r topics.Route) []fiber.Handler {
	a := routeAccess(r)
	var hs []fiber.Handler
	if len(r.ResponseHeaders) > 0 {
		hs = append(hs, responseHeaders(r.ResponseHeaders))
	}
	hs = append(hs, s.admitted(a)) // authenticate, authorize
	if a.limit != nil {
		hs = append(hs, s.limit(a))
	}
	if r.IsView() {
		return append(hs, s.viewGet(r)) // then read the topic's view
	}
	return append(hs, s.idempotency, s.handle(r)) // then validate, publish, wait
}

// responseHeaders sets a route's response.headers first, so that every
// answer carries them and any header ferry sets later replaces its own.
func responseHeaders(hs []topics.ResponseHeader) fiber.Handler {
	return func(c *fiber.Ctx) error {
		for _, h := range hs {
			c.Set(h.Name, h.Value)
		}
		return c.Next()
	}
}

// admitted is the first middleware of every protected endpoint: admit.
// A request failing here reaches no handler, so it produces nothing.
func (s *Server) admitted(a access) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := s.admit(c, a); err != nil {
			return err
		}
		return c.Next()
	}
}

// admit runs the first two steps under access a: it establishes the
// request's principal (authenticate) and checks its scopes (authorize),
// returning the 401 or 403 problem otherwise. Handlers whose access depends
// on the request (a stream's name) call it directly.
func (s *Server) admit(c *fiber.Ctx, a access) error {
	ri := info(c)
	ri.route = a.name
	pr, err := s.authenticate(c, ri, a)
	if err != nil {
		return err
	}
	if err := s.authorize(c, ri, a, pr); err != nil {
		return err
	}
	ri.principal = pr
	return nil
}

// authenticate (step 1) establishes who sent the request: the anonymous
// principal where a needs no credentials (or they are optional and none
// came), else the principal that Deps.Authenticator verifies the request's
// credential as (ingress/identity). Without an Authenticator every
// protected endpoint answers 401: deny by default.
func (s *Server) authenticate(c *fiber.Ctx, ri *reqInfo, a access) (*identity.Principal, error) {
	if s.principalOf != nil {
		// Tests only (withPrincipals): the principal is given.
		if pr := s.principalOf(c); pr != nil {
			if !pr.Expires.IsZero() && !time.Now().Before(pr.Expires) {
				return nil, s.unauthenticated(c, ri, "", identity.Invalid("the token has expired", jwt.ErrTokenExpired))
			}
			return pr, nil
		}
	}
	if !a.auth {
		return identity.Anonymous, nil
	}
	cred, err := s.credential(c)
	var pe *problem.Error
	if errors.As(err, &pe) {
		return nil, pe // 400: not a credential problem the client can fix by logging in
	}
	if errors.Is(err, identity.ErrNoCredentials) {
		// No header credentials: a client certificate the handshake
		// verified (tls.client_ca_file) may name a principal (auth.mtls).
		if pr := s.certificatePrincipal(c); pr != nil {
			ri.scheme = identity.PrincipalMTLS
			c.SetUserContext(identity.NewContext(c.UserContext(), pr))
			return pr, nil
		}
	}
	if a.optional && errors.Is(err, identity.ErrNoCredentials) {
		return identity.Anonymous, nil
	}
	var pr *identity.Principal
	if err == nil {
		if s.deps.Authenticator == nil {
			err = identity.Invalid("no credentials are accepted here", identity.ErrSchemeNotAccepted)
		} else {
			pr, err = s.deps.Authenticator.Authenticate(c.UserContext(), cred)
		}
	}
	if errors.Is(err, identity.ErrAuthUnavailable) {
		return nil, err // 503 auth-unavailable: fail closed, but not "your token is bad"
	}
	if err != nil {
		return nil, s.unauthenticated(c, ri, cred.Scheme, err)
	}
	ri.scheme = cred.Scheme
	c.SetUserContext(identity.NewContext(c.UserContext(), pr))
	return pr, nil
}

// authorize (step 2) checks that the principal holds every scope a
// requires (403 insufficient_scope otherwise). The anonymous principal of
// an endpoint that lets it in needs none.
func (s *Server) authorize(c *fiber.Ctx, ri *reqInfo, a access, pr *identity.Principal) error {
	if !a.auth || pr == identity.Anonymous {
		return nil
	}
	if missing := pr.Missing(a.scopes); missing != nil {
		return s.forbidden(c, ri, pr, ri.scheme, a.scopes, missing)
	}
	return nil
}

// limit (step 3) is the middleware of an endpoint with a rate limit: it
// spends one request of the caller's budget (ingress/policy), sets the
// RateLimit-* headers, and answers 429 with Retry-After when the budget is
// spent. When Redis fails it lets the request through (on_redis_error:
// open, logged and counted) or answers 503 (closed).
func (s *Server) limit(a access) fiber.Handler {
	rl := *a.limit
	prefix := a.name + ":"
	return func(c *fiber.Ctx) error {
		ri := info(c)
		res, err := s.deps.Limiter.Allow(c.UserContext(), prefix+policy.LimitSubject(rl.By, ri.principal, func() string { return s.clientAddr(c) }), rl)
		if err != nil {
			s.metrics.RateLimit(a.name, metrics.RateLimitError) // in both failure modes
			if s.auth.Policy.RateLimits.OnRedisError == policy.FailClosed {
				return &problem.Error{Type: problem.RedisUnavailable, Detail: "the rate limit cannot be checked; retry later", RetryAfter: 1, Cause: err}
			}
			s.warnEvery(c.UserContext(), &s.limiterWarned, "rate limits are not enforced: redis failed (on_redis_error: open)", ri, err)
			return c.Next()
		}
		setRateLimitHeaders(&c.Response().Header, res)
		if !res.Allowed {
			s.metrics.RateLimit(a.name, metrics.RateLimitLimited)
			retry := max(ceilSeconds(res.RetryAfter), 1)
			return &problem.Error{Type: problem.RateLimited, RetryAfter: int(retry),
				Detail: "the rate limit of " + a.name + " is spent; retry in " + strconv.FormatInt(retry, 10) + "s"}
		}
		s.metrics.RateLimit(a.name, metrics.RateLimitAllowed)
		return c.Next()
	}
}

// idempotency (step 4) is the middleware of a route honouring
// Idempotency-Key: the first response for (principal, key) is stored
// (ingress/policy); a repeat with the same request gets it again (same
// event id, nothing produced); the same key with another request is a 422,
// and a repeat while the first is in flight a 409. Responses of 500 and
// above are not stored, so that a retry runs anew. Without an
// IdempotencyStore the header is ignored.
//
// A request without the header goes on from here, in a small frame: the
// rest of the chain runs on top of this one, and a publish that fits in
// the goroutine's first 8 KiB of stack never grows it (TestPublishFitsEightKiBStack).
func (s *Server) idempotency(c *fiber.Ctx) error {
	all := c.Request().Header.PeekAll(HeaderIdempotencyKey)
	if len(all) == 0 || s.deps.Idempotency == nil {
		return c.Next()
	}
	return s.idempotent(c, all)
}

// idempotent is idempotency for a request with the header, given as all
// its values.
func (s *Server) idempotent(c *fiber.Ctx, all [][]byte) error {
	if len(all) > 1 {
		return problem.New(problem.InvalidIdempotencyKey, "Idempotency-Key is given more than once; send one")
	}
	ikey, ok := policy.ParseIdempotencyKey(all[0])
	if !ok {
		return problem.New(problem.InvalidIdempotencyKey, "Idempotency-Key must be a quoted string (or a bare one) of 1 to 255 visible ASCII characters, without quotes or backslashes inside")
	}
	ri := info(c)
	ctx := context.WithoutCancel(c.UserContext())
	key := policy.StoreKey(policy.IdempotencyScope(ri.principal, func() string { return s.clientAddr(c) }), ikey)
	req := c.Request()
	claim := policy.IdempotencyClaim{Fingerprint: policy.Fingerprint(req.Header.Method(), req.RequestURI(), c.Body()),
		Owner: policy.NewOwner(), LockTTL: s.auth.Policy.Idempotency.LockTTL}
	held, err := s.deps.Idempotency.Begin(ctx, key, claim)
	if err != nil {
		// The Begin may still run when Redis resumes and lock the key for
		// lock_ttl: every retry would be a 409. Undo it once Redis answers.
		s.settler.Abandon(key, claim)
		if s.auth.Policy.Idempotency.OnRedisError == policy.FailClosed {
			return &problem.Error{Type: problem.RedisUnavailable, Detail: "the Idempotency-Key cannot be checked; retry later", RetryAfter: 1, Cause: err}
		}
		s.metrics.IdempotencyFailOpen(ri.route)
		s.warnEvery(ctx, &s.idempotencyWarned, "Idempotency-Key is not enforced: redis failed (on_redis_error: open)", ri, err)
		return c.Next()
	}
	if held != nil {
		switch {
		case held.Fingerprint != claim.Fingerprint:
			return problem.New(problem.IdempotencyMismatch, "this Idempotency-Key was used for a different request; use a new key for a new request")
		case !held.Done:
			return &problem.Error{Type: problem.IdempotencyConflict, RetryAfter: 1, Detail: "the first request with this Idempotency-Key is still in progress; retry later"}
		}
		s.metrics.IdempotentReplay(ri.route)
		replayStored(c, held.Response)
		return nil
	}

	if err := c.Next(); err != nil {
		// Render here, so that the problem is what gets stored.
		if herr := s.handleError(c, err); herr != nil {
			if s.deps.Idempotency.Release(ctx, key, claim) != nil {
				s.settler.Release(key, claim)
			}
			return herr
		}
	}
	resp := c.Response()
	switch {
	case resp.StatusCode() >= 500 && ri.late != nil:
		// The record may still land: the key stays held (a retry gets
		// 409) until the producer knows, then holds the record's 202
		// or is released. A retry never writes the record twice.
		s.settler.Await(key, claim, s.auth.Policy.Idempotency.TTL, ri.late)
	case resp.StatusCode() >= 500:
		if err = s.deps.Idempotency.Release(ctx, key, claim); err != nil {
			s.settler.Release(key, claim)
		}
	default:
		stored := policy.StoredResponse{
			Status:      resp.StatusCode(),
			ContentType: string(resp.Header.ContentType()),
			Location:    string(resp.Header.Peek(fiber.HeaderLocation)),
			Body:        resp.Body(),
		}
		if err = s.deps.Idempotency.Complete(ctx, key, claim, stored, s.auth.Policy.Idempotency.TTL); err != nil {
			s.settler.Complete(key, claim, stored, s.auth.Policy.Idempotency.TTL)
		}
	}
	if err != nil {
		// The answer stands; the Settler tells the store once Redis
		// answers (until then a retry gets 409).
		s.log.LogAttrs(ctx, slog.LevelWarn, "storing the idempotent response failed; retrying in the background",
			slog.String("request_id", ri.id), slog.String("route", ri.route), slog.Any("err", err))
	}
	return nil
}

// handle returns the handler that ends the chain of route r: validate,
// publish and, on a route with a reply section, wait.
func (s *Server) handle(r topics.Route) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ri := info(c)
		ri.route = r.Name
		if r.Batch != nil {
			return s.handleBatch(c, r, ri)
		}
		var ct string
		var body, member []byte
		if !r.Tombstone { // a tombstone reads no body: its value is null
			var err error
			if ct, body, member, err = s.validate(c, &r); err != nil {
				return err
			}
		}
		m, err := s.message(c, &r, ri, ct, body, member)
		if err != nil {
			return err
		}
		return s.publish(c, &r, ri, m)
	}
}

// validate (step 5) checks the request before anything is produced: a
// JSON media type, a body within the route's limit, and a body valid
// against the route's schema (Deps.Validator; without one, or without a
// schema, any JSON). It returns the media type and the body, and the raw
// value of the body's top-level member that the route's key template
// reads when the validator met it on its way (MemberValidator), else nil.
func (s *Server) validate(c *fiber.Ctx, r *topics.Route) (contentType string, body, member []byte, err error) {
	ct, kind, err := routeMediaType(c.Get(fiber.HeaderContentType), r)
	if err != nil {
		return "", nil, nil, err
	}
	body = c.Body()
	if len(body) > r.BodyLimit {
		return "", nil, nil, problem.New(problem.BodyTooLarge, "the body is "+strconv.Itoa(len(body))+" bytes; this route accepts at most "+strconv.Itoa(r.BodyLimit))
	}
	switch kind {
	case topics.MediaOctetStream:
		return ct, body, nil, nil // produced as is
	case topics.MediaText:
		if !utf8.Valid(body) {
			return "", nil, nil, problem.New(problem.BadRequest, "the text/plain body is not valid UTF-8")
		}
		return ct, body, nil, nil
	case topics.MediaCloudEvents:
		if !utf8.Valid(body) {
			return "", nil, nil, notUTF8(body)
		}
		return ct, body, nil, s.checkCloudEvent(r, body)
	}
	if len(body) == 0 {
		return "", nil, nil, problem.New(problem.MalformedJSON, "the body is empty; send a JSON document")
	}
	if r.Schema != "" && s.deps.Validator != nil {
		if name, ok := r.Key.BodyMember(); ok && s.members != nil {
			member, err = s.members.ValidateMember(r.Schema, body, name)
		} else {
			err = s.deps.Validator.Validate(r.Schema, body)
		}
		if err != nil {
			if errors.Is(err, schemas.ErrNotJSON) {
				return "", nil, nil, malformedJSON(body, err)
			}
			return "", nil, nil, err
		}
	} else if !utf8.Valid(body) || !consumers.ValidJSON(body) { // encoding/json's verdict at 4x its speed, and UTF-8
		return "", nil, nil, malformedJSON(body, nil)
	}
	return ct, body, member, nil
}

// publish (step 6) produces the request's event and answers 202 once the
// broker acknowledged it. On a route with a reply section it registers
// the waiter first, so that a reply which beats the produce acknowledgement
// is not lost, then waits (step 7) unless the client asked for
// Prefer: respond-async: then the 202 carries Location: /v1/results/{id},
// where the reply will be kept.
//
// A route without a reply section publishes from here, in a small frame
// (TestPublishFitsEightKiBStack); publishReply does the rest.
func (s *Server) publish(c *fiber.Ctx, r *topics.Route, ri *reqInfo, m *topics.Message) error {
	if r.Reply != nil {
		return s.publishReply(c, r, ri, m)
	}
	pos, err := s.produce(c.UserContext(), m)
	if err != nil {
		ri.late = lateAnswer(m.ID, "", err)
		return err
	}
	ri.topic, ri.partition, ri.offset, ri.produced = pos.Topic, pos.Partition, pos.Offset, true
	c.Status(fiber.StatusAccepted)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	var buf [192]byte
	c.Response().SetBody(acceptedBody(buf[:0], m.ID, pos))
	return nil
}

// lateAnswer returns, for a produce error that leaves the record's fate
// unknown (topics.Unresolved: the broker had not acknowledged it by the
// deadline), what learns it: the 202 the request would have had, once
// the record is stored, with location (its result's) when not empty.
// Nil for any other error.
func lateAnswer(id, location string, err error) func(context.Context) (policy.StoredResponse, bool) {
	var u *topics.Unresolved
	if !errors.As(err, &u) {
		return nil
	}
	return func(ctx context.Context) (policy.StoredResponse, bool) {
		pos, err := u.Wait(ctx)
		if err != nil {
			return policy.StoredResponse{}, false
		}
		return policy.StoredResponse{Status: fiber.StatusAccepted, ContentType: fiber.MIMEApplicationJSON, Location: location, Body: acceptedBody(nil, id, pos)}, true
	}
}

// publishReply is publish on a route with a reply section.
func (s *Server) publishReply(c *fiber.Ctx, r *topics.Route, ri *reqInfo, m *topics.Message) error {
	ctx := c.UserContext()
	pref := parsePrefer(c.Request().Header.PeekAll("Prefer"))
	wait := r.Reply.Timeout
	if pref.hasWait {
		wait = min(pref.wait, r.Reply.MaxWait)
	}
	async := pref.async || wait <= 0
	if !async && s.replyFromCache(c, r, ri, m, wait) {
		return nil // an identical request's reply: no record
	}
	defer s.landFlight(r, ri) // the followers of this request go on their own
	if !async {
		// The responder breaker: while the route's responders are known
		// to be down, do not keep the client waiting.
		settle, refused := s.replyGate(r)
		switch {
		case refused != nil && r.Reply.OnTimeout == "fail":
			return refused // nothing produced: the client may retry
		case refused != nil:
			async = true // 202 + Location at once; the reply is kept
		default:
			ri.settle = settle
			defer ri.settleReply(policy.NoVerdict) // unless wait settled it
		}
	}

	w, err := s.deps.Correlator.Register(ctx, m.ID, r.Reply.Topic, owner(principal(c)))
	if err != nil {
		return err
	}
	defer w.Cancel()
	if g := r.Reply.Gather; g != nil && async {
		w.GatherFor(cmp.Or(g.Max, math.MaxInt), g.Window) // the result gathers
	} else if g != nil {
		w.Gather(cmp.Or(g.Max, math.MaxInt))
	}
	to := w.ReplyTo()
	m.Reply = &to
	if async {
		// Before producing: if the result cannot be kept, nothing has
		// happened yet and the client may simply retry.
		if _, _, err := s.deps.Correlator.Detach(ctx, w, r.Name); err != nil {
			return err
		}
	}
	// A sync request's goroutine produces the record itself and then
	// waits with the stack the produce left it: the produce must stay
	// within the worker's 8 KiB (TestPublishFitsEightKiBStack), or every
	// pending request would hold a 16 KiB stack.
	pos, err := s.produce(ctx, m)
	if err != nil {
		// A retry with the Idempotency-Key gets the record's 202 if it
		// lands late (its result's Location when async; a sync request's
		// reply is not awaited any more), never a second record.
		loc := ""
		if async {
			loc = resultsPath + m.ID
		}
		ri.late = lateAnswer(m.ID, loc, err)
		return err
	}
	ri.topic, ri.partition, ri.offset, ri.produced = pos.Topic, pos.Partition, pos.Offset, true
	// From here on only the id is needed, so that m, with its body and
	// headers, is garbage while the request waits.
	id := m.ID
	if async {
		c.Set("Preference-Applied", "respond-async")
		return accepted(c, id, pos)
	}
	if r.Reply.Gather != nil {
		return s.gatherReplies(c, r, w)
	}
	if pref.hasWait {
		c.Set("Preference-Applied", "wait="+strconv.Itoa(int(wait/time.Second)))
	}
	return s.wait(c, r, w, id, pos, wait)
}

// wait (step 7) waits for the reply to the request id up to wait (the
// route's timeout, or the client's Prefer: wait, at most reply.max_wait)
// and answers with it. Without a reply in time, or when the server shuts
// down, a route with on_timeout: accept answers 202 with the location of
// its result and one with on_timeout: fail a 504 (503 at shutdown): the
// record is produced, so the client is never told to retry it.
func (s *Server) wait(c *fiber.Ctx, r *topics.Route, w *correlator.Waiter, id string, pos topics.Position, wait time.Duration) error {
	ctx := c.UserContext()
	// WaitFor, not Wait with a context.WithTimeout: a pending request then
	// holds a place in the correlator's queue of the waiters with the same
	// limit (one timer per queue), not a derived context, its timer and
	// done channel.
	// A client that hangs up frees its waiter at once; its answer (the
	// timeout answer) is what an Idempotency-Key retry gets.
	watch := s.hangups.Watch(c.Context().Conn(), hangupReply, w.Abandon)
	rep, err := w.WaitFor(ctx, wait)
	watch.Stop()
	closed := errors.Is(err, correlator.ErrClosed) // shutting down
	gone := errors.Is(err, correlator.ErrAbandoned)
	switch {
	case err == nil:
		info(c).settleReply(policy.Success)
		s.linkReply(ctx, rep)
		s.keepReply(r, info(c), &rep)
		return s.writeReply(c, r, rep)
	case !closed && !gone && (!errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil):
		return err // the request's own context ended
	}
	if !closed && !gone {
		s.metrics.CorrelatorTimeout() // the wait ran out, not the request
		info(c).settleReply(policy.Failure)
	}
	switch {
	case r.Reply.OnTimeout == "fail" && closed:
		// The record is in Kafka: the route's timeout answer, never a
		// 503 that invites a retry publishing it twice.
		return problem.New(problem.ReplyTimeout, "no reply before this instance shut down; the request was published")
	case r.Reply.OnTimeout == "fail" && gone:
		return problem.New(problem.ReplyTimeout, "the client left before the reply; the request was published")
	case r.Reply.OnTimeout == "fail":
		return problem.New(problem.ReplyTimeout, "no reply within "+wait.String())
	}
	// on_timeout: accept, also at shutdown or when the client left: the
	// reply is kept for GET /v1/results/{id}, which any instance serves.
	rep, ok, err := s.deps.Correlator.Detach(context.WithoutCancel(ctx), w, r.Name)
	switch {
	case err != nil:
		// The record is in Kafka: never invite a retry that would publish
		// it twice. The Location may answer 404 if the reply cannot be
		// kept; the log says why.
		s.log.LogAttrs(ctx, slog.LevelWarn, "the result of an accepted request may not be kept",
			slog.String("request_id", info(c).id), slog.String("route", r.Name), slog.Any("err", err))
		return accepted(c, id, pos)
	case ok:
		return s.writeReply(c, r, rep) // it arrived just now
	}
	return accepted(c, id, pos)
}

// The steps' helpers.

// replayStored answers with a response stored for an Idempotency-Key.
func replayStored(c *fiber.Ctx, r policy.StoredResponse) {
	c.Status(r.Status)
	if r.ContentType != "" {
		c.Set(fiber.HeaderContentType, r.ContentType)
	}
	if r.Location != "" {
		c.Set(fiber.HeaderLocation, r.Location)
	}
	c.Set(HeaderIdempotentReplayed, "true")
	c.Response().SetBody(r.Body)
}

// malformedJSON is the 400 for a body that is not one JSON value: it says
// where the body goes wrong, as a byte offset and a line and column, so
// that the client can find it. It runs only on that error path.
func malformedJSON(body []byte, cause error) *problem.Error {
	if !utf8.Valid(body) {
		return notUTF8(body)
	}
	var v any
	err := json.Unmarshal(body, &v)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return &problem.Error{Type: problem.MalformedJSON, Detail: "the body is not valid JSON", Cause: cause}
	}
	off := int(se.Offset) // bytes read when the error was found
	line, col := 1, 1
	for _, c := range body[:min(max(off-1, 0), len(body))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return &problem.Error{Type: problem.MalformedJSON, Cause: cmp.Or(cause, err),
		Detail: fmt.Sprintf("the body is not valid JSON: %s at byte %d (line %d, column %d)", se.Error(), max(off-1, 0), line, col)}
}

// notUTF8 is the 400 for a JSON body that is not UTF-8, which JSON
// exchanged between systems must be (RFC 8259, section 8.1). encoding/json
// and the validators would take it, reading each bad byte as U+FFFD, so
// that the record would carry bytes its consumers cannot decode as the
// client meant them (a strict decoder fails on them). It names the first
// bad byte; it runs only on that error path.
func notUTF8(body []byte) *problem.Error {
	off := len(body)
	for i, r := range string(body) { // ranging over a conversion copies nothing
		if r == utf8.RuneError && !bytes.HasPrefix(body[i:], []byte(string(utf8.RuneError))) {
			off = i
			break
		}
	}
	return problem.New(problem.MalformedJSON, fmt.Sprintf("the body is not valid UTF-8 at byte %d; JSON text must be UTF-8 (RFC 8259, section 8.1)", off))
}

// certAuthenticator is what an Authenticator offers for client
// certificates (*identity.Authenticator does).
type certAuthenticator interface {
	AuthenticateCertificate(cert *x509.Certificate) (*identity.Principal, error)
}

// ClientCertVerifier verifies the client certificate of a TLS connection
// (*identity.CertVerifier does): the verified leaf, nil and no error
// when none was presented, or an error saying why the one presented does
// not verify.
type ClientCertVerifier interface {
	VerifyClient(st *tls.ConnectionState) (*x509.Certificate, error)
}

// clientCertificate is the leaf of the request's verified client
// certificate: nil without TLS or a certificate; an error when one was
// presented that Deps.ClientCerts does not verify.
func (s *Server) clientCertificate(c *fiber.Ctx) (*x509.Certificate, error) {
	st := c.Context().TLSConnectionState()
	if st == nil {
		return nil, nil
	}
	if s.deps.ClientCerts != nil {
		return s.deps.ClientCerts.VerifyClient(st)
	}
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return nil, nil
	}
	return st.VerifiedChains[0][0], nil
}

// checkClientCertificate is the middleware in front of every endpoint
// when client certificates are optional (verify_if_given): a client that
// presented a certificate that does not verify is answered 401, naming
// why, whatever the endpoint. With require, the handshake refuses it.
func (s *Server) checkClientCertificate(c *fiber.Ctx) error {
	leaf, err := s.clientCertificate(c)
	if err != nil {
		s.metrics.AuthFailure(identity.FailureReason(err))
		pe := problem.New(problem.Unauthenticated, err.Error()+"; present a certificate that tls.client_ca_file's CAs signed for client auth, or none")
		pe.WWWAuthenticate = s.challenge("", "", "", "")
		pe.Cause = err
		return pe
	}
	info(c).clientCert = leaf // for certificatePrincipal: verified once per request
	return c.Next()
}

// certificatePrincipal returns the principal of the request's verified
// client certificate, or nil: no TLS, no certificate, or one that matches
// no auth.mtls entry.
func (s *Server) certificatePrincipal(c *fiber.Ctx) *identity.Principal {
	var leaf *x509.Certificate
	if s.deps.ClientCerts != nil {
		leaf = info(c).clientCert // checkClientCertificate, in front of every endpoint, verified it
	} else {
		leaf, _ = s.clientCertificate(c)
	}
	if leaf == nil {
		return nil
	}
	ca, ok := s.deps.Authenticator.(certAuthenticator)
	if !ok {
		return nil
	}
	pr, err := ca.AuthenticateCertificate(leaf)
	if err != nil {
		return nil
	}
	return pr
}
