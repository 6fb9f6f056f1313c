// Package group holds ferry's stateless HTTP consumer groups: members that
// poll a topic over HTTP through any ferry instance, with partitions split
// among the group's live members by leases (kept by a Leases store: Redis,
// wired by cmd/ferry), records read from the group's committed offsets,
// and commits written as Kafka's own group offsets, which Kafka's tools
// (kcat, kafka-consumer-groups) see.
//
// No instance keeps a consumer per member: a poll renews the member's
// lease, learns the partitions it holds, reads them with a short-lived
// client (consumers.Replayer) and records where the member stands in the
// Leases store, so the next poll can go to any instance.
//
// It may import consumers and topics; it never imports Fiber, Redis
// clients or Prometheus, nor anything above it.
package group

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/ferry-gw/ferry/consumers"
)

// Rule is one entry of the groups section: the groups whose names start
// with NamePrefix may read Topics, for callers holding every one of
// Scopes.
type Rule struct {
	// NamePrefix starts the names of the groups the rule covers; "" covers
	// every group. Names starting with "ferry-" are ferry's own (webhooks,
	// the demo responder) and never covered.
	NamePrefix string `yaml:"name_prefix"`
	// Topics are glob patterns (path.Match syntax, e.g. "orders.*") of the
	// topics the groups may read. Kafka-internal topics (__*) never match.
	Topics []string `yaml:"topics"`
	// Scopes the caller must hold, all of them. At least one is required:
	// consumer groups are never open to callers without a scope.
	Scopes []string `yaml:"scopes"`
	// Lease is how long a member stays in its group after its last poll;
	// its partitions move to the other members once it has passed. Default
	// 30s, at least 1s.
	Lease time.Duration `yaml:"lease"`
	// AutoCommit commits, at the start of each poll, the offsets up to
	// which the member's previous poll delivered records (a poll's body may
	// say otherwise). Default false: the member commits with
	// POST /v1/groups/{group}/commit.
	AutoCommit bool `yaml:"auto_commit"`
	// Start is where a group without committed offsets starts reading:
	// "earliest" (the default) or "latest".
	Start string `yaml:"start"`
	// MaxRecords caps max_records of one poll; default 1000.
	MaxRecords int `yaml:"max_records"`
}

// Defaults and bounds of a Rule and of a poll.
const (
	DefaultLease      = 30 * time.Second
	MinLease          = time.Second
	DefaultMaxRecords = 1000
	// DefaultPollRecords and DefaultPollWait are a poll's max_records and
	// max_wait when its body leaves them out (bounded by the rule).
	DefaultPollRecords = 100
	DefaultPollWait    = 5 * time.Second
	StartEarliest      = "earliest"
	StartLatest        = "latest"
	// ReservedPrefix starts the group ids ferry uses itself.
	ReservedPrefix = "ferry-"
)

// WithDefaults returns r with every unset field at its default.
func (r Rule) WithDefaults() Rule {
	if r.Lease == 0 {
		r.Lease = DefaultLease
	}
	if r.Start == "" {
		r.Start = StartEarliest
	}
	if r.MaxRecords == 0 {
		r.MaxRecords = DefaultMaxRecords
	}
	return r
}

// MaxWait is the longest max_wait a poll may ask for: half the lease, so
// that a member waiting in a poll is never taken for gone.
func (r Rule) MaxWait() time.Duration { return r.Lease / 2 }

// Covers reports whether the rule lets group read topic.
func (r Rule) Covers(group, topic string) bool {
	return strings.HasPrefix(group, r.NamePrefix) && r.allows(topic)
}

func (r Rule) allows(topic string) bool { return consumers.MatchTopic(r.Topics, topic) }

// Config is the groups section: the first rule that covers a group and
// topic decides.
type Config []Rule

// WithDefaults returns c with each rule at its defaults.
func (c Config) WithDefaults() Config {
	out := make(Config, len(c))
	for i, r := range c {
		out[i] = r.WithDefaults()
	}
	return out
}

// Rule returns the first rule covering group and topic.
func (c Config) Rule(group, topic string) (Rule, bool) {
	if CheckName(group) != nil {
		return Rule{}, false
	}
	for _, r := range c {
		if r.Covers(group, topic) {
			return r, true
		}
	}
	return Rule{}, false
}

// Topics returns the topic patterns of every rule (what the groups'
// reader may read).
func (c Config) Topics() []string {
	var out []string
	for _, r := range c {
		out = append(out, r.Topics...)
	}
	return out
}

// MaxRecords is the largest cap of any rule.
func (c Config) MaxRecords() int {
	n := 0
	for _, r := range c {
		n = max(n, r.MaxRecords)
	}
	return n
}

var (
	nameRe   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
	memberRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	prefixRe = regexp.MustCompile(`^[A-Za-z0-9._-]*$`)
)

// CheckName checks a group name: 1 to 249 letters, digits, '.', '_' or
// '-' (what a URL path segment carries as is and Kafka accepts), not
// starting with ReservedPrefix. Errors wrap ErrBadRequest or
// ErrNotAllowed.
func CheckName(group string) error {
	if !nameRe.MatchString(group) {
		return fmt.Errorf("group name %q: 1 to 249 letters, digits, '.', '_' or '-': %w", group, ErrBadRequest)
	}
	if strings.HasPrefix(group, ReservedPrefix) {
		return fmt.Errorf("group %s: names starting with %q are ferry's own: %w", group, ReservedPrefix, ErrNotAllowed)
	}
	return nil
}

// CheckMember checks a member id: 1 to 64 letters, digits, '_' or '-'.
func CheckMember(member string) error {
	if !memberRe.MatchString(member) {
		return fmt.Errorf("member id %q: 1 to 64 letters, digits, '_' or '-': %w", member, ErrBadRequest)
	}
	return nil
}

// Validate reports every problem of the groups section, each naming its
// field (groups[i].scopes, ...).
func Validate(c Config) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	for i, r := range c {
		at := fmt.Sprintf("groups[%d]", i)
		if r.NamePrefix != "" && !prefixRe.MatchString(r.NamePrefix) {
			add(at+".name_prefix", "must be letters, digits, '.', '_' or '-'")
		}
		if strings.HasPrefix(r.NamePrefix, ReservedPrefix) {
			add(at+".name_prefix", "group names starting with %q are ferry's own", ReservedPrefix)
		}
		if len(r.Topics) == 0 {
			add(at+".topics", "required: the topics (or glob patterns) the groups may read")
		}
		for j, t := range r.Topics {
			if _, err := path.Match(t, ""); err != nil || t == "" {
				add(fmt.Sprintf("%s.topics[%d]", at, j), "%q is not a topic name or glob pattern", t)
			}
		}
		if len(r.Scopes) == 0 {
			add(at+".scopes", "required: consumer groups are never open to callers without a scope")
		}
		for j, s := range r.Scopes {
			if strings.TrimSpace(s) == "" {
				add(fmt.Sprintf("%s.scopes[%d]", at, j), "empty scope")
			}
		}
		if r.Lease != 0 && r.Lease < MinLease {
			add(at+".lease", "%s is below the minimum of %s", r.Lease, MinLease)
		}
		if r.Start != "" && r.Start != StartEarliest && r.Start != StartLatest {
			add(at+".start", "%q must be earliest or latest", r.Start)
		}
		if r.MaxRecords < 0 {
			add(at+".max_records", "must be > 0")
		}
	}
	return errors.Join(errs...)
}
