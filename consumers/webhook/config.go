package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/topics"
)

// Config is one entry of the `webhooks` section of ferry.yaml: a topic
// whose records are POSTed to a URL.
type Config struct {
	// Name is the webhook's unique name, used in its consumer group id
	// (GroupID), in logs and in metric labels. Required.
	Name string `yaml:"name"`
	// Topic is the topic whose records are delivered. Required.
	Topic string `yaml:"topic"`
	// URL is the http:// or https:// endpoint each record is POSTed to.
	// Required. Redirects are not followed.
	URL string `yaml:"url"`
	// Filters keep the records that match all of them: "key=K" or
	// "header.NAME=V", as the filters of a stream subscription. The
	// others are committed without delivery. Empty delivers every record.
	Filters []string `yaml:"filters"`
	// SecretFile holds the signing secret, "whsec_" and the base64 of
	// 24 to 64 random bytes (the Standard Webhooks format); several lines
	// hold several secrets, each of which signs every request (rotation).
	// Required.
	SecretFile string `yaml:"secret_file"`
	// Retry says how failed deliveries are retried.
	Retry RetryConfig `yaml:"retry"`
	// DeadLetterTopic receives the records whose attempts are exhausted.
	// Empty (the default) keeps retrying them instead, at MaxBackoff, and
	// commits nothing past them.
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// MaxInFlight is how many deliveries run at once, each of a different
	// key; default 16.
	MaxInFlight int `yaml:"max_in_flight"`
	// Timeout bounds one attempt, from connecting to reading the status;
	// default 15s.
	Timeout time.Duration `yaml:"timeout"`
	// CircuitBreaker stops delivering to an endpoint that is down.
	CircuitBreaker BreakerConfig `yaml:"circuit_breaker"`
	// SessionTimeout is how long the consumer group waits for a member
	// that stopped heartbeating (a crashed instance) before its
	// partitions go to the others; default 45s, Kafka's. The broker
	// bounds it (group.min.session.timeout.ms, 6s by default).
	SessionTimeout time.Duration `yaml:"session_timeout"`
}

// RetryConfig is the `retry` section of a webhook.
type RetryConfig struct {
	// MaxAttempts counts every attempt, the first one included; default 8.
	MaxAttempts int `yaml:"max_attempts"`
	// Backoff is the wait after the first failed attempt; it doubles after
	// each further failure, up to MaxBackoff; default 1s. Each wait is
	// drawn at random from its upper half (jitter).
	Backoff time.Duration `yaml:"backoff"`
	// MaxBackoff caps the wait, also one asked for with Retry-After;
	// default 5m.
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// BreakerConfig is the `circuit_breaker` section of a webhook.
type BreakerConfig struct {
	// Failures is how many attempts in a row must fail for the endpoint
	// to count as down (connection errors, timeouts, 408, 429 and 5xx;
	// other answers show it is up); default 5.
	Failures int `yaml:"failures"`
	// Window clears the count of failures in a row this often while the
	// breaker is closed; default 1m.
	Window time.Duration `yaml:"window"`
	// OpenFor is how long the breaker stays open before one attempt
	// probes the endpoint; default 30s.
	OpenFor time.Duration `yaml:"open_for"`
}

// Defaults used by WithDefaults.
const (
	DefaultMaxAttempts = 8
	DefaultBackoff     = time.Second
	DefaultMaxBackoff  = 5 * time.Minute
	DefaultMaxInFlight = 16
	DefaultTimeout     = 15 * time.Second
	DefaultFailures    = 5
	DefaultWindow      = time.Minute
	DefaultOpenFor     = 30 * time.Second
	DefaultSession     = 45 * time.Second

	// maxMaxInFlight bounds max_in_flight: each delivery holds a
	// connection to the endpoint.
	maxMaxInFlight = 1024
)

// GroupPrefix starts the consumer group id of every webhook: the group of
// webhook "billing" is "ferry-webhook-billing".
const GroupPrefix = "ferry-webhook-"

// GroupID returns the webhook's consumer group id. Every ferry instance
// with the same webhook joins the same group, so each record is delivered
// by one of them.
func (c Config) GroupID() string { return GroupPrefix + c.Name }

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = DefaultMaxAttempts
	}
	if c.Retry.Backoff == 0 {
		c.Retry.Backoff = DefaultBackoff
	}
	if c.Retry.MaxBackoff == 0 {
		c.Retry.MaxBackoff = max(DefaultMaxBackoff, c.Retry.Backoff)
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.CircuitBreaker.Failures == 0 {
		c.CircuitBreaker.Failures = DefaultFailures
	}
	if c.CircuitBreaker.Window == 0 {
		c.CircuitBreaker.Window = DefaultWindow
	}
	if c.CircuitBreaker.OpenFor == 0 {
		c.CircuitBreaker.OpenFor = DefaultOpenFor
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSession
	}
	return c
}

var (
	nameRe   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)
	headerRe = regexp.MustCompile(`^[a-zA-Z0-9!#$%&'*+.^_|~-]+$`)
)

// Validate reports every problem of the `webhooks` section (defaults
// applied), each as "webhooks[i].field: problem": names, topics, the URL
// (http or https, no credentials), filters, the secret file (it must exist
// and parse) and the numbers.
func Validate(hooks []Config) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	names := make(map[string]int)
	for i, c := range hooks {
		at := fmt.Sprintf("webhooks[%d]", i)
		switch {
		case c.Name == "":
			add(at+".name", "required")
		case !nameRe.MatchString(c.Name):
			add(at+".name", "must be letters, digits, '.', '_' or '-'")
		default:
			if j, dup := names[c.Name]; dup {
				add(at+".name", "duplicate of webhooks[%d].name %q", j, c.Name)
			}
			names[c.Name] = i
		}
		if err := topics.ValidTopic(c.Topic); err != nil {
			add(at+".topic", "%v", err)
		}
		if err := checkURL(c.URL); err != nil {
			add(at+".url", "%v", err)
		}
		if _, err := ParseFilters(c.Filters); err != nil {
			var fe *filterError
			if errors.As(err, &fe) {
				add(fmt.Sprintf("%s.filters[%d]", at, fe.index), "%v", fe.err)
			} else {
				add(at+".filters", "%v", err)
			}
		}
		if c.SecretFile == "" {
			add(at+".secret_file", "required: requests are always signed")
		} else if _, err := LoadSecrets(c.SecretFile); err != nil {
			add(at+".secret_file", "%v", err)
		}
		if c.DeadLetterTopic != "" {
			if err := topics.ValidTopic(c.DeadLetterTopic); err != nil {
				add(at+".dead_letter_topic", "%v", err)
			} else if c.DeadLetterTopic == c.Topic {
				add(at+".dead_letter_topic", "must differ from topic, or failed records would be delivered again")
			}
		}
		if c.Retry.MaxAttempts < 1 {
			add(at+".retry.max_attempts", "must be at least 1")
		}
		if c.Retry.Backoff < 0 {
			add(at+".retry.backoff", "must be > 0")
		}
		if c.Retry.MaxBackoff < c.Retry.Backoff {
			add(at+".retry.max_backoff", "must be at least retry.backoff (%s)", c.Retry.Backoff)
		}
		if c.MaxInFlight < 1 || c.MaxInFlight > maxMaxInFlight {
			add(at+".max_in_flight", "must be between 1 and %d", maxMaxInFlight)
		}
		if c.Timeout < 0 {
			add(at+".timeout", "must be > 0")
		}
		if c.SessionTimeout < 0 {
			add(at+".session_timeout", "must be > 0")
		}
		if c.CircuitBreaker.Failures < 1 {
			add(at+".circuit_breaker.failures", "must be at least 1")
		}
		if c.CircuitBreaker.Window < 0 {
			add(at+".circuit_breaker.window", "must be > 0")
		}
		if c.CircuitBreaker.OpenFor < 0 {
			add(at+".circuit_breaker.open_for", "must be > 0")
		}
	}
	return errors.Join(errs...)
}

// checkURL accepts absolute http and https URLs without credentials or a
// fragment.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("the scheme must be http or https, not %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return errors.New("needs a host")
	case u.User != nil:
		return errors.New("must not carry credentials (user:password@); requests are signed instead")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not have a #fragment")
	}
	return nil
}

// filterError is the problem of one entry of a filter list.
type filterError struct {
	index int
	err   error
}

func (e *filterError) Error() string { return fmt.Sprintf("filters[%d]: %v", e.index, e.err) }
func (e *filterError) Unwrap() error { return e.err }

// ParseFilters turns a webhook's filter list into a consumers.Filter:
// "key=K" keeps records whose key is K, "header.NAME=V" those whose NAME
// headers are all V. Each name may appear once.
func ParseFilters(list []string) (consumers.Filter, error) {
	var f consumers.Filter
	seen := make(map[string]int)
	for i, s := range list {
		name, value, ok := strings.Cut(s, "=")
		if !ok {
			return f, &filterError{i, fmt.Errorf("must be key=VALUE or header.NAME=VALUE, not %q", s)}
		}
		norm := strings.ToLower(name)
		if j, dup := seen[norm]; dup {
			return f, &filterError{i, fmt.Errorf("%s is already filtered by filters[%d] (filters must all match)", name, j)}
		}
		seen[norm] = i
		switch {
		case name == "key":
			f.Key, f.ByKey = value, true
		case strings.HasPrefix(name, "header.") && headerRe.MatchString(strings.TrimPrefix(name, "header.")):
			f = f.WithHeader(strings.TrimPrefix(name, "header."), value)
		default:
			return f, &filterError{i, fmt.Errorf("must be key=VALUE or header.NAME=VALUE, not %q", s)}
		}
	}
	return f, nil
}
