package topics

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config is the `kafka` section of ferry.yaml.
type Config struct {
	// Brokers are the seed brokers. Empty (the default) starts the embedded
	// broker described by Embedded.
	Brokers []string `yaml:"brokers"`
	// ClientID is the Kafka client id; default "ferry".
	ClientID string `yaml:"client_id"`
	// Embedded configures the in-process broker used when Brokers is empty.
	Embedded EmbeddedConfig `yaml:"embedded"`
	// CreateTopics creates missing route topics at start. The default is
	// true with the embedded broker and false with real brokers, where a
	// missing topic makes /readyz fail instead.
	CreateTopics *bool `yaml:"create_topics"`
	// Partitions is the partition count of topics ferry creates; default 3.
	Partitions int32 `yaml:"partitions"`
	// ReplicationFactor of topics ferry creates; default -1 (the broker's
	// default.replication.factor).
	ReplicationFactor int16 `yaml:"replication_factor"`
	// TLS encrypts the connections to real brokers; nil (the default) is
	// plaintext. The embedded broker never uses it.
	TLS *TLSConfig `yaml:"tls"`
	// SASL authenticates ferry to real brokers; nil (the default) sends no
	// credentials.
	SASL *SASLConfig `yaml:"sasl"`
	// ProduceTimeout bounds how long a request waits for the broker to
	// acknowledge its record; default 10s. Past it the client gets a 503.
	ProduceTimeout time.Duration `yaml:"produce_timeout"`
	// CircuitBreaker answers publishes at once with 503 kafka-unavailable
	// while produces keep failing, instead of letting each wait out
	// ProduceTimeout. On by default.
	CircuitBreaker BreakerConfig `yaml:"circuit_breaker"`
	// Compression is the codec of produced batches: none (the default, as
	// with Kafka's own producers: every consumer reads the records, with
	// or without a codec library), gzip, snappy, lz4 or zstd.
	Compression string `yaml:"compression"`
}

// Compression codecs of Config.Compression.
var compressions = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// EmbeddedConfig is the `kafka.embedded` section.
type EmbeddedConfig struct {
	// Listen is the address the embedded broker listens on; default
	// "127.0.0.1:9092". Port 0 picks a free port.
	Listen string `yaml:"listen"`
	// DataDir keeps the broker's records and topics across restarts. Empty
	// keeps everything in memory.
	DataDir string `yaml:"data_dir"`
	// Retention is the retention.ms of topics created on the embedded
	// broker; default 168h.
	Retention time.Duration `yaml:"retention"`
	// SyncWrites makes the embedded broker fsync every produced batch
	// before acknowledging it, so that a 202 survives a power loss, not
	// only a crash of ferry. Default true with a DataDir (it costs
	// throughput: docs/operations.md has the figures); ignored without.
	SyncWrites *bool `yaml:"sync_writes"`
}

// Defaults used by WithDefaults.
const (
	DefaultClientID       = "ferry"
	DefaultEmbeddedListen = "127.0.0.1:9092"
	DefaultPartitions     = 3
	DefaultProduceTimeout = 10 * time.Second
	DefaultRetention      = 168 * time.Hour
	DefaultBodyLimit      = 1 << 20
	DefaultReplyTimeout   = 5 * time.Second
	DefaultReplyMaxWait   = 30 * time.Second
)

// UseEmbedded reports whether no brokers are configured, so ferry runs its own.
func (c Config) UseEmbedded() bool { return len(c.Brokers) == 0 }

// WithDefaults returns c with every unset field at its documented default.
func (c Config) WithDefaults() Config {
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.Embedded.Listen == "" {
		c.Embedded.Listen = DefaultEmbeddedListen
	}
	if c.Embedded.Retention == 0 {
		c.Embedded.Retention = DefaultRetention
	}
	if c.CreateTopics == nil {
		v := c.UseEmbedded()
		c.CreateTopics = &v
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.ProduceTimeout == 0 {
		c.ProduceTimeout = DefaultProduceTimeout
	}
	c.CircuitBreaker = c.CircuitBreaker.WithDefaults()
	return c
}

// Validate reports every problem of the section, each as "field: problem".
func (c Config) Validate() error {
	var errs fieldErrors
	if c.TLS != nil {
		if _, err := c.TLS.Load(); err != nil {
			errs.addf("tls", "%v", err)
		}
	}
	if c.SASL != nil {
		switch c.SASL.Mechanism {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			errs.addf("sasl.mechanism", "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, not %q", c.SASL.Mechanism)
		}
		if c.SASL.Username == "" {
			errs.addf("sasl.username", "required")
		}
		if c.SASL.Password == "" {
			errs.addf("sasl.password", "required (use ${ENV} to keep it out of the file)")
		}
	}
	for i, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			errs.addf(fmt.Sprintf("brokers[%d]", i), "empty")
		}
	}
	if c.Partitions < 0 {
		errs.addf("partitions", "must be > 0")
	}
	if c.ReplicationFactor < -1 {
		errs.addf("replication_factor", "must be > 0 or -1 for the broker default")
	}
	if c.ProduceTimeout < 0 {
		errs.addf("produce_timeout", "must be > 0")
	}
	if c.Embedded.Retention < 0 {
		errs.addf("embedded.retention", "must be > 0")
	}
	if c.Compression != "" && !slices.Contains(compressions, c.Compression) {
		errs.addf("compression", "must be one of %s, not %q", strings.Join(compressions, ", "), c.Compression)
	}
	c.CircuitBreaker.Check(func(field, msg string) { errs.addf("circuit_breaker."+field, "%s", msg) })
	return errs.err()
}

// RouteConfig is one entry of the `routes` section.
type RouteConfig struct {
	// Name is unique; it names the route in logs and metrics. Required.
	Name string `yaml:"name"`
	// Method is POST (default), PUT, PATCH or DELETE, or GET for a route
	// that reads the latest record of each key of Topic (a compacted
	// topic) instead of producing.
	Method string `yaml:"method"`
	// Path starts with / and may hold {param} segments. Required.
	Path string `yaml:"path"`
	// Topic receives the route's records. Required, unless Split is set.
	Topic string `yaml:"topic"`
	// Split sends the route's records to several topics by weight
	// (canary), instead of Topic: sticky by key, or forced by When.
	Split []SplitTarget `yaml:"split"`
	// Key is the key template; empty means a null key.
	Key string `yaml:"key"`
	// Headers are extra record headers, name → template. Reserved names
	// (ce_*, content-type, traceparent, kafka_*, ferry-*) are refused.
	Headers map[string]string `yaml:"headers"`
	// EventType is the records' ce_type; default the route name.
	EventType string `yaml:"event_type"`
	// Source is the records' ce_source; default "/ferry/routes/NAME".
	Source string `yaml:"source"`
	// Schema is the $id of the request body's JSON Schema; empty accepts
	// any JSON.
	Schema string `yaml:"schema"`
	// SchemaSubject names a Schema Registry subject (schemas.registry)
	// instead of schema: the body is validated with the subject's latest
	// JSON Schema, and the record's value is written in the Confluent
	// wire format (a zero byte and the schema id, then the JSON).
	SchemaSubject string `yaml:"schema_subject"`
	// RegistryID is the Schema Registry id of SchemaSubject's schema,
	// filled in by whoever fetched it (cmd/ferry), with Schema set to its
	// $id; not from YAML.
	RegistryID int `yaml:"-"`
	// AvroSchema is the text of SchemaSubject's schema when it is Avro,
	// filled in with RegistryID; the body, in Avro's JSON encoding, is
	// then written as Avro (AvroCodec). Not from YAML.
	AvroSchema string `yaml:"-"`
	// Scopes the caller must hold, all of them.
	Scopes []string `yaml:"scopes"`
	// Auth is "required" (the default) or "none".
	Auth string `yaml:"auth"`
	// BodyLimit is the largest accepted body in bytes; default 1 MiB.
	BodyLimit int `yaml:"body_limit"`
	// ContentTypes are the media types of the bodies the route accepts:
	// application/json (the default; application/*+json too),
	// application/octet-stream and text/plain (produced as is, no schema),
	// application/cloudevents+json (structured mode, produced as is).
	ContentTypes []string `yaml:"content_types"`
	// RateLimit limits requests on this route; nil means unlimited.
	RateLimit *RateLimitConfig `yaml:"rate_limit"`
	// Reply makes the route request/response.
	Reply *ReplyConfig `yaml:"reply"`
	// Response shapes every answer of the route.
	Response *ResponseConfig `yaml:"response"`
	// Body edits the JSON body before it becomes the record's value.
	Body *BodyConfig `yaml:"body"`
	// Batch lets one request carry many records: a JSON array, or NDJSON
	// (application/x-ndjson), each element validated and keyed on its own.
	Batch *BatchConfig `yaml:"batch"`
	// Tombstone makes the route produce a tombstone: a record with the key
	// from the key template and a null value, which deletes the key from
	// a compacted topic. The request needs no body (any is ignored).
	// Default true for DELETE routes, false for the others.
	Tombstone *bool `yaml:"tombstone"`
	// View configures a GET route's in-memory view of its topic.
	View *ViewConfig `yaml:"view"`
	// KeyPrefix narrows a GET route without a key (a collection) to the
	// keys that start with what it renders, e.g. "{claim.tenant}:".
	KeyPrefix string `yaml:"key_prefix"`
}

// ViewConfig is a GET route's `view` section.
type ViewConfig struct {
	// MaxKeys bounds the keys kept per topic and instance; default
	// 1,000,000. Past it the routes of the topic answer 503.
	MaxKeys int `yaml:"max_keys"`
}

// DefaultViewMaxKeys is view.max_keys's default.
const DefaultViewMaxKeys = 1_000_000

// BatchConfig is a route's `batch` section.
type BatchConfig struct {
	// MaxRecords is the most records one request may carry; default 500,
	// at most 10000.
	MaxRecords int `yaml:"max_records"`
	// Atomic writes the records of a request in one Kafka transaction:
	// all of them, or (when one is refused or the transaction fails) none.
	Atomic bool `yaml:"atomic"`
}

// Batch limits.
const (
	DefaultBatchMaxRecords = 500
	maxBatchMaxRecords     = 10000
)

// ResponseConfig is a route's `response` section.
type ResponseConfig struct {
	// Headers are fixed headers added to every answer of the route (its
	// 2xx and its problems). They never replace a header ferry sets, and
	// the names ferry owns are refused.
	Headers map[string]string `yaml:"headers"`
}

// Route auth modes.
const (
	AuthRequired = "required"
	AuthNone     = "none"
)

// RateLimitConfig is a GCRA limit: Rate requests per Per, with Burst.
type RateLimitConfig struct {
	// Rate is how many requests are allowed per Per. Required.
	Rate int `yaml:"rate"`
	// Per is the period of Rate; default 1s.
	Per time.Duration `yaml:"per"`
	// Burst is how many requests may arrive at once; default Rate.
	Burst int `yaml:"burst"`
	// By chooses whose budget a request spends: principal (default),
	// api_key, ip, or claim:NAME.
	By string `yaml:"by"`
}

// ReplyConfig is the request/response section of a route.
type ReplyConfig struct {
	// Topic is where responders send replies. Required.
	Topic string `yaml:"topic"`
	// Timeout is how long a request waits by default; default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxWait is the longest wait a client may ask for with Prefer: wait;
	// default 30s.
	MaxWait time.Duration `yaml:"max_wait"`
	// OnTimeout is "accept" (202 + Location, the default) or "fail" (504).
	OnTimeout string `yaml:"on_timeout"`
	// Schema is the $id of the reply's JSON Schema; empty accepts any reply.
	Schema string `yaml:"schema"`
	// CircuitBreaker stops waiting for responders that stopped answering:
	// after Failures reply timeouts in a row, new requests are not kept
	// waiting (on_timeout: accept answers 202 at once, fail answers 503
	// responder-unavailable without publishing). On by default.
	CircuitBreaker BreakerConfig `yaml:"circuit_breaker"`
	// Cache keeps 2xx replies: identical requests within the TTL are
	// answered from it, without a record. Nil (the default) caches nothing.
	Cache *CacheConfig `yaml:"cache"`
	// Gather collects every reply to the request (scatter-gather: several
	// responder groups answer it) until Max arrive or Window passes, and
	// answers them together. Nil answers with the first reply.
	Gather *GatherConfig `yaml:"gather"`
}

// GatherConfig is a sync route's reply.gather.
type GatherConfig struct {
	// Window is how long replies are gathered; required.
	Window time.Duration `yaml:"window"`
	// Min is how many replies make a 200; fewer is a 504. Default 1.
	Min int `yaml:"min"`
	// Max ends the gathering as soon as that many arrived; 0 waits for
	// the whole window.
	Max int `yaml:"max"`
}

// CacheConfig is a sync route's reply.cache.
type CacheConfig struct {
	// TTL is how long a reply is served; required. A reply's
	// Cache-Control (ferry-header-Cache-Control, when allowlisted) may
	// replace it (max-age) or forbid caching (no-store).
	TTL time.Duration `yaml:"ttl"`
	// MaxEntries bounds the replies kept per instance; default 10000.
	MaxEntries int `yaml:"max_entries"`
	// Shared caches one reply for every caller; by default each
	// principal has its own.
	Shared bool `yaml:"shared"`
}

// DefaultCacheMaxEntries is reply.cache.max_entries's default.
const DefaultCacheMaxEntries = 10000

// BreakerConfig is a circuit breaker's section: kafka.circuit_breaker and a
// sync route's reply.circuit_breaker. The zero value is a breaker with the
// defaults.
type BreakerConfig struct {
	// Disabled turns the breaker off: every request waits out its own
	// timeout. Default false: breakers are on.
	Disabled bool `yaml:"disabled"`
	// Failures is how many failures open the breaker: failed produces
	// within Window (Kafka), or reply timeouts in a row (a responder);
	// default 5.
	Failures int `yaml:"failures"`
	// Window is how far back failures count while the breaker is closed;
	// default 10s.
	Window time.Duration `yaml:"window"`
	// OpenFor is how long the breaker refuses requests before it lets a
	// few probes through; default 5s.
	OpenFor time.Duration `yaml:"open_for"`
}

// Defaults of BreakerConfig.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerWindow   = 10 * time.Second
	DefaultBreakerOpenFor  = 5 * time.Second
)

// WithDefaults fills in the defaults of the fields left zero.
func (c BreakerConfig) WithDefaults() BreakerConfig {
	if c.Failures == 0 {
		c.Failures = DefaultBreakerFailures
	}
	if c.Window == 0 {
		c.Window = DefaultBreakerWindow
	}
	if c.OpenFor == 0 {
		c.OpenFor = DefaultBreakerOpenFor
	}
	return c
}

// Check calls bad with the name of each field whose value is wrong, and
// what is wrong with it.
func (c BreakerConfig) Check(bad func(field, msg string)) {
	if c.Failures < 0 {
		bad("failures", fmt.Sprintf("must be at least 1, not %d", c.Failures))
	}
	if c.Window < 0 {
		bad("window", fmt.Sprintf("must be positive, not %s", c.Window))
	}
	if c.OpenFor < 0 {
		bad("open_for", fmt.Sprintf("must be positive, not %s", c.OpenFor))
	}
}

var (
	nameRe  = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)
	topicRe = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
	segRe   = regexp.MustCompile(`^[a-zA-Z0-9._~-]+$`)
	paramRe = regexp.MustCompile(`^\{([a-zA-Z_][a-zA-Z0-9_]*)\}$`)
	hdrRe   = regexp.MustCompile(`^[a-zA-Z0-9!#$%&'*+.^_|~-]+$`)
)

// reservedPaths are served by ferry itself; routes may not shadow them.
var reservedPaths = []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/asyncapi.json", "/v1/results", "/v1/streams", "/v1/replay", "/v1/topics"}

// ValidTopic reports whether name is a legal Kafka topic name that ferry
// may write to: internal topics (leading "__") are refused.
func ValidTopic(name string) error {
	switch {
	case name == "":
		return errors.New("required")
	case name == "." || name == "..":
		return errors.New(`"." and ".." are not topic names`)
	case !topicRe.MatchString(name):
		return errors.New("must be 1-249 characters of a-z A-Z 0-9 . _ -")
	case strings.HasPrefix(name, "__"):
		return errors.New("internal topics (__*) are not allowed")
	}
	return nil
}

func (rc RouteConfig) compile(at string, errs *fieldErrors) (Route, bool) {
	n := len(*errs)
	r := Route{
		Name:      rc.Name,
		Method:    strings.ToUpper(rc.Method),
		Path:      rc.Path,
		Topic:     rc.Topic,
		EventType: rc.EventType,
		Source:    rc.Source,
		Schema:    rc.Schema,
		Scopes:    rc.Scopes,
		Auth:      rc.Auth,
		BodyLimit: rc.BodyLimit,
		RateLimit: rc.RateLimit,
		Reply:     rc.Reply,
	}
	switch {
	case rc.Name == "":
		errs.addf(at+".name", "required")
	case !nameRe.MatchString(rc.Name):
		errs.addf(at+".name", "must be letters, digits, '.', '_' or '-'")
	}
	switch r.Method {
	case "":
		r.Method = "POST"
	case "POST", "PUT", "PATCH", "DELETE":
	case "GET":
		compileView(at, rc, &r, errs)
	default:
		errs.addf(at+".method", "must be GET, POST, PUT, PATCH or DELETE, not %q", rc.Method)
	}
	if r.Method != "GET" && (rc.View != nil || rc.KeyPrefix != "") {
		errs.addf(at+".view", "view and key_prefix belong to GET routes")
	}
	r.Params = parsePath(at+".path", rc.Path, errs)
	if rc.Response != nil {
		r.ResponseHeaders = compileResponseHeaders(at+".response.headers", rc.Response.Headers, errs)
	}
	if rc.Body != nil {
		r.BodyEdit = compileBodyEdit(at+".body", rc.Body, errs)
	}
	if b := rc.Batch; b != nil {
		bc := *b
		switch {
		case bc.MaxRecords == 0:
			bc.MaxRecords = DefaultBatchMaxRecords
		case bc.MaxRecords < 0 || bc.MaxRecords > maxBatchMaxRecords:
			errs.addf(at+".batch.max_records", "must be 1 to %d, not %d", maxBatchMaxRecords, bc.MaxRecords)
		}
		if rc.Reply != nil {
			errs.addf(at+".batch", "a batch route cannot have a reply section: one request, many records")
		}
		r.Batch = &bc
	}
	r.ContentTypes = compileContentTypes(at, rc, errs)
	if rc.SchemaSubject != "" {
		if rc.RegistryID == 0 && rc.Schema != "" {
			errs.addf(at+".schema_subject", "set one of schema and schema_subject")
		}
		if len(r.ContentTypes) != 1 || r.ContentTypes[0] != MediaJSON {
			errs.addf(at+".schema_subject", "records in the Confluent wire format hold JSON: content_types must be application/json only")
		}
		r.RegistryID = int32(rc.RegistryID)
		if rc.AvroSchema != "" {
			c, err := NewAvroCodec(rc.AvroSchema, int32(rc.RegistryID))
			if err != nil {
				errs.addf(at+".schema_subject", "%v", err)
			}
			r.Avro, r.RegistryID = c, 0 // the codec writes the wire format
		}
	}
	r.Tombstone = strings.EqualFold(rc.Method, "DELETE")
	if rc.Tombstone != nil {
		r.Tombstone = *rc.Tombstone
	}
	if r.Tombstone {
		switch {
		case rc.Key == "":
			errs.addf(at+".key", "required: a tombstone deletes the record with this key")
		case strings.Contains(rc.Key, "{body."):
			errs.addf(at+".key", "a tombstone has no body to read: use path, header or claim references")
		}
		if rc.Schema != "" {
			errs.addf(at+".schema", "a tombstone has no body to validate")
		}
		if rc.Body != nil {
			errs.addf(at+".body", "a tombstone has no body to edit")
		}
		if rc.Batch != nil {
			errs.addf(at+".batch", "a tombstone route takes no body, so no batch")
		}
	}
	switch {
	case len(rc.Split) > 0 && rc.Topic != "":
		errs.addf(at+".split", "replaces topic: set one of topic and split")
	case len(rc.Split) > 0:
		compileSplit(at, rc.Split, errs)
		r.Topic, r.Split = rc.Split[0].Topic, rc.Split
	default:
		if err := ValidTopic(rc.Topic); err != nil {
			errs.addf(at+".topic", "%v", err)
		}
	}
	if rc.Key != "" {
		k, err := ParseKeyTemplate(rc.Key)
		if err != nil {
			errs.addf(at+".key", "%v", err)
		} else {
			checkParams(at+".key", k, r.Params, errs)
			r.Key = k
		}
	}
	names := make([]string, 0, len(rc.Headers))
	for name := range rc.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		hat := fmt.Sprintf("%s.headers.%s", at, name)
		if !hdrRe.MatchString(name) {
			errs.addf(hat, "not a valid header name")
			continue
		}
		if IsReservedHeader(name) {
			errs.addf(hat, "reserved header names cannot be set by routes")
			continue
		}
		v, err := ParseKeyTemplate(rc.Headers[name])
		if err != nil {
			errs.addf(hat, "%v", err)
			continue
		}
		checkParams(hat, v, r.Params, errs)
		r.Headers = append(r.Headers, HeaderTemplate{Name: name, Value: v})
	}
	if r.EventType == "" {
		r.EventType = rc.Name
	}
	if r.Source == "" {
		r.Source = "/ferry/routes/" + rc.Name
	}
	switch r.Auth {
	case "":
		r.Auth = AuthRequired
	case AuthRequired, AuthNone:
	default:
		errs.addf(at+".auth", "must be %q or %q, not %q", AuthRequired, AuthNone, rc.Auth)
	}
	for i, s := range rc.Scopes {
		if s == "" || strings.ContainsAny(s, " \t") {
			errs.addf(fmt.Sprintf("%s.scopes[%d]", at, i), "must be a non-empty word")
		}
	}
	switch {
	case r.BodyLimit == 0:
		r.BodyLimit = DefaultBodyLimit
	case r.BodyLimit < 0:
		errs.addf(at+".body_limit", "must be > 0")
	}
	if rc.RateLimit != nil {
		rl := *rc.RateLimit
		if rl.Rate <= 0 {
			errs.addf(at+".rate_limit.rate", "must be > 0")
		}
		if rl.Per == 0 {
			rl.Per = time.Second
		} else if rl.Per < 0 {
			errs.addf(at+".rate_limit.per", "must be > 0")
		}
		if rl.Burst == 0 {
			rl.Burst = rl.Rate
		} else if rl.Burst < 0 {
			errs.addf(at+".rate_limit.burst", "must be > 0")
		}
		switch {
		case rl.By == "":
			rl.By = "principal"
		case rl.By == "principal", rl.By == "api_key", rl.By == "ip":
		case strings.HasPrefix(rl.By, "claim:") && len(rl.By) > len("claim:"):
		default:
			errs.addf(at+".rate_limit.by", "must be principal, api_key, ip or claim:NAME, not %q", rl.By)
		}
		r.RateLimit = &rl
	}
	if rc.Reply != nil {
		rp := *rc.Reply
		if err := ValidTopic(rp.Topic); err != nil {
			errs.addf(at+".reply.topic", "%v", err)
		} else if slices.Contains(r.Topics(), rp.Topic) {
			errs.addf(at+".reply.topic", "must differ from the request topic")
		}
		if rp.Timeout == 0 {
			rp.Timeout = DefaultReplyTimeout
		} else if rp.Timeout < 0 {
			errs.addf(at+".reply.timeout", "must be > 0")
		}
		if rp.MaxWait == 0 {
			rp.MaxWait = max(DefaultReplyMaxWait, rp.Timeout)
		} else if rp.MaxWait < rp.Timeout {
			errs.addf(at+".reply.max_wait", "must be >= reply.timeout")
		}
		switch rp.OnTimeout {
		case "":
			rp.OnTimeout = "accept"
		case "accept", "fail":
		default:
			errs.addf(at+".reply.on_timeout", `must be "accept" or "fail", not %q`, rp.OnTimeout)
		}
		rp.CircuitBreaker.Check(func(field, msg string) { errs.addf(at+".reply.circuit_breaker."+field, "%s", msg) })
		if cc := rp.Cache; cc != nil {
			c := *cc
			if c.TTL <= 0 {
				errs.addf(at+".reply.cache.ttl", "required: how long a reply is served (e.g. 30s)")
			}
			switch {
			case c.MaxEntries == 0:
				c.MaxEntries = DefaultCacheMaxEntries
			case c.MaxEntries < 0:
				errs.addf(at+".reply.cache.max_entries", "must be positive")
			}
			rp.Cache = &c
		}
		if g := rp.Gather; g != nil {
			gc := *g
			if gc.Window <= 0 {
				errs.addf(at+".reply.gather.window", "required: how long replies are gathered (e.g. 2s)")
			}
			if gc.Min == 0 {
				gc.Min = 1
			}
			switch {
			case gc.Min < 0:
				errs.addf(at+".reply.gather.min", "must be positive")
			case gc.Max < 0, gc.Max > 0 && gc.Max < gc.Min:
				errs.addf(at+".reply.gather.max", "must be at least min (%d), or 0 for no maximum", gc.Min)
			}
			if rp.Cache != nil {
				errs.addf(at+".reply.gather", "a gathering route cannot have a reply cache")
			}
			rp.Gather = &gc
		}
		rp.CircuitBreaker = rp.CircuitBreaker.WithDefaults()
		r.Reply = &rp
	}
	return r, len(*errs) == n
}

// parsePath checks a route path and returns its parameter names.
func parsePath(at, p string, errs *fieldErrors) []string {
	if p == "" {
		errs.addf(at, "required")
		return nil
	}
	if !strings.HasPrefix(p, "/") {
		errs.addf(at, "must start with /")
		return nil
	}
	for _, rp := range reservedPaths {
		if p == rp || strings.HasPrefix(p, rp+"/") {
			errs.addf(at, "%s is served by ferry itself", rp)
			return nil
		}
	}
	var params []string
	for _, seg := range strings.Split(p[1:], "/") {
		if m := paramRe.FindStringSubmatch(seg); m != nil {
			if slices.Contains(params, m[1]) {
				errs.addf(at, "parameter {%s} appears twice", m[1])
			}
			params = append(params, m[1])
			continue
		}
		if !segRe.MatchString(seg) {
			errs.addf(at, "segment %q must be {name} or letters, digits and -._~", seg)
		}
	}
	return params
}

// checkParams reports template references to path parameters the path lacks.
func checkParams(at string, k *KeyTemplate, params []string, errs *fieldErrors) {
	for _, p := range k.parts {
		if p.kind == partPath && !slices.Contains(params, p.name) {
			errs.addf(at, "{path.%s} is not a parameter of the route's path", p.name)
		}
	}
}

// fieldErrors collects "field: problem" errors so that every problem of a
// config is reported at once.
type fieldErrors []error

func (e *fieldErrors) addf(field, format string, args ...any) {
	*e = append(*e, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

func (e fieldErrors) err() error { return errors.Join(e...) }

// StreamConfig is one entry of the `streams` section: a topic that clients
// subscribe to over SSE.
type StreamConfig struct {
	// Name is the stream's unique name in /v1/streams/{name}. Required.
	Name string `yaml:"name"`
	// Topic is the topic the stream reads. Required.
	Topic string `yaml:"topic"`
	// Scopes the subscriber must hold, all of them.
	Scopes []string `yaml:"scopes"`
	// Auth is "required" (the default) or "none".
	Auth string `yaml:"auth"`
	// Filters lists the filters subscribers may use: "key",
	// "header.NAME" and "where" (conditions on the JSON value, each
	// decoded per record: some CPU per subscriber). Empty allows none.
	Filters []string `yaml:"filters"`
	// Match limits each subscriber to records whose header, or value at
	// a JSON Pointer, equals one of its token's claims (tenant isolation).
	Match *MatchConfig `yaml:"match"`
}

// MatchConfig ties a record header, or the string at a JSON Pointer into
// the record's JSON value, to a principal's claim. Exactly one of Header
// and Pointer is set.
type MatchConfig struct {
	Header string `yaml:"header"`
	// Pointer is an RFC 6901 JSON Pointer (/tenant, /meta/tenant_id): the
	// record's value there must be a string equal to the claim; a record
	// that is not JSON, or has no string there, is never sent.
	Pointer string `yaml:"pointer"`
	Claim   string `yaml:"claim"`
}

// jsonPointer matches an RFC 6901 JSON Pointer other than "" (the whole
// value, which a tenant match never means).
var jsonPointer = regexp.MustCompile(`^(/([^~/]|~[01])*)+$`)

// ValidateStreams reports every problem of the `streams` section, each as
// "streams[i].field: problem".
func ValidateStreams(streams []StreamConfig) error {
	var errs fieldErrors
	names := make(map[string]int)
	for i, s := range streams {
		at := fmt.Sprintf("streams[%d]", i)
		switch {
		case s.Name == "":
			errs.addf(at+".name", "required")
		case !nameRe.MatchString(s.Name):
			errs.addf(at+".name", "must be letters, digits, '.', '_' or '-'")
		default:
			if j, dup := names[s.Name]; dup {
				errs.addf(at+".name", "duplicate of streams[%d].name %q", j, s.Name)
			}
			names[s.Name] = i
		}
		if err := ValidTopic(s.Topic); err != nil {
			errs.addf(at+".topic", "%v", err)
		}
		switch s.Auth {
		case "", AuthRequired, AuthNone:
		default:
			errs.addf(at+".auth", "must be %q or %q, not %q", AuthRequired, AuthNone, s.Auth)
		}
		for j, f := range s.Filters {
			if f != "key" && f != "where" && !(strings.HasPrefix(f, "header.") && hdrRe.MatchString(strings.TrimPrefix(f, "header."))) {
				errs.addf(fmt.Sprintf("%s.filters[%d]", at, j), "must be key, where or header.NAME, not %q", f)
			}
		}
		if m := s.Match; m != nil {
			switch {
			case m.Claim == "" || (m.Header == "") == (m.Pointer == ""):
				errs.addf(at+".match", "needs a claim and one of header or pointer")
			case m.Pointer != "" && !jsonPointer.MatchString(m.Pointer):
				errs.addf(at+".match.pointer", "must be a JSON Pointer (/tenant, /meta/tenant_id), not %q", m.Pointer)
			}
		}
	}
	return errs.err()
}

// TLSConfig is the `kafka.tls` section.
type TLSConfig struct {
	// CAFile is a PEM bundle of the CAs that sign the brokers' certificates;
	// empty uses the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are ferry's client certificate and key (PEM),
	// for brokers that require mutual TLS; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the brokers' certificates.
	ServerName string `yaml:"server_name"`
}

// Load reads the files of c into a TLS client configuration.
func (c TLSConfig) Load() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", c.CAFile)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("cert_file and key_file go together")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// SASLConfig is the `kafka.sasl` section.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	// Username and Password are the credentials; write the password as
	// ${ENV} so that it stays out of the file.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// compileView checks a GET route: it reads, so it has none of the
// sections that shape a record, and its key comes from the request's
// path, headers or claims.
func compileView(at string, rc RouteConfig, r *Route, errs *fieldErrors) {
	vc := ViewConfig{}
	if rc.View != nil {
		vc = *rc.View
	}
	switch {
	case vc.MaxKeys == 0:
		vc.MaxKeys = DefaultViewMaxKeys
	case vc.MaxKeys < 0:
		errs.addf(at+".view.max_keys", "must be > 0")
	}
	r.View = &vc
	for field, set := range map[string]bool{
		"reply": rc.Reply != nil, "batch": rc.Batch != nil, "body": rc.Body != nil, "schema": rc.Schema != "",
		"split": len(rc.Split) > 0, "headers": len(rc.Headers) > 0, "tombstone": rc.Tombstone != nil,
		"event_type": rc.EventType != "", "source": rc.Source != "", "content_types": len(rc.ContentTypes) > 0,
		"schema_subject": rc.SchemaSubject != "",
	} {
		if set {
			errs.addf(at+"."+field, "a GET route reads its topic and produces nothing: no %s", field)
		}
	}
	if strings.Contains(rc.Key, "{body.") {
		errs.addf(at+".key", "a GET has no body: use path, header or claim references")
	}
	if rc.KeyPrefix != "" {
		if rc.Key != "" {
			errs.addf(at+".key_prefix", "a route with a key reads one key; key_prefix is for collections")
		}
		k, err := ParseKeyTemplate(rc.KeyPrefix)
		switch {
		case err != nil:
			errs.addf(at+".key_prefix", "%v", err)
		case strings.Contains(rc.KeyPrefix, "{body."):
			errs.addf(at+".key_prefix", "a GET has no body: use path, header or claim references")
		default:
			checkParams(at+".key_prefix", k, r.Params, errs)
			r.KeyPrefix = k
		}
	}
}
