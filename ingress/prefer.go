package ingress

import (
	"bytes"
	"strconv"
	"time"
)

// preferences are the RFC 7240 Prefer preferences ferry honours.
type preferences struct {
	// async is respond-async: answer 202 at once.
	async bool
	// wait is wait=N, present when hasWait.
	wait    time.Duration
	hasWait bool
}

// maxPreferWait bounds wait=N before the route's own maximum applies, so
// that the conversion to a Duration cannot overflow.
const maxPreferWait = 24 * time.Hour

// parsePrefer reads every Prefer header value. Preferences are comma
// separated; each is a token, optionally =value (a token or a quoted
// string), then ;parameters, which ferry ignores. Names are
// case-insensitive. Unknown or malformed preferences are ignored, as RFC
// 7240 asks; of repeated ones the first wins.
func parsePrefer(values [][]byte) preferences {
	var p preferences
	seenAsync := false
	for _, v := range values {
		for len(v) > 0 {
			var item []byte
			item, v = splitPreference(v)
			item, _, _ = bytes.Cut(item, []byte(";"))
			name, val, hasVal := bytes.Cut(item, []byte("="))
			name = bytes.TrimSpace(name)
			val = bytes.Trim(bytes.TrimSpace(val), `"`)
			switch {
			case bytes.EqualFold(name, []byte("respond-async")) && !hasVal && !seenAsync:
				p.async, seenAsync = true, true
			case bytes.EqualFold(name, []byte("wait")) && hasVal && !p.hasWait:
				n, err := strconv.ParseUint(string(val), 10, 32)
				if err != nil {
					continue
				}
				p.wait, p.hasWait = min(time.Duration(n)*time.Second, maxPreferWait), true
			}
		}
	}
	return p
}

// splitPreference returns the first comma-separated preference of v and
// the rest, keeping commas inside quoted strings.
func splitPreference(v []byte) (item, rest []byte) {
	quoted, escaped := false, false
	for i, c := range v {
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			return v[:i], v[i+1:]
		}
	}
	return v, nil
}
