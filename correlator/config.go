package correlator

import (
	"errors"
	"fmt"
	"net/textproto"
	"regexp"
	"strings"
	"time"
)

// Config is the `correlator` section of ferry.yaml: how replies find their
// requests and how long results are kept. Timeouts are per route
// (routes[].reply).
type Config struct {
	// Layout is how instances share reply topics: "shared" (the default)
	// or "partition".
	//
	// shared: every instance reads every partition of each reply topic and
	// ignores replies it has no waiter for. Works with any partition count
	// and any number of instances; each instance reads every reply.
	//
	// partition: each instance leases one partition of each reply topic in
	// Redis (no per-instance config), puts it in kafka_replyPartition, and
	// reads only that one. Reads scale with instances; the topic needs at
	// least as many partitions as instances.
	Layout string `yaml:"layout"`
	// MaxPending caps the synchronous requests one instance waits on at
	// once; default 10000. Past it requests get 503 with Retry-After.
	MaxPending int `yaml:"max_pending"`
	// MaxPendingPerPrincipal caps them per principal (all anonymous
	// clients share one); default 1000.
	MaxPendingPerPrincipal int `yaml:"max_pending_per_principal"`
	// ResultTTL is how long an asynchronous result is kept in Redis after
	// its request (and after its final reply); default 1h.
	ResultTTL time.Duration `yaml:"result_ttl"`
	// ResultMaxWait is the longest Prefer: wait a GET /v1/results may ask
	// for; default 30s.
	ResultMaxWait time.Duration `yaml:"result_max_wait"`
	// HeaderAllowlist lists the response headers a reply may set with
	// ferry-header-NAME; default Cache-Control, Content-Language, ETag,
	// Last-Modified, Location. Others are dropped.
	HeaderAllowlist []string `yaml:"header_allowlist"`
	// LeaseTTL is how long a partition lease (layout partition) outlives
	// an instance that stopped renewing it, e.g. after kill -9; default
	// 15s. Leases are renewed every third of it and released at shutdown;
	// a starting instance waits up to one LeaseTTL for a free partition.
	// Every third of it each instance also records its reply positions.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// KeyPrefix prefixes every Redis key and channel; default "ferry:".
	// Deployments sharing a Redis need different prefixes.
	KeyPrefix string `yaml:"key_prefix"`
}

// Layouts.
const (
	LayoutShared    = "shared"
	LayoutPartition = "partition"
)

// Defaults used by WithDefaults.
const (
	DefaultMaxPending             = 10000
	DefaultMaxPendingPerPrincipal = 1000
	DefaultResultTTL              = time.Hour
	DefaultResultMaxWait          = 30 * time.Second
	DefaultLeaseTTL               = 15 * time.Second
	DefaultKeyPrefix              = "ferry:"
)

// DefaultHeaderAllowlist is the default of Config.HeaderAllowlist.
var DefaultHeaderAllowlist = []string{"Cache-Control", "Content-Language", "ETag", "Last-Modified", "Location"}

// WithDefaults returns c with every unset field at its documented default.
func (c Config) WithDefaults() Config {
	if c.Layout == "" {
		c.Layout = LayoutShared
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.MaxPendingPerPrincipal == 0 {
		c.MaxPendingPerPrincipal = DefaultMaxPendingPerPrincipal
	}
	if c.ResultTTL == 0 {
		c.ResultTTL = DefaultResultTTL
	}
	if c.ResultMaxWait == 0 {
		c.ResultMaxWait = DefaultResultMaxWait
	}
	if c.HeaderAllowlist == nil {
		c.HeaderAllowlist = DefaultHeaderAllowlist
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	return c
}

var headerNameRe = regexp.MustCompile(`^[a-zA-Z0-9!#$%&'*+.^_|~-]+$`)

// forbiddenHeaders frame or route the HTTP response, or belong to ferry;
// replies may never set them.
var forbiddenHeaders = map[string]bool{
	"Connection": true, "Content-Length": true, "Content-Type": true, "Keep-Alive": true,
	"Proxy-Authenticate": true, "Proxy-Connection": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "X-Request-Id": true, "Retry-After": true,
	"Preference-Applied": true,
}

// Validate reports every problem of the section, each as "field: problem".
// It expects WithDefaults to have run.
func (c Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch c.Layout {
	case LayoutShared, LayoutPartition:
	default:
		add("layout", "must be %q or %q, not %q", LayoutShared, LayoutPartition, c.Layout)
	}
	if c.MaxPending < 0 {
		add("max_pending", "must be > 0")
	}
	if c.MaxPendingPerPrincipal < 0 {
		add("max_pending_per_principal", "must be > 0")
	}
	if c.MaxPending > 0 && c.MaxPendingPerPrincipal > c.MaxPending {
		add("max_pending_per_principal", "must be <= max_pending (%d)", c.MaxPending)
	}
	if c.ResultTTL < 0 {
		add("result_ttl", "must be > 0")
	} else if c.ResultTTL > 0 && c.ResultTTL < time.Second {
		add("result_ttl", "must be at least 1s")
	}
	if c.ResultMaxWait < 0 {
		add("result_max_wait", "must be > 0")
	}
	if c.LeaseTTL < 0 {
		add("lease_ttl", "must be > 0")
	} else if c.LeaseTTL > 0 && c.LeaseTTL < 300*time.Millisecond {
		add("lease_ttl", "must be at least 300ms")
	}
	if strings.ContainsAny(c.KeyPrefix, " \t\r\n{}") {
		add("key_prefix", "must not contain spaces or braces")
	}
	for i, h := range c.HeaderAllowlist {
		at := fmt.Sprintf("header_allowlist[%d]", i)
		switch {
		case !headerNameRe.MatchString(h):
			add(at, "%q is not a header name", h)
		case forbiddenHeaders[textproto.CanonicalMIMEHeaderKey(h)]:
			add(at, "%s cannot be set by replies", h)
		}
	}
	return errors.Join(errs...)
}

// allowlist maps lower-cased header names to their configured spelling
// (ETag stays ETag).
func (c Config) allowlist() map[string]string {
	m := make(map[string]string, len(c.HeaderAllowlist))
	for _, h := range c.HeaderAllowlist {
		m[strings.ToLower(h)] = h
	}
	return m
}
