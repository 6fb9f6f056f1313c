package policy

import "errors"

// ErrRedisUnavailable means Redis, which keeps rate limits and
// idempotency records, did not answer.
var ErrRedisUnavailable = errors.New("redis unavailable")
