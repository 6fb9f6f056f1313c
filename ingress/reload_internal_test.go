package ingress

import (
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/ferry-gw/ferry/topics"
	"github.com/ferry-gw/ferry/topics/topicstest"
)

// TestSwapRetiresGenerations: a Server swapped out by a reload is not
// kept once it has nothing in flight (a process reloaded every minute
// would otherwise hold every config it ever served), and Shutdown of the
// listening Server still ends the streams of every generation.
func TestSwapRetiresGenerations(t *testing.T) {
	routes := []topics.RouteConfig{{Name: "a", Path: "/v1/a", Topic: "a", Auth: topics.AuthNone}}
	front, _ := newTestServer(t, routes, Deps{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- front.Serve(ln) }()
	topicstest.Eventually(t, 5*time.Second, time.Millisecond, func() error {
		if front.active.Load() == nil {
			return errors.New("not serving yet")
		}
		return nil
	})

	first, _ := newTestServer(t, routes, Deps{})
	front.Swap(first)
	lifeOfFirst := first.streams
	gone := weak.Make(first)
	second, _ := newTestServer(t, routes, Deps{})
	front.Swap(second)
	first = nil
	for range 3 {
		runtime.GC()
	}
	if gone.Value() != nil {
		t.Error("the swapped-out generation is still reachable")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := front.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if lifeOfFirst.Err() == nil || second.streams.Err() == nil {
		t.Error("Shutdown did not end the long-lived responses of every generation")
	}
	<-served
}
