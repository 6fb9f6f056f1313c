package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/consumers/group"
)

// redisLeases is group.Leases in Redis. Per group and topic, under one
// hash tag (so a Redis Cluster keeps them on one node):
//
//	ferry:group:{G/T}:members    sorted set: member -> lease end (unix ms)
//	ferry:group:{G/T}:owners     hash: partition -> the member holding it
//	ferry:group:{G/T}:positions  hash: partition -> the holder's next offset
//
// A member is live while its lease end is ahead of Redis's clock (TIME,
// so instances' clocks do not matter). A partition is held by the member
// its owners field names while that member is live; a position belongs to
// the partition's current holder (it is dropped when the partition
// changes hands). Partitions are split round-robin over the live members
// sorted by id. Each operation is one Lua script, so it is atomic: two
// members never hold a partition at once. The keys expire four leases
// after the last poll of the group.
type redisLeases struct {
	rdb    redis.UniversalClient
	prefix string
}

func (l redisLeases) keys(k group.Key) []string {
	tag := l.prefix + "group:{" + k.Group + "/" + k.Topic + "}:"
	return []string{tag + "members", tag + "owners", tag + "positions"}
}

// nowMS is the Lua prologue: Redis's clock in milliseconds.
const nowMS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// renewGroupScript: ARGV member, lease ms, partitions. Returns {held,
// leaving, {partition, position, ...}, members, ms until the earliest
// lease of another member ends (-1: none)}.
var renewGroupScript = redis.NewScript(nowMS + `
local me, lease, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + lease, me)
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
table.sort(live)
local alive, idx = {}, 0
for i, m in ipairs(live) do
  alive[m] = true
  if m == me then idx = i - 1 end
end
local held, leaving, pos = {}, {}, {}
for p = 0, n - 1 do
  local owner = redis.call('HGET', KEYS[2], p)
  local mine = owner == me
  if p % #live == idx then
    if not mine and (not owner or not alive[owner]) then
      redis.call('HSET', KEYS[2], p, me)
      redis.call('HDEL', KEYS[3], p)
      mine = true
    end
    if mine then held[#held + 1] = p end
  elseif mine then
    leaving[#leaving + 1] = p
  end
  if mine then
    local v = redis.call('HGET', KEYS[3], p)
    if v then
      pos[#pos + 1] = p
      pos[#pos + 1] = v
    end
  end
end
for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, lease * 4) end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local next = -1
if first[1] ~= me then next = math.max(tonumber(first[2]) - now, 0) end
return {held, leaving, pos, #live, next}
`)

// releaseGroupScript: ARGV member, partitions... Gives up those it holds.
var releaseGroupScript = redis.NewScript(`
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then
    redis.call('HDEL', KEYS[2], ARGV[i])
    redis.call('HDEL', KEYS[3], ARGV[i])
  end
end
return 0
`)

// recordGroupScript: ARGV member, then partition, offset pairs. Records
// the positions of the partitions a live member holds.
var recordGroupScript = redis.NewScript(nowMS + `
local lease_end = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not lease_end or tonumber(lease_end) <= now then return 0 end
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  end
end
return 1
`)

// holdsGroupScript: ARGV member, partitions... 1 when the member is live
// and holds them all.
var holdsGroupScript = redis.NewScript(nowMS + `
local lease_end = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not lease_end or tonumber(lease_end) <= now then return 0 end
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) ~= ARGV[1] then return 0 end
end
return 1
`)

// leaveGroupScript: ARGV member. Ends its lease and releases what it holds.
var leaveGroupScript = redis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
local owners = redis.call('HGETALL', KEYS[2])
for i = 1, #owners, 2 do
  if owners[i + 1] == ARGV[1] then
    redis.call('HDEL', KEYS[2], owners[i])
    redis.call('HDEL', KEYS[3], owners[i])
  end
end
return 0
`)

func leaseErr(op string, k group.Key, err error) error {
	return fmt.Errorf("group %s, topic %s: %s: %w", k.Group, k.Topic, op, errors.Join(group.ErrUnavailable, err))
}

// Renew implements group.Leases.
func (l redisLeases) Renew(ctx context.Context, k group.Key, member string, partitions int32, lease time.Duration) (group.Assignment, error) {
	res, err := renewGroupScript.Run(ctx, l.rdb, l.keys(k), member, lease.Milliseconds(), partitions).Slice()
	if err != nil {
		return group.Assignment{}, leaseErr("renew lease", k, err)
	}
	if len(res) != 5 {
		return group.Assignment{}, leaseErr("renew lease", k, fmt.Errorf("unexpected answer %v", res))
	}
	a := group.Assignment{Held: int32s(res[0]), Leaving: int32s(res[1]), Positions: make(map[int32]int64)}
	pos, _ := res[2].([]any)
	for i := 0; i+1 < len(pos); i += 2 {
		p, _ := pos[i].(int64)
		s, _ := pos[i+1].(string)
		o, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return group.Assignment{}, leaseErr("renew lease", k, fmt.Errorf("position %q of partition %d: %w", s, p, err))
		}
		a.Positions[int32(p)] = o
	}
	n, _ := res[3].(int64)
	a.Members = int(n)
	if ms, _ := res[4].(int64); ms >= 0 {
		a.OthersExpire = time.Duration(ms) * time.Millisecond
	}
	return a, nil
}

func int32s(v any) []int32 {
	vs, _ := v.([]any)
	out := make([]int32, 0, len(vs))
	for _, x := range vs {
		if n, ok := x.(int64); ok {
			out = append(out, int32(n))
		}
	}
	return out
}

// Release implements group.Leases.
func (l redisLeases) Release(ctx context.Context, k group.Key, member string, partitions []int32) error {
	args := []any{member}
	for _, p := range partitions {
		args = append(args, p)
	}
	if err := releaseGroupScript.Run(ctx, l.rdb, l.keys(k), args...).Err(); err != nil {
		return leaseErr("release partitions", k, err)
	}
	return nil
}

// Record implements group.Leases.
func (l redisLeases) Record(ctx context.Context, k group.Key, member string, positions []consumers.PartitionOffset) error {
	if len(positions) == 0 {
		return nil
	}
	args := []any{member}
	for _, po := range positions {
		args = append(args, po.Partition, po.Offset)
	}
	if err := recordGroupScript.Run(ctx, l.rdb, l.keys(k), args...).Err(); err != nil {
		return leaseErr("record positions", k, err)
	}
	return nil
}

// Holds implements group.Leases.
func (l redisLeases) Holds(ctx context.Context, k group.Key, member string, partitions []int32) (bool, error) {
	args := []any{member}
	for _, p := range partitions {
		args = append(args, p)
	}
	n, err := holdsGroupScript.Run(ctx, l.rdb, l.keys(k), args...).Int()
	if err != nil {
		return false, leaseErr("check partitions", k, err)
	}
	return n == 1, nil
}

// Leave implements group.Leases.
func (l redisLeases) Leave(ctx context.Context, k group.Key, member string) error {
	if err := leaveGroupScript.Run(ctx, l.rdb, l.keys(k), member).Err(); err != nil {
		return leaseErr("leave", k, err)
	}
	return nil
}

// maxConcurrentPolls caps the consumer group polls one instance serves at
// once (each holds a Kafka client while it waits); past it a poll gets
// 429 too-many-replays.
const maxConcurrentPolls = 256
