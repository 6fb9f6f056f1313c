package correlator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Partition leases (layout partition) and reply positions, in Redis:
//
//	P lease:TOPIC:PARTITION   string: the holder's instance id, with a TTL
//	P replies:TOPIC           hash: PARTITION -> "OFFSET,UNIXMS", where the
//	                          last instance to stop reading it stopped
//
// A lease is taken with SET NX, renewed and released only by its holder.
// Positions let the next reader of a partition pick up replies that arrived
// while nobody read it, so that results of a restarted instance are kept.

func (s *Store) leaseKey(topic string, p int32) string {
	return s.prefix + "lease:" + topic + ":" + strconv.Itoa(int(p))
}

// renewScript extends a lease held by ARGV[1].
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

// releaseScript deletes a lease held by ARGV[1].
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// adoptPrefix marks the lease of a partition an instance reads for a
// stopped one (Correlator.adopt): another instance may take it over.
const adoptPrefix = "adopt:"

// takeAdoptedScript takes over a lease held by an adopter.
var takeAdoptedScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 6) == 'adopt:' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
`)

// acquire leases the first free partition of topic's n for holder; when
// none is free, the first one only adopted for a stopped instance.
func (s *Store) acquire(ctx context.Context, topic string, n int32, holder string, ttl time.Duration) (int32, error) {
	for p := int32(0); p < n; p++ {
		ok, err := s.rdb.SetNX(ctx, s.leaseKey(topic, p), holder, ttl).Result()
		if err != nil {
			return 0, fmt.Errorf("lease %s: %w", topic, errors.Join(ErrUnavailable, err))
		}
		if ok {
			return p, nil
		}
	}
	for p := int32(0); p < n; p++ {
		took, err := takeAdoptedScript.Run(ctx, s.rdb, []string{s.leaseKey(topic, p)}, holder, ttl.Milliseconds()).Int()
		if err != nil {
			return 0, fmt.Errorf("lease %s: %w", topic, errors.Join(ErrUnavailable, err))
		}
		if took == 1 {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%w: all %d partitions of %s are leased", ErrNoPartition, n, topic)
}

// adoptLease takes the free lease of topic/p for an adopter.
func (s *Store) adoptLease(ctx context.Context, topic string, p int32, holder string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.leaseKey(topic, p), holder, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("adopt lease %s/%d: %w", topic, p, errors.Join(ErrUnavailable, err))
	}
	return ok, nil
}

// renewHeld extends holder's lease of topic/p, never taking it back: it
// reports false when holder no longer holds it.
func (s *Store) renewHeld(ctx context.Context, topic string, p int32, holder string, ttl time.Duration) (bool, error) {
	n, err := renewScript.Run(ctx, s.rdb, []string{s.leaseKey(topic, p)}, holder, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew lease %s/%d: %w", topic, p, errors.Join(ErrUnavailable, err))
	}
	return n == 1, nil
}

// renew extends holder's lease of topic/p; if it expired meanwhile it is
// taken again when free. It reports false when another instance holds it.
func (s *Store) renew(ctx context.Context, topic string, p int32, holder string, ttl time.Duration) (bool, error) {
	k := s.leaseKey(topic, p)
	n, err := renewScript.Run(ctx, s.rdb, []string{k}, holder, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew lease %s: %w", k, errors.Join(ErrUnavailable, err))
	}
	if n == 1 {
		return true, nil
	}
	ok, err := s.rdb.SetNX(ctx, k, holder, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("renew lease %s: %w", k, errors.Join(ErrUnavailable, err))
	}
	return ok, nil
}

// release gives up holder's lease of topic/p.
func (s *Store) release(ctx context.Context, topic string, p int32, holder string) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{s.leaseKey(topic, p)}, holder).Err(); err != nil {
		return fmt.Errorf("release lease %s/%d: %w", topic, p, errors.Join(ErrUnavailable, err))
	}
	return nil
}

// position is where a stopped reader left a partition.
type position struct {
	offset int64
	at     time.Time
}

// savePositions records where this instance stopped reading topic.
func (s *Store) savePositions(ctx context.Context, topic string, next map[int32]int64) error {
	if len(next) == 0 {
		return nil
	}
	k := s.prefix + "replies:" + topic
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	vals := make([]any, 0, 2*len(next))
	for p, o := range next {
		vals = append(vals, strconv.Itoa(int(p)), strconv.FormatInt(o, 10)+","+now)
	}
	_, err := s.rdb.TxPipelined(ctx, func(pl redis.Pipeliner) error {
		pl.HSet(ctx, k, vals...)
		pl.PExpire(ctx, k, s.ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("save reply positions of %s: %w", topic, errors.Join(ErrUnavailable, err))
	}
	return nil
}

// loadPositions reads where stopped readers left topic's partitions.
func (s *Store) loadPositions(ctx context.Context, topic string) (map[int32]position, error) {
	m, err := s.rdb.HGetAll(ctx, s.prefix+"replies:"+topic).Result()
	if err != nil {
		return nil, fmt.Errorf("load reply positions of %s: %w", topic, errors.Join(ErrUnavailable, err))
	}
	out := make(map[int32]position, len(m))
	for k, v := range m {
		p, err1 := strconv.ParseInt(k, 10, 32)
		o, ms, _ := strings.Cut(v, ",")
		off, err2 := strconv.ParseInt(o, 10, 64)
		at, err3 := strconv.ParseInt(ms, 10, 64)
		if err1 == nil && err2 == nil && err3 == nil {
			out[int32(p)] = position{offset: off, at: time.UnixMilli(at)}
		}
	}
	return out, nil
}
