package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/topics/topicstest"
)

// TestResponderSurvivesBrokerRestart: `ferry respond` keeps answering
// when the embedded broker it reads comes back empty (ferry restarted on a
// fresh data dir, as after `make clean`): the topics return under new IDs,
// which franz-go does not adopt until they are purged. The responder
// purges and consumes its request topic again, and resends a reply whose
// topic was recreated; while the old IDs fail it backs off instead of
// polling (and logging) in a tight loop.
func TestResponderSurvivesBrokerRestart(t *testing.T) {
	httpAddr, kafkaAddr := freePort(t), freePort(t)
	p := startFerryOn(t, t.TempDir(), httpAddr, kafkaAddr)

	logs := &syncBuffer{}
	resp := exec.Command(ferryBinary(t), "respond", "--echo", "-c", "../../testdata/ferry.yaml", "--brokers", kafkaAddr)
	resp.Stderr = logs
	if err := resp.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- resp.Wait() }()
	// stopResponder interrupts the responder and waits for it to exit; a
	// responder that does not exit within 15s is a bug: SIGQUIT makes it
	// print its goroutines into the logs shown.
	stopped := false
	stopResponder := func() {
		if stopped {
			return
		}
		stopped = true
		_ = resp.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = resp.Process.Signal(syscall.SIGQUIT)
			<-exited
			t.Errorf("the responder did not exit within 15s of SIGINT")
		}
		if t.Failed() {
			t.Logf("responder logs:\n%s", logs.String())
		}
	}
	t.Cleanup(stopResponder)
	quote := func() error {
		r, err := doErr("POST", "http://"+httpAddr+"/v1/quotes", `{"symbol":"FERRY"}`, "Content-Type", "application/json", "Prefer", "wait=2")
		if err != nil {
			return err
		}
		if r.status != 200 {
			return fmt.Errorf("POST /v1/quotes = %d %s, want 200 from the responder", r.status, r.body)
		}
		return nil
	}
	topicstest.Eventually(t, 30*time.Second, 100*time.Millisecond, quote)

	p.stop(t)
	p2 := startFerryOn(t, t.TempDir(), httpAddr, kafkaAddr)
	topicstest.Eventually(t, 30*time.Second, 100*time.Millisecond, quote)
	stopResponder() // while its broker still runs
	p2.stop(t)
	if n := strings.Count(logs.String(), "\n"); n > 100 {
		t.Errorf("the responder logged %d lines across the restart, want a few (no tight retry loop)", n)
	}
}
