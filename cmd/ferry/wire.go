package main

import (
	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/identity"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// Compile-time guards: the concrete components satisfy what ingress needs.
var (
	_ ingress.Producer     = (*topics.Producer)(nil)
	_ ingress.EachProducer = (*topics.Producer)(nil)
	_ ingress.Validator    = (*schemas.Set)(nil)
	_ topics.Observer      = (*metrics.Recorder)(nil)
	_ correlator.Observer  = (*metrics.Recorder)(nil)

	_ ingress.Authenticator    = (*identity.Authenticator)(nil)
	_ ingress.Limiter          = (*policy.RedisLimiter)(nil)
	_ ingress.IdempotencyStore = (*policy.RedisIdempotency)(nil)

	_ ingress.Correlator = (*correlator.Correlator)(nil)
	_ ingress.Results    = (*correlator.Correlator)(nil)
	_ ingress.Streams    = (*consumers.Hub)(nil)

	_ ingress.Replayer    = (*consumers.Replayer)(nil)
	_ ingress.TopicLister = (*consumers.Replayer)(nil)
)
