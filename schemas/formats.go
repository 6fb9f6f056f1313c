package schemas

// Quick answers for the format values most documents carry. v5's
// checkers take an any, so the fast path hands each of them a new string
// in a new interface, and some do real work on top: date goes through
// time.Parse, email through net/mail. These read the bytes in place and
// say "valid" only for the plain shapes (an ASCII dot-atom address on a
// hostname, a date of digits with a day that every month has, a
// date-time of digits with Z or a numeric offset); everything else, valid
// or not, still goes to v5's own checker, which therefore keeps the last
// word. FuzzQuickFormats checks that v5 accepts whatever these accept.

// quickFormats are the formats with a quick answer, by name.
var quickFormats = map[string]func([]byte) bool{
	"date":      quickDate,
	"date-time": quickDateTime,
	"email":     quickEmail,
}

// formatCheck returns the fast path's checker for the v5 format checker
// v named name: the quick answer first when there is one, v5 for the rest.
func formatCheck(name string, v func(any) bool) func([]byte) bool {
	quick := quickFormats[name]
	if quick == nil {
		return func(s []byte) bool { return v(string(s)) }
	}
	return func(s []byte) bool { return quick(s) || v(string(s)) }
}

// digits2 reads two ASCII digits.
func digits2(b []byte) (int, bool) {
	if len(b) < 2 || b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

// quickDate says whether b is "yyyy-mm-dd" of digits with a month of 1 to
// 12 and a day that month has in every year (February stops at 28).
func quickDate(b []byte) bool {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return false
	}
	if _, ok := digits2(b[0:2]); !ok {
		return false
	}
	if _, ok := digits2(b[2:4]); !ok {
		return false
	}
	m, ok := digits2(b[5:7])
	if !ok || m < 1 || m > 12 {
		return false
	}
	d, ok := digits2(b[8:10])
	return ok && d >= 1 && d <= monthDays[m]
}

// monthDays is the days every year's month has, by month.
var monthDays = [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// quickDateTime says whether b is a quickDate, 'T', "hh:mm:ss" of digits
// (no leap second), an optional fraction of at least one digit, and 'Z'
// or an offset "+hh:mm" / "-hh:mm" of digits in range.
func quickDateTime(b []byte) bool {
	if len(b) < 20 || (b[10] != 'T' && b[10] != 't') || !quickDate(b[:10]) {
		return false
	}
	t := b[11:]
	if t[2] != ':' || t[5] != ':' {
		return false
	}
	if h, ok := digits2(t[0:2]); !ok || h > 23 {
		return false
	}
	if m, ok := digits2(t[3:5]); !ok || m > 59 {
		return false
	}
	if s, ok := digits2(t[6:8]); !ok || s > 59 {
		return false
	}
	t = t[8:]
	if len(t) > 0 && t[0] == '.' {
		n := 1
		for n < len(t) && t[n] >= '0' && t[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		t = t[n:]
	}
	switch {
	case len(t) == 1:
		return t[0] == 'Z' || t[0] == 'z'
	case len(t) == 6 && (t[0] == '+' || t[0] == '-') && t[3] == ':':
		h, okh := digits2(t[1:3])
		m, okm := digits2(t[4:6])
		return okh && okm && h <= 23 && m <= 59
	}
	return false
}

// quickEmail says whether b is local@domain where local is 1 to 64 ASCII
// atext characters with single dots between them (RFC 5322's dot-atom)
// and domain is one or more labels of 1 to 63 letters, digits and inner
// hyphens, joined by single dots, 253 bytes at most.
func quickEmail(b []byte) bool {
	if len(b) > 254 {
		return false
	}
	at := -1
	for i, c := range b {
		if c == '@' {
			at = i
			break
		}
		if c == '.' {
			if i == 0 || b[i-1] == '.' {
				return false
			}
			continue
		}
		if !isAtext[c] {
			return false
		}
	}
	if at < 1 || at > 64 || b[at-1] == '.' {
		return false
	}
	domain := b[at+1:]
	if len(domain) == 0 || len(domain) > 253 {
		return false
	}
	label := 0
	for i, c := range domain {
		switch {
		case c == '.':
			if label == 0 || domain[i-1] == '-' {
				return false
			}
			label = 0
			continue
		case c == '-':
			if label == 0 {
				return false
			}
		case !isLetterDigit(c):
			return false
		}
		label++
		if label > 63 {
			return false
		}
	}
	return label > 0 && domain[len(domain)-1] != '-'
}

func isLetterDigit(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// isAtext holds RFC 5322's atext: letters, digits and !#$%&'*+-/=?^_`{|}~.
var isAtext = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = isLetterDigit(byte(c))
	}
	for _, c := range []byte("!#$%&'*+-/=?^_`{|}~") {
		t[c] = true
	}
	return t
}()
