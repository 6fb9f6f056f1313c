package consumers

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// ReplayConfig is the `replay` section of ferry.yaml: who may read topic
// history, which topics, and how much.
type ReplayConfig struct {
	// Scopes the caller must hold, all of them; default ["admin"]. The
	// replay API is never open to callers without a scope.
	Scopes []string `yaml:"scopes"`
	// Topics are glob patterns (path.Match syntax, e.g. "orders.*") of the
	// topics replay may read and redrive may write. Empty (the default)
	// allows none. Kafka-internal topics (__*) are never allowed.
	Topics []string `yaml:"topics"`
	// MaxConcurrent caps the replays and redrives running at once on this
	// instance; default 4. Past it a request gets 429.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxRecords caps the records one replay or redrive delivers, and is
	// the default of its limit; default 100000.
	MaxRecords int `yaml:"max_records"`
	// StallTimeout ends a bounded replay with an error when Kafka delivers
	// nothing for this long although records remain; default 30s.
	StallTimeout time.Duration `yaml:"stall_timeout"`
}

// Defaults of ReplayConfig.
const (
	DefaultReplayScope         = "admin"
	DefaultReplayMaxConcurrent = 4
	DefaultReplayMaxRecords    = 100000
	DefaultReplayStallTimeout  = 30 * time.Second
)

// WithDefaults returns c with every unset field at its documented default.
func (c ReplayConfig) WithDefaults() ReplayConfig {
	if len(c.Scopes) == 0 {
		c.Scopes = []string{DefaultReplayScope}
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultReplayMaxConcurrent
	}
	if c.MaxRecords == 0 {
		c.MaxRecords = DefaultReplayMaxRecords
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultReplayStallTimeout
	}
	return c
}

// Validate reports every problem of the section, each as "field: problem".
func (c ReplayConfig) Validate() error {
	var errs []error
	for i, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t") {
			errs = append(errs, fmt.Errorf("scopes[%d]: must be a non-empty word", i))
		}
	}
	for i, p := range c.Topics {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			errs = append(errs, fmt.Errorf("topics[%d]: %q is not a glob pattern", i, p))
		}
	}
	if c.MaxConcurrent < 0 {
		errs = append(errs, fmt.Errorf("max_concurrent: must be > 0"))
	}
	if c.MaxRecords < 0 {
		errs = append(errs, fmt.Errorf("max_records: must be > 0"))
	}
	if c.StallTimeout < 0 {
		errs = append(errs, fmt.Errorf("stall_timeout: must be > 0"))
	}
	return errors.Join(errs...)
}

// Allowed reports whether replay may read (or redrive write) topic: it
// matches one of the Topics patterns and is not Kafka-internal.
func (c ReplayConfig) Allowed(topic string) bool { return MatchTopic(c.Topics, topic) }

// MatchTopic reports whether topic matches one of patterns (path.Match
// syntax, e.g. "orders.*"). Kafka-internal topics (__*) never match.
func MatchTopic(patterns []string, topic string) bool {
	if topic == "" || strings.HasPrefix(topic, "__") {
		return false
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, topic); ok {
			return true
		}
	}
	return false
}
