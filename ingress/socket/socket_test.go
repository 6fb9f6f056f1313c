package socket

import (
	"encoding/json"
	"testing"

	"github.com/ferry-gw/ferry/ingress/problem"
)

func TestFillPath(t *testing.T) {
	for _, tt := range []struct {
		path   string
		names  []string
		params map[string]string
		want   string
		ok     bool
	}{
		{"/v1/orders", nil, nil, "/v1/orders", true},
		{"/v1/orders/{id}/cancel", []string{"id"}, map[string]string{"id": "o 1/2"}, "/v1/orders/o%201%2F2/cancel", true},
		{"/v1/a/{x}/b/{y}", []string{"x", "y"}, map[string]string{"x": "1", "y": "2"}, "/v1/a/1/b/2", true},
		{"/v1/orders/{id}", []string{"id"}, map[string]string{"other": "1"}, "", false},
		{"/v1/orders/{id}", []string{"id"}, map[string]string{"id": ""}, "", false},
	} {
		got, err := FillPath(tt.path, tt.names, tt.params)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("FillPath(%s, %v) = %q, %v; want %q ok=%v", tt.path, tt.params, got, err, tt.want, tt.ok)
		}
	}
}

func TestAck(t *testing.T) {
	var a map[string]any
	body := `{"id":"r1","topic":"t","partition":2,"offset":9,"timestamp":"2026-01-01T00:00:00Z"}`
	if err := json.Unmarshal(Ack(json.RawMessage(`"x"`), 202, "", "/v1/results/r1", []byte(body)), &a); err != nil {
		t.Fatal(err)
	}
	if a["id"] != "x" || a["status"] != float64(202) || a["topic"] != "t" || a["partition"] != float64(2) || a["offset"] != float64(9) || a["location"] != "/v1/results/r1" {
		t.Errorf("202 ack = %v", a)
	}
	a = nil
	if err := json.Unmarshal(Ack(nil, 429, "3", "", []byte(`{"type":"urn:x","status":429}`)), &a); err != nil {
		t.Fatal(err)
	}
	if a["id"] != nil || a["retry_after"] != float64(3) || a["problem"] == nil || a["body"] != nil {
		t.Errorf("429 ack = %v", a)
	}
	a = nil
	if err := json.Unmarshal(ProblemAck(json.RawMessage("7"), problem.New(problem.NotFound, "no route")), &a); err != nil {
		t.Fatal(err)
	}
	if p, _ := a["problem"].(map[string]any); a["status"] != float64(404) || p["type"] != problem.NotFound.URI || p["instance"] != PublishPath {
		t.Errorf("problem ack = %v", a)
	}
}
