package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestPythonKafkaClients drives the real binary with kafka-python
// (Debian's python3-kafka, .ci/run installs it), a Kafka client in another
// language that has no snappy codec: it reads the orders ferry published
// and answers ferry's request/response route by the reply contract, as a
// Python backend would. ferry's records are uncompressed by default
// (kafka.compression), which is what lets such a client read them at all.
func TestPythonKafkaClients(t *testing.T) {
	if err := exec.Command(pythonWebsockets, "-c", "import kafka").Run(); err != nil {
		t.Fatalf("this test needs Python's kafka-python (apt-get install python3-kafka): %v", err)
	}
	p := startFerry(t, t.TempDir())
	base := "http://" + p.http
	order := `{"customer_id":"c-py","items":[{"sku":"A-1","qty":1,"price":2.5}]}`
	if r := do(t, "POST", base+"/v1/orders", order, "Content-Type", "application/json", "Authorization", "Bearer "+devToken(t)); r.status != 202 {
		t.Fatalf("POST /v1/orders = %s", r)
	}
	// The quotes are asked for asynchronously, so that they wait in
	// quotes.requests for the Python responder however long it takes to
	// join its group.
	const n = 3
	var locations []string
	for i := range n {
		r := do(t, "POST", base+"/v1/quotes", `{"symbol":"S`+string(rune('A'+i))+`"}`, "Content-Type", "application/json", "Prefer", "respond-async")
		if r.status != 202 || r.header.Get("Location") == "" {
			t.Fatalf("POST /v1/quotes = %s, want 202 with a Location", r)
		}
		locations = append(locations, r.header.Get("Location"))
	}
	out, err := exec.Command(pythonWebsockets, "testdata/kafka_client.py", p.kafka, "3").CombinedOutput()
	if err != nil {
		t.Fatalf("kafka_client.py: %v\n%s", err, out)
	}
	var got struct {
		Orders []struct {
			Key        string
			CEType     string `json:"ce_type"`
			CustomerID string `json:"customer_id"`
		}
		Answered []string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("kafka_client.py printed %s: %v", out, err)
	}
	if len(got.Orders) != 1 || got.Orders[0].CustomerID != "c-py" || got.Orders[0].Key != "c-py" || got.Orders[0].CEType != "com.example.order.create" {
		t.Errorf("kafka-python read orders %+v, want the one published", got.Orders)
	}
	if len(got.Answered) != n {
		t.Errorf("kafka-python answered %d requests, want %d", len(got.Answered), n)
	}
	for i, loc := range locations {
		r := do(t, "GET", base+loc, "", "Prefer", "wait=10")
		want := `"symbol": "S` + string(rune('A'+i)) + `"`
		if r.status != 201 || !strings.Contains(r.body, want) {
			t.Errorf("GET %s = %s, want 201 with the Python responder's reply (%s)", loc, r, want)
		}
	}
	p.stop(t)
}
