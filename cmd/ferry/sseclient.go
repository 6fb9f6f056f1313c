package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// sseDialect says which events of a Server-Sent Events stream are records.
type sseDialect int

const (
	// replayEvents is GET /v1/replay/{topic}?follow=true: "record"
	// events, ended by an "end" or an "error" event with a problem.
	replayEvents sseDialect = iota
	// streamEvents is GET /v1/streams/{name}: each record is an event
	// named after its CloudEvents type (ce_type, else "message"), with the
	// stream position as its id; the server ends a stream with an
	// "error" event without an id. The id, not the name, tells them apart:
	// a record's ce_type may be any word, "error" and "end" included.
	streamEvents
)

// Reasons of a stream's final error event after which reconnecting with
// the last id resumes without loss (ingress/sse.go).
var resumableEnds = map[string]bool{"slow_consumer": true, "shutdown": true}

// stream prints the records of a Server-Sent Events stream. When the
// connection drops, or a stream ends for a reason a reconnection mends
// (slow_consumer, shutdown), it reconnects with the last event id, after
// the delay the server asked for (retry:), until ctx ends, the server
// sends a final end or error event, or limit records were printed (0: no
// limit). An answer other than 200 ends it with an error: only broken
// connections are retried.
func (c *gatewayClient) stream(ctx context.Context, path string, out *printer, stderr io.Writer, limit int64, dialect sseDialect) error {
	var (
		lastID string
		retry  = time.Second
	)
	for {
		resp, err := c.get(ctx, path, lastID)
		if err != nil {
			var p *problemBody
			if errors.As(err, &p) || ctx.Err() != nil {
				return err
			}
			fmt.Fprintf(stderr, "ferry: %v; reconnecting in %v\n", err, retry)
		} else {
			done, err := readEvents(resp.Body, out, stderr, limit, dialect, &lastID, &retry)
			resp.Body.Close()
			if done || err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(stderr, "ferry: the stream closed; reconnecting in %v (Last-Event-ID %q)\n", retry, lastID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
	}
}

// readEvents reads one connection's events. done is true when the stream
// is over for good: an end event, or limit records printed.
func readEvents(body io.Reader, out *printer, stderr io.Writer, limit int64, dialect sseDialect, lastID *string, retry *time.Duration) (done bool, err error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		event   string
		data    []byte
		hasData bool
		id      *string
	)
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "": // a comment: heartbeat
			case "event":
				event = value
			case "data":
				if hasData {
					data = append(data, '\n')
				}
				data, hasData = append(data, value...), true
			case "id":
				if !strings.ContainsRune(value, 0) {
					id = &value
				}
			case "retry":
				if ms, err := strconv.Atoi(value); err == nil && ms >= 0 {
					*retry = time.Duration(ms) * time.Millisecond
				}
			}
			continue
		}
		// A blank line dispatches the event.
		hasID := id != nil
		if hasID {
			*lastID = *id
		}
		ev, d, ok := event, data, hasData
		event, data, hasData, id = "", nil, false, nil
		if !ok {
			continue
		}
		record := ev == "record" || ev == "" || ev == "message"
		if dialect == streamEvents {
			record = hasID
		}
		switch {
		case record:
			if err := out.line(d); err != nil {
				return true, err
			}
			if limit > 0 && out.count >= limit {
				return true, nil
			}
		case ev == "error" && dialect == streamEvents:
			var end struct{ Reason, Detail string }
			if json.Unmarshal(d, &end) == nil && resumableEnds[end.Reason] {
				out.note("the gateway ended the stream: " + end.Reason)
				return false, nil // reconnect with the last id
			}
			return true, fmt.Errorf("the gateway ended the stream: %s", d)
		case ev == "error":
			if err := inBandError(d); err != nil {
				return true, err
			}
			return true, fmt.Errorf("stream error: %s", d)
		case ev == "end":
			out.note("end: " + string(d))
			return true, nil
		default:
			out.note(ev + ": " + string(d))
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "ferry: stream broke: %v\n", err)
	}
	return false, nil
}
