package topics

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// SplitTarget is one entry of a route's `split`: a topic and its weight,
// and optionally the requests forced to it.
type SplitTarget struct {
	// Topic receives this target's share of the route's records. Required.
	Topic string `yaml:"topic"`
	// Weight is the target's share relative to the others' (integers
	// that need not add up to 100); 0 receives only what When forces.
	Weight int `yaml:"weight"`
	// When forces a request to this target when it matches.
	When *SplitWhen `yaml:"when"`
}

// SplitWhen matches requests by header or JWT claim equality: every entry
// must match.
type SplitWhen struct {
	// Header maps request header names to the values they must have.
	Header map[string]string `yaml:"header"`
	// Claim maps claims of the caller's token to the values they must
	// have.
	Claim map[string]string `yaml:"claim"`
}

// matches reports whether the request's fields satisfy w.
func (w *SplitWhen) matches(f Fields) bool {
	if w == nil || f == nil {
		return false
	}
	for name, want := range w.Header {
		if f.Header(name) != want {
			return false
		}
	}
	for name, want := range w.Claim {
		if got, ok := f.Claim(name); !ok || got != want {
			return false
		}
	}
	return true
}

// compileSplit checks a route's split section.
func compileSplit(at string, split []SplitTarget, errs *fieldErrors) {
	total := 0
	seen := make(map[string]int)
	for i, t := range split {
		tat := fmt.Sprintf("%s.split[%d]", at, i)
		if err := ValidTopic(t.Topic); err != nil {
			errs.addf(tat+".topic", "%v", err)
		} else if j, dup := seen[t.Topic]; dup {
			errs.addf(tat+".topic", "duplicate of split[%d].topic %q", j, t.Topic)
		} else {
			seen[t.Topic] = i
		}
		if t.Weight < 0 {
			errs.addf(tat+".weight", "must be 0 or more, not %d", t.Weight)
		}
		total += max(t.Weight, 0)
		if t.When != nil {
			if len(t.When.Header)+len(t.When.Claim) == 0 {
				errs.addf(tat+".when", "needs a header or a claim to match")
			}
			for name := range t.When.Header {
				if !hdrRe.MatchString(name) {
					errs.addf(tat+".when.header", "%q is not a header name", name)
				}
			}
		}
	}
	if len(split) > 0 && total == 0 {
		errs.addf(at+".split", "at least one target needs a weight above 0")
	}
}

// Topics returns every topic the route publishes to: its topic, or the
// targets of its split.
func (r Route) Topics() []string {
	if len(r.Split) == 0 {
		return []string{r.Topic}
	}
	out := make([]string, len(r.Split))
	for i, t := range r.Split {
		out[i] = t.Topic
	}
	return out
}

// ChooseTopic returns the topic a record of the route goes to: its topic,
// or, with a split, the first target whose When matches f, else a target
// chosen by weight. A record with a key always goes to the same target, on
// every instance and across restarts: the choice is weighted rendezvous
// hashing of the key, so a weight change moves only the keys it must. A
// record without a key (key nil) goes to a random target, by weight.
func (r *Route) ChooseTopic(key []byte, f Fields) string {
	if len(r.Split) == 0 {
		return r.Topic
	}
	for _, t := range r.Split {
		if t.When.matches(f) {
			return t.Topic
		}
	}
	if key == nil {
		total := 0
		for _, t := range r.Split {
			total += t.Weight
		}
		n := rand.IntN(total)
		for _, t := range r.Split {
			if n < t.Weight {
				return t.Topic
			}
			n -= t.Weight
		}
	}
	best, bestScore := r.Split[0].Topic, math.Inf(-1)
	for _, t := range r.Split {
		if t.Weight <= 0 {
			continue
		}
		// Weighted rendezvous: score = -weight / ln(u), u uniform in
		// (0, 1) from a hash of key and target; the highest score wins.
		// A target's chance is its share of the weights.
		u := (float64(splitHash(key, t.Topic)>>11) + 0.5) / (1 << 53)
		if s := -float64(t.Weight) / math.Log(u); s > bestScore {
			best, bestScore = t.Topic, s
		}
	}
	return best
}

// splitHash hashes a key and a topic, stably across processes: FNV-1a,
// then a splitmix64 finaliser so that similar keys spread.
func splitHash(key []byte, topic string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	x := uint64(offset)
	for _, c := range key {
		x = (x ^ uint64(c)) * prime
	}
	x *= prime // the separator, a zero byte
	for i := 0; i < len(topic); i++ {
		x = (x ^ uint64(topic[i])) * prime
	}
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
