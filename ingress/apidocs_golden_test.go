package ingress_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/apidocs"
	"github.com/ferry-gw/ferry/ingress/metrics"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/topics"
)

// fullDocRoutes add to docRoutes what they lack: a rate limit, a topic
// whose channel id collides with another's (orders_commands and
// orders.commands), a route named like another route's reply message, a
// custom ce_source and a DELETE.
var fullDocRoutes = append(append([]topics.RouteConfig(nil), docRoutes...),
	topics.RouteConfig{Name: "limited", Path: "/v1/limited", Topic: "orders_commands", Source: "/billing",
		Scopes: []string{"orders:write", "billing"}, RateLimit: &topics.RateLimitConfig{Rate: 10, By: "ip"}},
	topics.RouteConfig{Name: "place-order.reply", Method: "DELETE", Path: "/v1/odd/{id}", Topic: "odd", Key: "{path.id}",
		BodyLimit: 1024, Auth: topics.AuthNone},
)

// stubStreams, stubReplayer and stubTopics only make the server serve
// (and describe) /v1/streams, /v1/replay and /v1/topics.
type (
	stubStreams  struct{}
	stubReplayer struct{}
	stubTopics   struct{}
)

func (stubStreams) Stream(string) (topics.StreamConfig, bool) { return topics.StreamConfig{}, false }
func (stubStreams) Streams() []topics.StreamConfig {
	return []topics.StreamConfig{
		{Name: "orders", Topic: "orders.events", Scopes: []string{"orders:read"}, Filters: []string{"key", "header.X-Tenant"}},
		{Name: "public", Topic: "public.events", Auth: topics.AuthNone},
	}
}
func (stubStreams) Subscribe(context.Context, string, consumers.Start, consumers.Filter) (*consumers.Subscription, error) {
	return nil, consumers.ErrUnknownStream
}
func (stubReplayer) Open(context.Context, consumers.ReplayRequest) (*consumers.Replay, error) {
	return nil, consumers.ErrClosed
}
func (stubReplayer) Redrive(context.Context, consumers.RedriveRequest) (consumers.RedriveResult, error) {
	return consumers.RedriveResult{}, consumers.ErrClosed
}
func (stubTopics) Topics(context.Context) ([]topics.TopicInfo, error) { return nil, nil }
func (stubTopics) Topic(context.Context, string) (topics.TopicInfo, error) {
	return topics.TopicInfo{}, topics.ErrUnknownTopic
}

// TestAPIDocsGoldenFull pins both documents of a server that serves every
// endpoint ferry can describe (results, streams, replay, topics, metrics)
// with both security schemes, a custom API key header, replay scopes, two
// brokers and fullDocRoutes. The golden files were written before ingress
// was split into sub-packages; the split changed no byte of them.
func TestAPIDocsGoldenFull(t *testing.T) {
	t.Parallel()
	table, err := topics.NewTable(fullDocRoutes)
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	m, err := metrics.NewRecorder(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	auth := docAuth
	auth.APIKeyHeader = "X-Ferry-Key"
	corr, res := ingress.FakeReplyDeps(nil)
	srv, err := ingress.New(ingress.Config{}, table, ingress.Deps{
		Producer: &fakeProducer{}, Validator: docSchemas(t), Correlator: corr, Results: res,
		Streams: stubStreams{}, Replayer: stubReplayer{}, Topics: stubTopics{}, ReplayScopes: []string{"ops", "admin"},
		Limiter: policy.NewRedisLimiter(nil),
	},
		ingress.WithLogger(testLogger()), ingress.WithMetrics(m), ingress.WithAuth(auth),
		ingress.WithAPIDocs(apidocs.Info{
			Title: "ferry full", Version: "9.9.9", Description: "Every endpoint and route feature of ingress/apidocs_golden_test.go.",
			Auth: auth.Config, Brokers: []string{"kafka-a:9092", "kafka-b:9092"},
		}))
	if err != nil {
		t.Fatalf("ingress.New: %v", err)
	}
	for _, name := range []string{"openapi.json", "asyncapi.json"} {
		checkGolden(t, "apidocs/testdata/full."+name, getDoc(t, srv, "/"+name))
	}
}
