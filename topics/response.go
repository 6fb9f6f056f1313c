package topics

import (
	"maps"
	"slices"
	"strings"
)

// ferryResponseHeaders are the response headers ferry itself sets (or
// that belong to the connection): a route's response.headers may not
// name them.
var ferryResponseHeaders = []string{
	"content-type", "content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive",
	"location", "retry-after", "x-request-id", "preference-applied", "idempotent-replayed", "www-authenticate",
	"allow", "etag", "last-modified", "age", "x-cache", "ratelimit", "ratelimit-policy", "ratelimit-limit",
	"ratelimit-remaining", "ratelimit-reset", "traceparent", "tracestate", "vary", "date", "server",
	"access-control-allow-origin", "access-control-allow-credentials", "access-control-expose-headers",
	"set-cookie",
}

// compileResponseHeaders checks a route's response.headers.
func compileResponseHeaders(at string, hs map[string]string, errs *fieldErrors) []ResponseHeader {
	out := make([]ResponseHeader, 0, len(hs))
	for _, name := range slices.Sorted(maps.Keys(hs)) {
		v := hs[name]
		switch {
		case !hdrRe.MatchString(name):
			errs.addf(at+"."+name, "not a valid header name")
		case slices.Contains(ferryResponseHeaders, strings.ToLower(name)):
			errs.addf(at+"."+name, "ferry sets this header itself")
		case strings.ContainsFunc(v, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }):
			errs.addf(at+"."+name, "control characters are not allowed in a header value")
		default:
			out = append(out, ResponseHeader{Name: name, Value: v})
		}
	}
	return out
}
