package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// sseFollower is a chaos subscriber: it follows a stream with
// ?envelope=true, alternating between the instances, and resumes with
// Last-Event-ID whenever its stream breaks (a kill, a shutdown, an end
// event). It checks what every resuming client relies on: per partition,
// each record comes once and right after the one before it, across every
// resume (no gap, no duplicate).
type sseFollower struct {
	addrs []string
	path  string

	mu       sync.Mutex
	last     map[int32]int64 // partition → last offset seen
	events   int
	resumes  int
	problems []string
}

func newSSEFollower(addrs []string, path string) *sseFollower {
	return &sseFollower{addrs: addrs, path: path, last: make(map[int32]int64)}
}

// run follows the stream until ctx ends.
func (f *sseFollower) run(ctx context.Context) {
	lastID := ""
	for i := 0; ctx.Err() == nil; i++ {
		// The client itself leaves after a while too, and comes back.
		fctx, cancel := context.WithTimeout(ctx, time.Duration(500+(i%5)*500)*time.Millisecond)
		id, got := f.follow(fctx, f.addrs[i%len(f.addrs)], lastID)
		cancel()
		if id != "" {
			lastID = id
		}
		if got && ctx.Err() == nil {
			f.mu.Lock()
			f.resumes++
			f.mu.Unlock()
		}
		if !got {
			select { // the instance is down: try the other one soon
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// follow reads one connection's events; it returns the last event id and
// whether the connection was open.
func (f *sseFollower) follow(ctx context.Context, addr, lastID string) (string, bool) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+f.path, nil)
	if err != nil {
		return lastID, false
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return lastID, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return lastID, false
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var id, event, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != "" && event != "error" {
				f.record(data)
			}
			if id != "" {
				lastID = id
			}
			id, event, data = "", "", ""
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimPrefix(line[5:], " ")
		}
	}
	return lastID, true
}

// record checks one record event against the one before it in its
// partition.
func (f *sseFollower) record(data string) {
	var env struct {
		Partition *int32 `json:"partition"`
		Offset    *int64 `json:"offset"`
	}
	if json.Unmarshal([]byte(data), &env) != nil || env.Partition == nil || env.Offset == nil {
		return // a comment-like event, not a record
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events++
	p, o := *env.Partition, *env.Offset
	if prev, ok := f.last[p]; ok && o != prev+1 {
		kind := "gap"
		if o <= prev {
			kind = "duplicate"
		}
		if len(f.problems) < 20 {
			f.problems = append(f.problems, fmt.Sprintf("%s on partition %d: offset %d after %d", kind, p, o, prev))
		}
	}
	f.last[p] = o
}

// caughtUp reports whether the follower has seen every partition up to
// ends (the next offsets), for the partitions it has seen.
func (f *sseFollower) caughtUp(ends map[int32]int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p, end := range ends {
		if last, ok := f.last[p]; ok && last+1 < end {
			return fmt.Errorf("partition %d: at %d of %d", p, last+1, end)
		}
	}
	return nil
}
