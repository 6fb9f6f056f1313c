package main

import (
	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
)

// Compile-time guards: the concrete components satisfy what ingress needs.
var (
	_ ingress.Producer  = (*topics.Producer)(nil)
	_ ingress.Validator = (*schemas.Set)(nil)

	_ ingress.Replayer    = (*consumers.Replayer)(nil)
	_ ingress.TopicLister = (*consumers.Replayer)(nil)
)
