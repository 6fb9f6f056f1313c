package ingress

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/ingress/problem"
	"github.com/ferry-gw/ferry/topics"
)

// breakers are the circuit breakers in front of Kafka and of each sync
// route's responders (ingress/policy.Breaker, on sony/gobreaker): while a
// target is known to be down, requests are answered at once instead of
// each waiting out its own timeout.
type breakers struct {
	cfg   topics.BreakerConfig // kafka.circuit_breaker
	kafka *policy.Breaker
	reply map[string]*policy.Breaker // by route name; nil entries when disabled
}

// WithKafkaBreaker configures the Kafka circuit breaker
// (kafka.circuit_breaker). Without it the breaker has the defaults.
func WithKafkaBreaker(cfg topics.BreakerConfig) Option {
	return func(s *Server) { s.breakers.cfg = cfg }
}

// buildBreakers makes the Kafka breaker and one per sync route.
func (s *Server) buildBreakers() {
	s.breakers.kafka = policy.NewBreaker("kafka", s.breakers.cfg, false, s.breakerChanged)
	s.breakers.reply = make(map[string]*policy.Breaker)
	for _, r := range s.table.Routes() {
		if r.Reply != nil {
			s.breakers.reply[r.Name] = policy.NewBreaker("route:"+r.Name, r.Reply.CircuitBreaker, true, s.breakerChanged)
		}
	}
	for _, b := range s.allBreakers() {
		s.metrics.CircuitState(b.Target(), int(policy.BreakerClosed))
	}
}

// allBreakers returns the breakers that are on.
func (s *Server) allBreakers() []*policy.Breaker {
	var out []*policy.Breaker
	if s.breakers.kafka != nil {
		out = append(out, s.breakers.kafka)
	}
	for _, r := range s.table.Routes() {
		if b := s.breakers.reply[r.Name]; b != nil {
			out = append(out, b)
		}
	}
	return out
}

// breakerChanged logs a breaker's transition and sets its gauge. It runs
// inside the breaker's lock.
func (s *Server) breakerChanged(target string, from, to policy.BreakerState) {
	s.metrics.CircuitState(target, int(to))
	level := s.log.Info
	if to == policy.BreakerOpen {
		level = s.log.Warn
	}
	level("circuit breaker "+to.String(), "target", target, "from", from.String())
}

// produce produces m through the Kafka breaker: while it is open the
// request is answered 503 kafka-unavailable at once and nothing is
// produced. Produce failures that say the cluster is down (unavailable,
// timed out) count against it; a rejected record shows it is up.
func (s *Server) produce(ctx context.Context, m *topics.Message) (topics.Position, error) {
	b := s.breakers.kafka
	done, err := b.Allow()
	if err != nil {
		s.metrics.CircuitRejected(b.Target())
		secs := int(b.RetryAfter() / time.Second)
		return topics.Position{}, &problem.Error{Type: problem.KafkaUnavailable, RetryAfter: secs, Cause: err,
			Detail: "Kafka is failing (circuit breaker open): nothing was produced; retry in " + strconv.Itoa(secs) + "s"}
	}
	pos, err := s.deps.Producer.Produce(ctx, m)
	if errors.Is(err, topics.ErrTopicMissing) {
		done(policy.Success) // the broker answered
		return pos, &problem.Error{Type: problem.TopicMissing, Cause: err,
			Detail: "the route's topic " + m.Topic + " does not exist on the cluster (kafka.create_topics is off): the route is misconfigured; nothing was stored"}
	}
	switch {
	case err == nil, errors.Is(err, topics.ErrRejected):
		done(policy.Success)
	case ctx.Err() != nil:
		done(policy.NoVerdict) // the client went away: nothing learnt
	default:
		done(policy.Failure)
	}
	return pos, err
}

// EachProducer writes many records at once, each acknowledged on its
// own. *topics.Producer implements it; a Producer without it has a batch's
// records produced one by one, concurrently.
type EachProducer interface {
	ProduceEach(ctx context.Context, msgs []*topics.Message) ([]topics.Position, []error)
}

// produceEach is produce for the records of a batch (nil entries are
// skipped): one circuit-breaker check and one call for all of them, with
// the outcome of each. The breaker learns a failure when Kafka failed any
// record, as produce would have for that record.
func (s *Server) produceEach(ctx context.Context, ep EachProducer, msgs []*topics.Message) ([]topics.Position, []error) {
	b := s.breakers.kafka
	done, err := b.Allow()
	if err != nil {
		s.metrics.CircuitRejected(b.Target())
		secs := int(b.RetryAfter() / time.Second)
		pe := &problem.Error{Type: problem.KafkaUnavailable, RetryAfter: secs, Cause: err,
			Detail: "Kafka is failing (circuit breaker open): nothing was produced; retry in " + strconv.Itoa(secs) + "s"}
		errs := make([]error, len(msgs))
		for i := range errs {
			errs[i] = pe
		}
		return make([]topics.Position, len(msgs)), errs
	}
	pos, errs := ep.ProduceEach(ctx, msgs)
	failed, gone := false, false
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, topics.ErrTopicMissing):
			errs[i] = &problem.Error{Type: problem.TopicMissing, Cause: err,
				Detail: "the route's topic " + msgs[i].Topic + " does not exist on the cluster (kafka.create_topics is off): the route is misconfigured; nothing was stored"}
		case errors.Is(err, topics.ErrRejected):
		case ctx.Err() != nil:
			gone = true // the client went away: nothing learnt
		default:
			failed = true
		}
	}
	switch {
	case failed:
		done(policy.Failure)
	case gone:
		done(policy.NoVerdict)
	default:
		done(policy.Success)
	}
	return pos, errs
}

// replyGate asks route r's responder breaker whether a sync request may
// wait for its reply. open is true when it may not: the caller then
// answers 202 at once (on_timeout: accept) or refuses with the returned
// problem (on_timeout: fail) without producing. Otherwise settle must be
// called once with what the wait showed.
func (s *Server) replyGate(r *topics.Route) (settle func(policy.Outcome), refused error) {
	b := s.breakers.reply[r.Name]
	done, err := b.Allow()
	if err == nil {
		return done, nil
	}
	s.metrics.CircuitRejected(b.Target())
	secs := int(b.RetryAfter() / time.Second)
	return nil, &problem.Error{Type: problem.ResponderUnavailable, RetryAfter: secs, Cause: err,
		Detail: "the responders of this route stopped answering (circuit breaker open): nothing was produced; retry in " + strconv.Itoa(secs) + "s"}
}

// breakerChecks adds each breaker's state to /readyz, advisory: an open
// breaker is the instance working as designed, not a reason to take it out
// of the load balancer (Kafka's own check says whether Kafka is usable).
func (s *Server) breakerChecks(checks map[string]string) {
	for _, b := range s.allBreakers() {
		switch st := b.State(); st {
		case policy.BreakerClosed:
			checks["circuit:"+b.Target()] = "ok"
		case policy.BreakerOpen:
			checks["circuit:"+b.Target()] = "open: requests are answered at once; probes in " + b.RetryAfter().String()
		default:
			checks["circuit:"+b.Target()] = st.String() + ": probing"
		}
	}
}
