package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/redis/go-redis/v9"
	"github.com/santhosh-tekuri/jsonschema/v5"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/correlator"
	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/ingress/policy"
	"github.com/ferry-gw/ferry/topics"
)

type ackProducer struct{}

func (ackProducer) Produce(_ context.Context, m *topics.Message) (topics.Position, error) {
	return topics.Position{Topic: m.Topic}, nil
}

// TestQuickstartAPIDocs builds the gateway of each quickstart config the
// way serve does and checks that its /openapi.json is a valid OpenAPI 3.1
// document (kin-openapi) and its /asyncapi.json a valid AsyncAPI 3.0.0
// document (the official JSON Schema in ingress/apidocs/testdata/asyncapi).
func TestQuickstartAPIDocs(t *testing.T) {
	t.Parallel()
	asyncSchema := func() *jsonschema.Schema {
		const id = "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
		raw, err := os.ReadFile("../../ingress/apidocs/testdata/asyncapi/3.0.0.json")
		if err != nil {
			t.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		c.LoadURL = func(u string) (io.ReadCloser, error) { return nil, errors.New("not fetching " + u) }
		if err := c.AddResource(id, bytes.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		return c.MustCompile(id)
	}()
	for _, f := range []string{"../../testdata/ferry.yaml", "../../testdata/ferry.compose.yaml"} {
		cfg, err := loadConfig(f)
		if err != nil {
			t.Fatalf("loadConfig(%s):\n%s", f, formatErrors(err))
		}
		mr := miniredis.RunT(t)
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		defer rdb.Close()
		// A correlator that is never started: documents need its presence,
		// not its reply consumer.
		cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		corr := correlator.New(cfg.Correlator, cl, rdb, replyTopics(cfg.table))
		srv, err := ingress.New(cfg.Server, cfg.table, ingress.Deps{Producer: ackProducer{}, Validator: cfg.schemas,
			Limiter: policy.NewRedisLimiter(rdb), Idempotency: policy.NewRedisIdempotency(rdb), Correlator: corr, Results: corr},
			ingress.WithAuth(cfg.Auth), apiDocs(cfg, cfg.Kafka.Brokers))
		if err != nil {
			t.Fatalf("%s: ingress.New: %v", f, err)
		}
		get := func(path string) []byte {
			resp, err := srv.App().Test(httptest.NewRequest("GET", path, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: GET %s = %d %s", f, path, resp.StatusCode, b)
			}
			return b
		}

		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(get("/openapi.json"))
		if err != nil {
			t.Fatalf("%s: /openapi.json does not load: %v", f, err)
		}
		if err := doc.Validate(loader.Context); err != nil {
			t.Errorf("%s: /openapi.json is not valid OpenAPI 3.1: %v", f, err)
		}
		if doc.Info.Version != version || doc.Paths.Find("/v1/orders") == nil {
			t.Errorf("%s: /openapi.json info.version %q, /v1/orders %v", f, doc.Info.Version, doc.Paths.Find("/v1/orders"))
		}

		d := json.NewDecoder(bytes.NewReader(get("/asyncapi.json")))
		d.UseNumber()
		var async any
		if err := d.Decode(&async); err != nil {
			t.Fatal(err)
		}
		if err := asyncSchema.Validate(async); err != nil {
			t.Errorf("%s: /asyncapi.json is not valid AsyncAPI 3.0.0: %v", f, err)
		}
	}
}

// TestServedOpenAPIDescribesFerryEndpoints runs serve with a reply route,
// a stream and a replay section, and checks that its /openapi.json is valid
// and describes results, streams, replay and topics.
func TestServedOpenAPIDescribesFerryEndpoints(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders.events", "quotes.requests", "quotes.replies"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr, _ := serveFor(t, c, replayAuth+`
routes:
  - { name: quote, path: /v1/quotes, topic: quotes.requests, auth: none, reply: { topic: quotes.replies } }
streams: [{ name: events, topic: orders.events, scopes: [admin] }]
replay: { topics: ["orders.*"] }
`)
	resp, err := http.Get("http://" + addr + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(body)
	if err != nil {
		t.Fatalf("/openapi.json does not load: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Errorf("/openapi.json is not valid OpenAPI 3.1: %v", err)
	}
	for _, p := range []string{"/v1/quotes", "/v1/results/{id}", "/v1/streams/{name}", "/v1/replay/{topic}", "/v1/replay/{topic}/redrive", "/v1/topics", "/v1/topics/{topic}"} {
		if doc.Paths.Find(p) == nil {
			t.Errorf("/openapi.json lacks %s", p)
		}
	}
}
