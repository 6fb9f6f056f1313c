package accesslog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
)

// slogLine is the line slog's JSONHandler writes for the same record, and
// the time it stamped (read back from the line: RFC 3339 with nanoseconds
// round-trips).
func slogLine(t *testing.T, level slog.Level, s string, n int64, f float64) ([]byte, time.Time) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("log", "access")
	log.LogAttrs(t.Context(), level, "request", slog.String("request_id", s), slog.Int64("n", n), slog.Float64("duration_ms", f), slog.String(s, "v"))
	var rec struct{ Time time.Time }
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("slog wrote %q: %v", buf.Bytes(), err)
	}
	return buf.Bytes(), rec.Time
}

func line(at time.Time, level slog.Level, s string, n int64, f float64) []byte {
	var buf bytes.Buffer
	l := Begin(at, level, "request", "log", "access")
	l.Str("request_id", s)
	l.Int("n", n)
	l.Float("duration_ms", f)
	l.Str(s, "v")
	_ = l.End(&buf)
	return buf.Bytes()
}

// TestLineIsSlogs: the line is byte for byte the one slog's JSONHandler
// writes, so that access lines and ferry's other log lines read alike.
func TestLineIsSlogs(t *testing.T) {
	for _, tt := range []struct {
		s string
		n int64
		f float64
	}{
		{"abc", 0, 0}, {"", -42, 1.5}, {"a\"b\\c\n\r\t\x00\x1f\x7f", 1 << 60, 0.001}, {"<script>&", 7, 123456.789},
		{"é\u2028\u2029😀", 1, 1e-7}, {"\xff\xfe bad", 2, 1e21}, {strings.Repeat("x", 3000), 3, 99999999.999},
	} {
		for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
			want, at := slogLine(t, level, tt.s, tt.n, tt.f)
			if got := line(at, level, tt.s, tt.n, tt.f); !bytes.Equal(got, want) {
				t.Errorf("line\n got %s\nwant %s", got, want)
			}
		}
	}
}

// FuzzLineIsSlogs: the same for any string and numbers.
func FuzzLineIsSlogs(f *testing.F) {
	f.Add("a\"b\n\x00é\xff\u2028", int64(-1), 1.25)
	f.Add("", int64(0), 0.0)
	f.Fuzz(func(t *testing.T, s string, n int64, fl float64) {
		if math.IsNaN(fl) || math.IsInf(fl, 0) {
			return // not a duration; slog writes an error there
		}
		want, at := slogLine(t, slog.LevelInfo, s, n, fl)
		if got := line(at, slog.LevelInfo, s, n, fl); !bytes.Equal(got, want) {
			t.Fatalf("line\n got %s\nwant %s", got, want)
		}
	})
}
