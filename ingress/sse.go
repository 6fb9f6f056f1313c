package ingress

import (
	"bytes"
	"strconv"
)

// appendSSE appends one Server-Sent Events event: optional id and event
// lines, then data split into one data line per line of input (LF, CRLF
// and CR all end a line, as the SSE parser reads them), then a blank line.
// Pure, for the result stream.
func appendSSE(dst []byte, id, event string, data []byte) []byte {
	if id != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
	if event != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, event...)
		dst = append(dst, '\n')
	}
	for {
		i := bytes.IndexAny(data, "\r\n")
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, data...)
			dst = append(dst, '\n')
			break
		}
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(dst, '\n')
}

// parseResultEventID reads the Last-Event-ID of a result stream: the
// number of replies the client already has. ok is false for anything but a
// small non-negative decimal.
func parseResultEventID(s string) (n int, ok bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || strconv.Itoa(v) != s {
		return 0, false
	}
	return v, true
}
