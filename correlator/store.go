package correlator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxReplies caps the replies kept per result: past it progress replies
// are dropped, the final one is still kept.
const maxReplies = 256

// Result is an asynchronous request's state in the Store.
type Result struct {
	// ID is the request's event id.
	ID string
	// Owner is who sent the request, as given to Register.
	Owner string
	// Route is the name of the route the request came in on, as given to
	// Detach ("" for results kept before routes were recorded).
	Route string
	// Replies are the progress replies and, last, the final one, in the
	// order they were read. A gathering result holds every final reply.
	Replies []Reply
	// Gather, when > 0, makes this a scatter-gather result (a route's
	// reply.gather, asked for asynchronously): it collects final replies
	// until it holds Gather of them or Until passes.
	Gather int
	Until  time.Time
}

// Final returns the final reply, if it arrived; for a gathering result,
// the last one gathered once the gathering is over (Gathered).
func (r *Result) Final() (Reply, bool) {
	if r.Gather > 0 {
		if !r.Done() {
			return Reply{}, false
		}
		for i := len(r.Replies) - 1; i >= 0; i-- {
			if r.Replies[i].Final {
				return r.Replies[i], true
			}
		}
		return Reply{}, false
	}
	if n := len(r.Replies); n > 0 && r.Replies[n-1].Final {
		return r.Replies[n-1], true
	}
	return Reply{}, false
}

// Done reports whether the result will not change any more: its final
// reply arrived or, for a gathering result, it holds Gather final
// replies or its window has passed.
func (r *Result) Done() bool {
	if r.Gather == 0 {
		_, done := r.Final()
		return done
	}
	finals := 0
	for _, rep := range r.Replies {
		if rep.Final {
			finals++
		}
	}
	return finals >= r.Gather || !time.Now().Before(r.Until)
}

// Gathered returns the final replies of a gathering result, and whether
// the gathering is over.
func (r *Result) Gathered() ([]Reply, bool) {
	var reps []Reply
	for _, rep := range r.Replies {
		if rep.Final {
			reps = append(reps, rep)
		}
	}
	return reps, r.Done()
}

// Store keeps asynchronous results in Redis, readable from any instance, and
// tells local watchers when a result changes (one shared pub/sub
// subscription per instance). It is safe for concurrent use.
//
// Keys, with P the key prefix and ID the event id (the braces are Redis
// Cluster hash tags, keeping both keys of a result in one slot):
//
//	P result:{ID}           hash: owner, state (pending|done), created, route, gather and until (scatter-gather), finals, r:TOPIC:PARTITION:OFFSET dedupe marks
//	P result:{ID}:replies   list: encoded replies, progress then final
//	P results               pub/sub channel: the ids of changed results
type Store struct {
	rdb     *redis.Client
	prefix  string
	ttl     time.Duration
	channel string
	log     *slog.Logger

	ps *redis.PubSub

	mu       sync.Mutex
	watchers map[string]map[chan struct{}]struct{}
}

// NewStore returns a Store over rdb. It does not own rdb.
func NewStore(rdb *redis.Client, prefix string, ttl time.Duration, log *slog.Logger) *Store {
	return &Store{
		rdb: rdb, prefix: prefix, ttl: ttl, channel: prefix + "results", log: log,
		watchers: make(map[string]map[chan struct{}]struct{}),
	}
}

func (s *Store) keys(id string) []string {
	k := s.prefix + "result:{" + id + "}"
	return []string{k, k + ":replies"}
}

// pendingScript creates a pending result unless one exists.
var pendingScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'state', 'pending', 'created', ARGV[2], 'route', ARGV[4])
if tonumber(ARGV[5]) > 0 then redis.call('HSET', KEYS[1], 'gather', ARGV[5], 'until', ARGV[6]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// pushScript appends a reply to a pending result, once per record: a
// result that is unknown, done, or already holds this record is left
// alone (return 0). A final reply completes it and restarts its TTL; on
// a gathering result, the final reply that makes its count does, and a
// reply after its window (ARGV[8], now, past 'until') completes it and
// is dropped, as late.
var pushScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
local gather = tonumber(redis.call('HGET', KEYS[1], 'gather') or '0')
if gather > 0 and tonumber(ARGV[8]) >= tonumber(redis.call('HGET', KEYS[1], 'until')) then
  redis.call('HSET', KEYS[1], 'state', 'done')
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  return 0
end
if redis.call('HSETNX', KEYS[1], ARGV[3], '1') == 0 then return 0 end
local final = ARGV[2] == '1'
if not final and redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[7]) - 1 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
if final and gather > 0 and redis.call('HINCRBY', KEYS[1], 'finals', 1) < gather then
  final = false
end
if final then
  redis.call('HSET', KEYS[1], 'state', 'done')
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
else
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
`)

// Pending records that the reply of id, a request on route, is to be kept
// for owner. Replies that arrive afterwards, on any instance, are kept
// (Push). An existing result is left as it is. With g.Max > 0 the result
// gathers final replies (Result.Gather) until g.Until.
func (s *Store) Pending(ctx context.Context, id, owner, route string, g GatherSpec) error {
	err := pendingScript.Run(ctx, s.rdb, s.keys(id), owner, time.Now().UnixMilli(), s.ttl.Milliseconds(), route,
		g.Max, g.Until.UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("keep result %s: %w", id, errors.Join(ErrUnavailable, err))
	}
	return nil
}

// GatherSpec is what Pending records of a scatter-gather result: keep up
// to Max final replies until Until. The zero value keeps one reply.
type GatherSpec struct {
	Max   int
	Until time.Time
}

// push is one reply for Push.
type push struct {
	id    string
	reply Reply
	// waiting marks a progress reply whose synchronous request was
	// waiting when it was read: if the store does not keep it, it still
	// counts as ReplyMatched, not ReplyUnknown.
	waiting bool
}

// Push appends replies to their results when those are pending, and
// reports how many it kept. Replies for unknown results (foreign or
// synchronous requests) cost one round trip for the whole batch.
func (s *Store) Push(ctx context.Context, batch []push) (int, error) {
	kept, err := s.pushEach(ctx, batch)
	n := 0
	for _, k := range kept {
		if k {
			n++
		}
	}
	return n, err
}

// pushEach is Push, reporting for each reply of batch whether it was kept.
func (s *Store) pushEach(ctx context.Context, batch []push) ([]bool, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	run := func(useSHA bool) ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, len(batch))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, b := range batch {
				enc, err := encodeReply(&b.reply)
				if err != nil {
					return err
				}
				final := "0"
				if b.reply.Final {
					final = "1"
				}
				mark := "r:" + b.reply.Topic + ":" + strconv.Itoa(int(b.reply.Partition)) + ":" + strconv.FormatInt(b.reply.Offset, 10)
				args := []any{enc, final, mark, s.ttl.Milliseconds(), s.channel, b.id, maxReplies, time.Now().UnixMilli()}
				if useSHA {
					cmds[i] = pushScript.EvalSha(ctx, p, s.keys(b.id), args...)
				} else {
					cmds[i] = pushScript.Eval(ctx, p, s.keys(b.id), args...)
				}
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := run(true)
	if err != nil && strings.Contains(err.Error(), "NOSCRIPT") {
		cmds, err = run(false) // a restarted Redis forgot the script; Eval loads it
	}
	if err != nil {
		return nil, fmt.Errorf("keep replies: %w", errors.Join(ErrUnavailable, err))
	}
	kept := make([]bool, len(cmds))
	for i, c := range cmds {
		n, _ := c.Int()
		kept[i] = n == 1
	}
	return kept, nil
}

// Get reads a result; ErrUnknownID when there is none.
func (s *Store) Get(ctx context.Context, id string) (*Result, error) {
	k := s.keys(id)
	var h *redis.MapStringStringCmd
	var l *redis.StringSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		h = p.HGetAll(ctx, k[0])
		l = p.LRange(ctx, k[1], 0, -1)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read result %s: %w", id, errors.Join(ErrUnavailable, err))
	}
	fields := h.Val()
	if len(fields) == 0 {
		return nil, ErrUnknownID
	}
	res := &Result{ID: id, Owner: fields["owner"], Route: fields["route"]}
	if g, _ := strconv.Atoi(fields["gather"]); g > 0 {
		until, _ := strconv.ParseInt(fields["until"], 10, 64)
		res.Gather, res.Until = g, time.UnixMilli(until)
	}
	for _, raw := range l.Val() {
		r, err := decodeStored([]byte(raw))
		if err != nil {
			return nil, fmt.Errorf("read result %s: %w", id, err)
		}
		res.Replies = append(res.Replies, r)
	}
	return res, nil
}

// Watch returns a channel that receives a value whenever the result of id
// may have changed, and a func that stops watching. Watch before reading
// the result, so that no change between the read and the wait is missed.
func (s *Store) Watch(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	set := s.watchers[id]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		s.watchers[id] = set
	}
	set[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		if set := s.watchers[id]; set != nil {
			delete(set, ch)
			if len(set) == 0 {
				delete(s.watchers, id)
			}
		}
		s.mu.Unlock()
	}
}

// notify wakes the watchers of id; all of them when id is "".
func (s *Store) notify(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wake := func(set map[chan struct{}]struct{}) {
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	if id == "" {
		for _, set := range s.watchers {
			wake(set)
		}
		return
	}
	wake(s.watchers[id])
}

// subscribe opens the shared subscription and waits for Redis to confirm
// it, so that every change published afterwards reaches this instance.
func (s *Store) subscribe(ctx context.Context) error {
	ps := s.rdb.Subscribe(ctx, s.channel)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return fmt.Errorf("subscribe %s: %w", s.channel, errors.Join(ErrUnavailable, err))
	}
	s.ps = ps
	return nil
}

// listen forwards published ids to watchers until ctx ends. After go-redis
// re-subscribes (a lost connection) every watcher re-reads its result.
func (s *Store) listen(ctx context.Context) {
	ch := s.ps.ChannelWithSubscriptions()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Message:
				s.notify(m.Payload)
			case *redis.Subscription:
				s.notify("")
			}
		}
	}
}

// closePubSub ends the subscription.
func (s *Store) closePubSub() error {
	if s.ps == nil {
		return nil
	}
	return s.ps.Close()
}

// Await returns the result of id once it holds more than seen replies or
// its final one, or when ctx ends, whichever is first; after ctx ends it
// returns the last result read, with a nil error. Changes are signalled by
// pub/sub and, in case a message was lost, re-read every recheck.
func (s *Store) Await(ctx context.Context, id string, seen int, recheck time.Duration) (*Result, error) {
	ch, stop := s.Watch(id)
	defer stop()
	t := time.NewTicker(recheck)
	defer t.Stop()
	var last *Result
	for {
		res, err := s.Get(ctx, id)
		switch {
		case err != nil && last != nil && ctx.Err() != nil:
			return last, nil
		case err != nil:
			return nil, err
		}
		if res.Done() || len(res.Replies) > seen {
			return res, nil
		}
		last = res
		select {
		case <-ctx.Done():
			return last, nil
		case <-ch:
		case <-t.C:
		}
	}
}

// storedReply is a Reply as kept in Redis.
type storedReply struct {
	Status      int         `json:"s"`
	ContentType string      `json:"ct,omitempty"`
	Header      [][2]string `json:"h,omitempty"`
	Body        []byte      `json:"b"`
	Final       bool        `json:"f"`
	Invalid     string      `json:"bad,omitempty"`
	Topic       string      `json:"t"`
	Partition   int32       `json:"p"`
	Offset      int64       `json:"o"`
}

func encodeReply(r *Reply) ([]byte, error) {
	sr := storedReply{
		Status: r.Status, ContentType: r.ContentType, Body: r.Body, Final: r.Final, Invalid: r.Invalid,
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
	}
	for _, h := range r.Header {
		sr.Header = append(sr.Header, [2]string{h.Name, h.Value})
	}
	return json.Marshal(sr)
}

func decodeStored(b []byte) (Reply, error) {
	var sr storedReply
	if err := json.Unmarshal(b, &sr); err != nil {
		return Reply{}, fmt.Errorf("decode stored reply: %w", err)
	}
	r := Reply{
		Status: sr.Status, ContentType: sr.ContentType, Body: sr.Body, Final: sr.Final, Invalid: sr.Invalid,
		Topic: sr.Topic, Partition: sr.Partition, Offset: sr.Offset,
	}
	for _, h := range sr.Header {
		r.Header = append(r.Header, HeaderField{Name: h[0], Value: h[1]})
	}
	return r, nil
}
