package ingress_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/ingress"
	"github.com/ferry-gw/ferry/schemas"
	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// gateway is a real ferry HTTP server on a loopback port, publishing to an
// in-process Kafka over TCP.
type gateway struct {
	url     string
	client  *http.Client // this gateway's own connections (newHTTPClient)
	srv     *ingress.Server
	cluster *kfake.Cluster
	served  chan error
}

// testRoutes are the routes most tests use.
var testRoutes = []topics.RouteConfig{
	{Name: "create-order", Path: "/v1/orders", Topic: "orders", Key: "{body./customer_id}", EventType: "com.example.order.create",
		Schema: "https://example.com/schemas/order.json", Auth: topics.AuthNone},
	{Name: "customer-event", Method: "PUT", Path: "/v1/customers/{id}/events", Topic: "customers", Key: "customer-{path.id}",
		Headers: map[string]string{"x-tenant": "{header.X-Tenant}"}, Auth: topics.AuthNone, BodyLimit: 64},
	{Name: "anything", Path: "/v1/anything", Topic: "anything", Auth: topics.AuthNone},
	{Name: "secured", Path: "/v1/secured", Topic: "anything"},
}

// testSetAndTable loads the test schemas and the testRoutes table.
func testSetAndTable(tb testing.TB) (*schemas.Set, *topics.Table) {
	tb.Helper()
	set, err := schemas.Load("../testdata/schemas")
	if err != nil {
		tb.Fatalf("schemas.Load: %v", err)
	}
	table, err := topics.NewTable(testRoutes)
	if err != nil {
		tb.Fatalf("NewTable: %v", err)
	}
	return set, table
}

type gatewayOpt func(*ingress.Config, *ingress.Deps)

func startGateway(tb testing.TB, opts ...gatewayOpt) *gateway {
	tb.Helper()
	c := topicstest.Cluster(tb, 3, "orders", "customers", "anything")
	return startGatewayOn(tb, c, opts...)
}

func startGatewayOn(tb testing.TB, c *kfake.Cluster, opts ...gatewayOpt) *gateway {
	tb.Helper()
	table, err := topics.NewTable(testRoutes)
	if err != nil {
		tb.Fatalf("NewTable: %v", err)
	}
	set, err := schemas.Load("../testdata/schemas")
	if err != nil {
		tb.Fatalf("schemas.Load: %v", err)
	}
	cl := topicstest.Client(tb, c, kgo.ProducerLinger(0))
	cfg := ingress.Config{}
	deps := ingress.Deps{Producer: topics.NewProducer(cl, 2*time.Second), Validator: set}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	srv, err := ingress.New(cfg, table, deps, ingress.WithLogger(testLogger()))
	if err != nil {
		tb.Fatalf("ingress.New: %v", err)
	}
	g := serveGateway(tb, srv, c)
	return g
}

func testLogger() *slog.Logger {
	if os.Getenv("FERRY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newHTTPClient returns a client with a connection pool of its own, whose
// idle connections are closed at cleanup (after the gateway's shutdown,
// registered later). http.DefaultClient's keep-alive connections would be
// shared by every test server of the package, which start and stop on
// loopback ports all through a run.
func newHTTPClient(tb testing.TB) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// do sends one request and returns the response with its body read.
func (g *gateway) do(tb testing.TB, method, path, contentType string, body []byte, hdr ...string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, g.url+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := g.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read body: %v", err)
	}
	return resp, b
}

// accepted is the 202 body.
type accepted struct {
	ID        string    `json:"id"`
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
}

func decodeAccepted(tb testing.TB, b []byte) accepted {
	tb.Helper()
	var a accepted
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		tb.Fatalf("202 body %s: %v", b, err)
	}
	return a
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
