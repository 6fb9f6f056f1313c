// Package accesslog writes ferry's access lines: one JSON object per
// request, in the layout of log/slog's JSONHandler (time, level, msg,
// then the attributes in order), appended straight into a pooled buffer.
// Through slog, building the attributes and the handler's per-attribute
// work cost a publish about 8% of its CPU (pprof, the plain route under a
// closed loop); the same line appended here costs a fraction of it.
// ingress uses it when ferry logs JSON; text logs go through slog.
//
// It imports only the standard library.
package accesslog

import (
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Line is one access line being built. Get one with Begin, add the
// attributes, and write it with End.
type Line struct {
	buf []byte
}

var lines = sync.Pool{New: func() any { return &Line{buf: make([]byte, 0, 512)} }}

// maxPooled keeps a line that logged a large body out of the pool.
const maxPooled = 16 << 10

// Begin starts a line at t with level and msg, as slog's JSONHandler
// starts a record, followed by the logger's group attribute key=value.
func Begin(t time.Time, level slog.Level, msg, key, value string) *Line {
	l := lines.Get().(*Line)
	l.buf = append(l.buf[:0], `{"time":"`...)
	l.buf = t.Round(0).AppendFormat(l.buf, time.RFC3339Nano)
	l.buf = append(l.buf, `","level":`...)
	l.buf = appendString(l.buf, level.String())
	l.buf = append(l.buf, `,"msg":`...)
	l.buf = appendString(l.buf, msg)
	l.Str(key, value)
	return l
}

// Str adds a string attribute.
func (l *Line) Str(key, value string) {
	l.buf = append(l.buf, ',')
	l.buf = appendString(l.buf, key)
	l.buf = append(l.buf, ':')
	l.buf = appendString(l.buf, value)
}

// Int adds an integer attribute.
func (l *Line) Int(key string, v int64) {
	l.buf = append(l.buf, ',')
	l.buf = appendString(l.buf, key)
	l.buf = append(l.buf, ':')
	l.buf = strconv.AppendInt(l.buf, v, 10)
}

// Float adds a finite float attribute (a duration), formatted as
// encoding/json, and so slog, formats it.
func (l *Line) Float(key string, v float64) {
	l.buf = append(l.buf, ',')
	l.buf = appendString(l.buf, key)
	l.buf = append(l.buf, ':')
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		l.buf = strconv.AppendFloat(l.buf, v, 'e', -1, 64)
		if n := len(l.buf); n >= 4 && l.buf[n-4] == 'e' && l.buf[n-3] == '-' && l.buf[n-2] == '0' {
			l.buf[n-2] = l.buf[n-1] // e-07 → e-7, as encoding/json writes it
			l.buf = l.buf[:n-1]
		}
		return
	}
	l.buf = strconv.AppendFloat(l.buf, v, 'f', -1, 64)
}

// End closes the line, writes it to w in one Write and releases it.
func (l *Line) End(w io.Writer) error {
	l.buf = append(l.buf, "}\n"...)
	_, err := w.Write(l.buf)
	if cap(l.buf) <= maxPooled {
		lines.Put(l)
	}
	return err
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as slog's JSONHandler
// escapes it: quote, backslash and control characters; invalid UTF-8 as
// U+FFFD; U+2028 and U+2029 for JavaScript. Other characters, HTML's
// included, go as they are.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
