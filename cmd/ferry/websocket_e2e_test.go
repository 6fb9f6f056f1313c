package main

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// pythonWebsockets is the Python that has Debian's python3-websockets
// (.ci/run installs it).
const pythonWebsockets = "/usr/bin/python3"

// TestWebSocketPython drives the real binary with Python's websockets
// library, as a user of another language would: 100 frames and 5 orders
// pipelined on one publish socket (a 202 ack with its own position each;
// a frame failing the schema answered 422 in its ack), then the orders
// read back from a stream socket, and resumed from an id.
func TestWebSocketPython(t *testing.T) {
	if err := exec.Command(pythonWebsockets, "-c", "import websockets").Run(); err != nil {
		t.Fatalf("this test needs Python's websockets (apt-get install python3-websockets): %v", err)
	}
	p := startFerry(t, t.TempDir())
	const n = 100
	out, err := exec.Command(pythonWebsockets, "testdata/ws_client.py", "ws://"+p.http, devToken(t), "100").CombinedOutput()
	if err != nil {
		t.Fatalf("ws_client.py: %v\n%s", err, out)
	}
	var got struct {
		Statuses map[string]int
		Bad      struct {
			Status  int
			Problem struct{ Type string }
		}
		Offsets int
		Stream  []string
		Types   []string
		Resumed []string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("ws_client.py printed %s: %v", out, err)
	}
	if got.Statuses["202"] != n+5 || got.Offsets != n+5 {
		t.Errorf("acks %v with %d distinct positions, want %d 202s, each its own", got.Statuses, got.Offsets, n+5)
	}
	if got.Bad.Status != 422 || !strings.HasSuffix(got.Bad.Problem.Type, "validation-failed") {
		t.Errorf("the frame failing the schema: %+v, want a 422 validation-failed ack", got.Bad)
	}
	if want := []string{"c-0", "c-1", "c-2", "c-3", "c-4"}; !sameSet(got.Stream, want) {
		t.Errorf("stream socket read %v, want the 5 orders %v", got.Stream, want)
	}
	if !reflect.DeepEqual(got.Types, []string{"com.example.order.create"}) {
		t.Errorf("frame types %v", got.Types)
	}
	if !sameSet(got.Resumed, got.Stream[2:]) {
		t.Errorf("resumed from the second id: %v, want %v", got.Resumed, got.Stream[2:])
	}
	p.stop(t)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]int)
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, v := range seen {
		if v != 0 {
			return false
		}
	}
	return true
}
