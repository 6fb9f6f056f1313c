package consumers

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics"
)

// Replayer reads topic history between two positions, for the replay API:
// bounded reads that end at the high watermarks taken when they start,
// reads that follow a topic's new records, and redrives. Each replay gets a
// short-lived *kgo.Client built from the base options handed to
// NewReplayer, closed when the replay closes, so memory is bounded by one
// fetch per replay whatever the range. Offsets are looked up through the
// shared topics.Admin (by timestamp for time positions; nothing is
// scanned).
//
// A Replayer is safe for concurrent use. The caller must call Close when it
// shuts down.
type Replayer struct {
	cfg   atomic.Pointer[ReplayConfig] // SetConfig swaps it (a reload)
	admin *topics.Admin
	base  []kgo.Opt
	log   *slog.Logger
	now   func() time.Time
	slots chan struct{}
	pool  fetchPool // lent to the replays' clients

	// life is the Replayer's own lifetime: Close cancels it, which ends
	// the replays that follow a topic.
	life context.Context
	stop context.CancelFunc

	mu        sync.Mutex
	active    int           // replays open; guarded by mu
	drained   chan struct{} // closed once closed and no replay is open
	drainOnce sync.Once
}

// replayFetchMaxBytes bounds one fetch of a replay client, and with it the
// memory a replay holds (kgo keeps at most one fetch per broker buffered).
const replayFetchMaxBytes = 1 << 20

// replayFetchMaxWait bounds how long the broker holds a replay's fetch
// when none of its partitions has data.
const replayFetchMaxWait = 500 * time.Millisecond

// fetchPool lends the replay clients the memory their fetches are decoded
// into: the decompressed batches and the []kgo.Record slices. Without it a
// replay allocates about as many bytes as it reads, twice (a 200,000-record
// replay of 256 B events: ~1 GB/s of garbage at full speed, and the GC and
// the zeroing of fresh memory took a fifth of ferry's CPU). A slice comes
// back once Replay.Next has recycled every record of its batch. One pool
// serves all the replays of a Replayer: highly compressible topics have
// most of a replay's batches in flight at once (a 1 MiB fetch can hold
// 20 MiB of records), so a pool per replay would seldom be reused. Safe
// for concurrent use (kgo's pools must be); sync.Pool drops what stays
// idle.
type fetchPool struct {
	bytes sizedPool[byte]
	recs  sizedPool[kgo.Record]
}

var (
	_ kgo.PoolDecompressBytes = (*fetchPool)(nil)
	_ kgo.PoolRecords         = (*fetchPool)(nil)
)

// GetDecompressBytes returns a buffer large enough for the batch when its
// size is known up front (raw snappy, franz-go's default, says it in its
// first bytes), else for a guess of four times the compressed size; kgo
// grows a short one, and the grown one comes back here.
func (p *fetchPool) GetDecompressBytes(compressed []byte, codec kgo.CompressionCodecType) []byte {
	n := 4 * len(compressed)
	if codec == kgo.CodecSnappy && !bytes.HasPrefix(compressed, xerialMagic) {
		if l, k := binary.Uvarint(compressed); k > 0 && l <= replayFetchMaxDecompressed {
			n = int(l)
		}
	}
	return p.bytes.get(n)
}

// xerialMagic starts snappy in xerial framing (Java producers), whose size
// is not in its first bytes.
var xerialMagic = []byte{130, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// replayFetchMaxDecompressed is the largest buffer the pool lends; kgo
// allocates larger ones itself.
const replayFetchMaxDecompressed = 1 << 28

// PutDecompressBytes takes back a buffer kgo has zeroed.
func (p *fetchPool) PutDecompressBytes(b []byte) { p.bytes.put(b) }

// GetRecords returns a slice with room for n records.
func (p *fetchPool) GetRecords(n int) []kgo.Record { return p.recs.get(n) }

// PutRecords takes back a slice whose records Recycle has zeroed.
func (p *fetchPool) PutRecords(rs []kgo.Record) { p.recs.put(rs) }

// sizedPool keeps slices in power-of-two classes of capacity, so that the
// slice got for n elements is never short of n: a short one would be
// dropped and a new one allocated. Safe for concurrent use.
type sizedPool[T any] struct {
	classes [29]sync.Pool // class c: []T with cap >= 1<<c
}

// get returns an empty slice with capacity >= n, or nil when n is beyond
// the largest class.
func (p *sizedPool[T]) get(n int) []T {
	c := bits.Len(uint(max(n, 1) - 1)) // the least c with 1<<c >= n
	if c >= len(p.classes) {
		return nil
	}
	if s, ok := p.classes[c].Get().([]T); ok {
		return s
	}
	return make([]T, 0, 1<<c)
}

// put keeps s for reuse, in the largest class its capacity fills.
func (p *sizedPool[T]) put(s []T) {
	if cap(s) == 0 {
		return
	}
	c := bits.Len(uint(cap(s))) - 1 // the greatest c with 1<<c <= cap(s)
	if c >= len(p.classes) {
		return
	}
	//lint:ignore SA6002 one slice header allocated per batch returned is cheap beside the batch it saves
	p.classes[c].Put(s[:0])
}

// NewReplayer returns a Replayer reading with clients built from base (the
// options of cmd/ferry's kafkaOpts: seeds, TLS, SASL, logger) and looking
// up offsets through admin. cfg is used with its defaults applied.
func NewReplayer(cfg ReplayConfig, admin *topics.Admin, base []kgo.Opt, opts ...Option) *Replayer {
	o := defaultOptions()
	for _, fn := range opts {
		fn(&o)
	}
	cfg = cfg.WithDefaults()
	life, stop := context.WithCancel(context.Background())
	r := &Replayer{
		admin:   admin,
		base:    slices.Clip(base),
		log:     o.log.With("component", "replay"),
		now:     o.now,
		slots:   make(chan struct{}, cfg.MaxConcurrent),
		life:    life,
		stop:    stop,
		drained: make(chan struct{}),
	}
	r.cfg.Store(&cfg)
	return r
}

// Config returns the configuration in use, defaults applied.
func (r *Replayer) Config() ReplayConfig { return *r.cfg.Load() }

// SetConfig applies cfg (defaults applied) to the replays and redrives
// that start from now on: the topics allowed, the cap of records and the
// stall timeout (a config reload). MaxConcurrent sizes the slots for the
// Replayer's life: a change keeps the running value and is returned as
// an error naming it.
func (r *Replayer) SetConfig(cfg ReplayConfig) error {
	cfg = cfg.WithDefaults()
	var err error
	if old := r.cfg.Load().MaxConcurrent; cfg.MaxConcurrent != old {
		err = fmt.Errorf("replay.max_concurrent: %d keeps running until a restart (the new value is %d)", old, cfg.MaxConcurrent)
		cfg.MaxConcurrent = old
	}
	r.cfg.Store(&cfg)
	return err
}

// Close makes the Replayer refuse new replays and ends the replays that
// follow a topic (their Next returns io.EOF with ReasonClosed). Bounded
// replays run on to their end, so that a response is not cut short by a
// shutdown. Close is idempotent and returns at once.
func (r *Replayer) Close() error {
	r.stop()
	r.mu.Lock()
	if r.active == 0 {
		r.drainOnce.Do(func() { close(r.drained) })
	}
	r.mu.Unlock()
	return nil
}

// Wait returns once the Replayer is closed and every open replay has been
// closed, or when ctx ends. The HTTP server does not track replay
// responses (they are written to the hijacked connection), so shutdown
// waits here for bounded replays to finish.
func (r *Replayer) Wait(ctx context.Context) error {
	select {
	case <-r.drained: // first: with both ready, select would pick at random
		return nil
	default:
	}
	select {
	case <-r.drained:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("replays still open: %w", ctx.Err())
	}
}

// ReplayRequest is one replay.
type ReplayRequest struct {
	// Topic is read; it must be on the allowlist. Required.
	Topic string
	// Range is where reading starts (inclusive) and stops (exclusive).
	// The zero Range reads from earliest to latest.
	Range Range
	// Partitions limits the read to these partitions. Empty reads the
	// partitions an offsets From lists, or else all of them.
	Partitions []int32
	// Match selects records; the zero Match selects all.
	Match Match
	// Limit is the most records delivered; 0 means ReplayConfig.MaxRecords,
	// which is also its cap.
	Limit int
	// Follow keeps reading new records past the high watermarks, until
	// the caller closes the replay or the Replayer closes. Range.To must
	// be latest (the default).
	Follow bool
}

// PartitionRange is the part of one partition a replay reads: offsets from
// Start up to, not including, End. A followed partition has End
// math.MaxInt64.
type PartitionRange struct {
	Partition int32
	Start     int64
	End       int64
}

// Why a replay ended.
const (
	// ReasonEnd: every partition reached the end of its range.
	ReasonEnd = "end"
	// ReasonLimit: the replay delivered its limit of records.
	ReasonLimit = "limit"
	// ReasonClosed: the Replayer closed (shutdown) while following.
	ReasonClosed = "closed"
)

// Open starts a replay: it checks the topic against the allowlist, takes
// one of the concurrent-replay slots, resolves the range to offsets and
// starts fetching. The caller must Close the Replay, which frees the slot.
// Errors wrap ErrTopicNotAllowed, ErrTooManyReplays, ErrBadPosition,
// ErrLimit, ErrClosed, topics.ErrUnknownTopic or topics.ErrUnavailable.
func (r *Replayer) Open(ctx context.Context, req ReplayRequest) (*Replay, error) {
	return r.start(ctx, req, "")
}

// start opens the replay req, which a redrive copies to target ("" for a
// plain replay). Each topic is checked against the allowlist once, and
// both are described in one request to the cluster, after the request's
// own checks and once it holds a slot.
func (r *Replayer) start(ctx context.Context, req ReplayRequest, target string) (*Replay, error) {
	cfg := r.cfg.Load() // one config for the whole request, whatever a reload does meanwhile
	if target != "" && !cfg.Allowed(target) {
		return nil, fmt.Errorf("redrive target %s: %w", target, ErrTopicNotAllowed)
	}
	if !cfg.Allowed(req.Topic) {
		return nil, fmt.Errorf("replay %s: %w", req.Topic, ErrTopicNotAllowed)
	}
	limit := req.Limit
	switch {
	case limit == 0:
		limit = cfg.MaxRecords
	case limit < 0:
		return nil, fmt.Errorf("limit %d must be > 0: %w", limit, ErrLimit)
	case limit > cfg.MaxRecords:
		return nil, fmt.Errorf("limit %d is above the cap of %d records per replay: %w", limit, cfg.MaxRecords, ErrLimit)
	}
	if req.Range.From.Kind == 0 {
		req.Range.From = Position{Kind: PositionEarliest}
	}
	if req.Range.To.Kind == 0 {
		req.Range.To = Position{Kind: PositionLatest}
	}
	if err := req.Range.check(); err != nil {
		return nil, err
	}
	if req.Follow && req.Range.To.Kind != PositionLatest {
		return nil, fmt.Errorf("a followed replay has no end (to): %w", ErrBadPosition)
	}
	if r.life.Err() != nil {
		return nil, ErrClosed
	}
	select {
	case r.slots <- struct{}{}:
	default:
		return nil, fmt.Errorf("replay %s: %d replays are running: %w", req.Topic, cap(r.slots), ErrTooManyReplays)
	}
	rp, err := r.open(ctx, req, limit, target)
	if err != nil {
		<-r.slots
		return nil, err
	}
	r.mu.Lock()
	r.active++
	r.mu.Unlock()
	return rp, nil
}

// describe describes the replay's topic and, for a redrive, its target
// (first, so that its errors come first), in one Admin.Describe, and
// refuses Kafka-internal topics. It returns the replay topic's info.
func (r *Replayer) describe(ctx context.Context, topic, target string) (topics.TopicInfo, error) {
	names := []string{topic}
	if target != "" && target != topic {
		names = []string{target, topic}
	}
	infos, err := r.admin.Describe(ctx, names...)
	var unknown *topics.UnknownTopicError
	switch {
	case errors.As(err, &unknown) && unknown.Topic == target:
		return topics.TopicInfo{}, fmt.Errorf("redrive target: %w", err)
	case err != nil:
		return topics.TopicInfo{}, fmt.Errorf("replay %s: %w", topic, err)
	}
	for _, ti := range infos {
		switch {
		case !ti.Internal:
		case ti.Topic == target:
			return topics.TopicInfo{}, fmt.Errorf("redrive target: topic %s: internal topic: %w", target, ErrTopicNotAllowed)
		default:
			return topics.TopicInfo{}, fmt.Errorf("replay %s: internal topic: %w", topic, ErrTopicNotAllowed)
		}
	}
	return infos[len(infos)-1], nil
}

func (r *Replayer) open(ctx context.Context, req ReplayRequest, limit int, target string) (*Replay, error) {
	info, err := r.describe(ctx, req.Topic, target)
	if err != nil {
		return nil, err
	}
	ranges, err := r.resolve(ctx, info, req)
	if err != nil {
		return nil, err
	}
	// A replay's client lives for one request: its KIP-714 metrics (a
	// telemetry subscription at start, an lz4-compressed push with 4 MiB
	// of buffers at close, per replay) would tell a broker's operator
	// nothing but cost every replay. Its fetches wait at most 500 ms for
	// data (Kafka's Java consumer's default; franz-go's is 5s): a new
	// client's first fetch sometimes goes out before every partition is
	// ready, with only partitions at their end, and the broker held it,
	// and the records of the others, for the whole wait
	// (TestFollowedReplayFirstRecordSoon).
	// Each partition gets its share of a fetch: Next merges the partitions
	// in time order, so a fetch that filled up from one partition would
	// leave it waiting for the next fetch to bring the others.
	// Clipped: concurrent replays must not append into one backing array.
	perPartition := int32(max(replayFetchMaxBytes/max(len(ranges), 1), 64<<10))
	opts := append(slices.Clip(r.base), kgo.FetchMaxBytes(replayFetchMaxBytes), kgo.FetchMaxPartitionBytes(perPartition), kgo.KeepControlRecords(),
		kgo.WithPools(&r.pool), kgo.DisableClientMetrics(), kgo.FetchMaxWait(replayFetchMaxWait))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("replay %s: kafka client: %w", req.Topic, err)
	}
	rp := &Replay{
		r:        r,
		cl:       cl,
		topic:    req.Topic,
		ranges:   ranges,
		next:     make([]int64, len(ranges)),
		done:     make([]bool, len(ranges)),
		queued:   make([][]*kgo.Record, len(ranges)),
		tail:     make([]int64, len(ranges)),
		fetched:  make([]bool, len(ranges)),
		bytes:    make([]int, len(ranges)),
		paused:   make([]bool, len(ranges)),
		match:    req.Match,
		limit:    int64(limit),
		follow:   req.Follow,
		progress: time.Now(),
	}
	start := make(map[int32]kgo.Offset, len(ranges))
	for i, pr := range ranges {
		rp.next[i], rp.tail[i] = pr.Start, pr.Start
		if pr.Start >= pr.End {
			rp.done[i], rp.fetched[i] = true, true
			continue
		}
		rp.open++
		start[pr.Partition] = kgo.NewOffset().At(pr.Start)
	}
	if len(start) > 0 {
		cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{req.Topic: start})
	}
	r.log.LogAttrs(ctx, slog.LevelDebug, "replay opened", slog.String("topic", req.Topic),
		slog.String("from", req.Range.From.String()), slog.String("to", req.Range.To.String()),
		slog.Bool("follow", req.Follow), slog.Int64("in_range", rp.InRange()))
	return rp, nil
}

// resolve turns the request's positions into an offset range per partition,
// clamped to what the partitions hold when the replay starts.
func (r *Replayer) resolve(ctx context.Context, ti topics.TopicInfo, req ReplayRequest) ([]PartitionRange, error) {
	parts := make(map[int32]topics.PartitionInfo, len(ti.Partitions))
	for _, p := range ti.Partitions {
		parts[p.Partition] = p
	}
	exists := func(what string, p int32) error {
		if _, ok := parts[p]; !ok {
			return fmt.Errorf("%s: topic %s has no partition %d (it has %d): %w", what, ti.Topic, p, len(ti.Partitions), ErrBadPosition)
		}
		return nil
	}
	from, to := req.Range.From, req.Range.To
	for _, o := range from.Offsets {
		if err := exists("from", o.Partition); err != nil {
			return nil, err
		}
	}
	for _, o := range to.Offsets {
		if err := exists("to", o.Partition); err != nil {
			return nil, err
		}
	}
	var set []int32
	switch {
	case len(req.Partitions) > 0:
		for _, p := range req.Partitions {
			if err := exists("partition", p); err != nil {
				return nil, err
			}
			set = append(set, p)
		}
		slices.Sort(set)
		set = slices.Compact(set)
	case from.Kind == PositionOffsets:
		for _, o := range from.Offsets {
			set = append(set, o.Partition)
		}
	default:
		for _, p := range ti.Partitions {
			set = append(set, p.Partition)
		}
	}

	now := r.now()
	atTime := func(pos Position) (map[int32]int64, error) {
		if pos.Kind != PositionTime && pos.Kind != PositionAgo {
			return nil, nil
		}
		offs, err := r.admin.OffsetsAfter(ctx, ti.Topic, pos.instant(now))
		if err != nil {
			return nil, fmt.Errorf("replay %s: %w", ti.Topic, err)
		}
		return offs, nil
	}
	fromAt, err := atTime(from)
	if err != nil {
		return nil, err
	}
	toAt, err := atTime(to)
	if err != nil {
		return nil, err
	}
	offset := func(pos Position, at map[int32]int64, p topics.PartitionInfo, def int64) int64 {
		switch pos.Kind {
		case PositionEarliest:
			return p.Start
		case PositionLatest:
			return p.End
		case PositionOffsets:
			if o, ok := pos.Offset(p.Partition); ok {
				return o
			}
		case PositionTime, PositionAgo:
			if o, ok := at[p.Partition]; ok && o >= 0 {
				return o
			}
			return p.End
		}
		return def
	}
	out := make([]PartitionRange, 0, len(set))
	for _, pn := range set {
		p := parts[pn]
		// A from offset past a partition's end is refused, not clamped:
		// it may come from before the topic was recreated, and would read
		// nothing. (A to offset past the end reads up to the end.)
		if o, ok := from.Offset(pn); from.Kind == PositionOffsets && ok && o > p.End {
			return nil, fmt.Errorf("from: partition %d: offset %d is past its end (%d; it starts at %d): %w",
				pn, o, p.End, p.Start, ErrBadPosition)
		}
		rawFrom, rawTo := offset(from, fromAt, p, p.Start), offset(to, toAt, p, p.End)
		if !req.Follow && rawFrom > rawTo {
			return nil, fmt.Errorf("partition %d: from %s is offset %d, after to %s at offset %d: %w",
				pn, from, rawFrom, to, rawTo, ErrInvalidRange)
		}
		start := min(max(rawFrom, p.Start), p.End)
		end := min(max(rawTo, start), p.End)
		if req.Follow {
			end = math.MaxInt64
		}
		out = append(out, PartitionRange{Partition: pn, Start: start, End: end})
	}
	return out, nil
}

// Replay is one open replay: call Next until it returns io.EOF, then
// Close. A Replay is not safe for concurrent use.
type Replay struct {
	r      *Replayer
	cl     *kgo.Client
	topic  string
	ranges []PartitionRange
	next   []int64 // per range: the offset after the last record Next went past
	done   []bool  // per range: every record of the range went past Next
	open   int     // ranges not done
	match  Match
	limit  int64
	follow bool

	// The records fetched and not yet gone past Next, per range in offset
	// order. Next takes the earliest head (time, then partition, then
	// offset), so a replay of several partitions comes in time order
	// whatever order the fetches bring them in.
	queued  [][]*kgo.Record
	tail    []int64 // per range: the offset after the last record queued
	fetched []bool  // per range: the whole range is queued (or past)
	bytes   []int   // per range: the keys and values queued
	paused  []bool  // per range: not fetched while a fetch's worth is queued

	last      *kgo.Record // the record rec shows, recycled by the next Next
	rec       Record
	scanned   int64
	delivered int64
	reason    string
	progress  time.Time // when records last arrived
	closeOnce sync.Once
}

// errStalled is the cause of a bounded replay's poll giving up.
var errStalled = errors.New("replay stalled")

// Next returns the next selected record, or io.EOF when the replay is over
// (see Reason). Records of several partitions come in time order (ties
// by partition, then offset): a bounded replay waits until it holds the
// next record of every partition not yet done, so that the same range
// reads the same, page by page. A followed replay delivers what it holds
// in that order without waiting for quiet partitions. The record, and
// the bytes it points to, are valid until the next call (its fetch's
// memory is reused then). ctx bounds this call only: a deadline that
// passes (a heartbeat tick) leaves the replay usable. Errors wrap
// topics.ErrUnavailable (Kafka failed or delivered nothing for
// ReplayConfig.StallTimeout), ErrClosed, or ctx's error.
func (rp *Replay) Next(ctx context.Context) (*Record, error) {
	if rp.last != nil {
		rp.last.Recycle()
		rp.last = nil
	}
	for {
		if rp.delivered >= rp.limit {
			rp.end(ReasonLimit)
			return nil, io.EOF
		}
		for i := rp.head(); i >= 0; i = rp.head() {
			kr := rp.queued[i][0]
			rp.queued[i][0] = nil
			rp.queued[i] = rp.queued[i][1:]
			rp.bytes[i] -= len(kr.Key) + len(kr.Value)
			if !rp.take(i, kr) {
				kr.Recycle()
				continue
			}
			rp.delivered++
			rp.last = kr
			return &rp.rec, nil
		}
		if rp.open == 0 {
			rp.end(ReasonEnd)
			return nil, io.EOF
		}
		if err := rp.poll(ctx); err != nil {
			return nil, err
		}
	}
}

// head returns the range whose first queued record Next takes next, or -1
// when it must fetch first. It marks done the ranges that are fetched and
// drained.
func (rp *Replay) head() int {
	best := -1
	for i := range rp.ranges {
		if rp.done[i] {
			continue
		}
		if len(rp.queued[i]) == 0 {
			if rp.fetched[i] {
				rp.finish(i)
				continue
			}
			if !rp.follow {
				return -1 // its next record may be the earliest
			}
			continue
		}
		if best < 0 || before(rp.queued[i][0], rp.queued[best][0]) {
			best = i
		}
	}
	return best
}

// before orders records by time, then partition, then offset.
func before(a, b *kgo.Record) bool {
	if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
		return c < 0
	}
	if a.Partition != b.Partition {
		return a.Partition < b.Partition
	}
	return a.Offset < b.Offset
}

// enqueue keeps kr if it is a record of the range not queued yet, and
// reports whether it did. A record at or past a range's end marks the
// range fetched, and its partition is no longer fetched.
func (rp *Replay) enqueue(kr *kgo.Record) bool {
	if kr.Topic != rp.topic {
		return false
	}
	i := rp.index(kr.Partition)
	if i < 0 || rp.fetched[i] || kr.Offset < rp.tail[i] {
		return false
	}
	if kr.Offset >= rp.ranges[i].End {
		rp.stopFetching(i)
		return false
	}
	rp.queued[i] = append(rp.queued[i], kr)
	rp.bytes[i] += len(kr.Key) + len(kr.Value)
	rp.tail[i] = kr.Offset + 1
	if rp.tail[i] >= rp.ranges[i].End {
		rp.stopFetching(i)
	}
	return true
}

// take moves range i's position past kr, its first queued record, and
// reports whether the match selects it; if so rp.rec shows it.
func (rp *Replay) take(i int, kr *kgo.Record) bool {
	rp.next[i] = kr.Offset + 1
	if rp.fetched[i] && len(rp.queued[i]) == 0 {
		rp.finish(i)
	}
	if kr.Attrs.IsControl() {
		return false // transaction markers take offsets but are not records
	}
	rp.scanned++
	rp.fill(kr)
	return rp.match.Matches(&rp.rec)
}

// Pending reports whether Next can return without asking Kafka: callers
// flush their output when it is false.
func (rp *Replay) Pending() bool { return rp.head() >= 0 }

func (rp *Replay) fill(kr *kgo.Record) {
	rp.rec.Topic = kr.Topic
	rp.rec.Partition = kr.Partition
	rp.rec.Offset = kr.Offset
	rp.rec.Timestamp = kr.Timestamp
	rp.rec.Key = kr.Key
	rp.rec.Value = kr.Value
	rp.rec.Headers = rp.rec.Headers[:0]
	for _, h := range kr.Headers {
		rp.rec.Headers = append(rp.rec.Headers, topics.Header{Key: h.Key, Value: h.Value})
	}
}

func (rp *Replay) index(partition int32) int {
	for i := range rp.ranges {
		if rp.ranges[i].Partition == partition {
			return i
		}
	}
	return -1
}

// finish marks range i done: every record of it went past Next.
func (rp *Replay) finish(i int) {
	if rp.done[i] {
		return
	}
	rp.done[i] = true
	rp.open--
}

// stopFetching marks range i fetched and stops fetching its partition.
func (rp *Replay) stopFetching(i int) {
	if rp.fetched[i] {
		return
	}
	rp.fetched[i] = true
	rp.cl.RemoveConsumePartitions(map[string][]int32{rp.topic: {rp.ranges[i].Partition}})
}

func (rp *Replay) end(reason string) {
	if rp.reason != "" {
		return
	}
	if reason == ReasonLimit && rp.open == 0 {
		reason = ReasonEnd
	}
	rp.reason = reason
}

// poll waits for the next fetch.
func (rp *Replay) poll(ctx context.Context) error {
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if rp.follow {
		stop := context.AfterFunc(rp.r.life, func() { cancel(ErrClosed) })
		defer stop()
	} else {
		wait := rp.r.cfg.Load().StallTimeout - time.Since(rp.progress)
		if wait <= 0 {
			return rp.stalled()
		}
		t := time.AfterFunc(wait, func() { cancel(errStalled) })
		defer t.Stop()
	}
	rp.pauseQueued()
	fs := rp.cl.PollFetches(pctx)
	var ferr error
	fs.EachError(func(_ string, p int32, err error) {
		var dl *kgo.ErrDataLoss
		if errors.As(err, &dl) {
			// The partition lost records below our position (retention or
			// truncation); the client has moved on, so do we.
			rp.r.log.LogAttrs(ctx, slog.LevelWarn, "replay skipped lost records", slog.String("topic", rp.topic), slog.Int("partition", int(p)), slog.Any("err", err))
			return
		}
		if ferr == nil {
			ferr = err
		}
	})
	if ferr != nil {
		switch cause := context.Cause(pctx); {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(cause, ErrClosed):
			rp.end(ReasonClosed)
			return io.EOF
		case errors.Is(cause, errStalled):
			return rp.stalled()
		case errors.Is(ferr, kgo.ErrClientClosed):
			return ErrClosed
		default:
			return fmt.Errorf("replay %s: fetch: %w", rp.topic, errors.Join(topics.ErrUnavailable, ferr))
		}
	}
	arrived := false
	fs.EachRecord(func(kr *kgo.Record) {
		if rp.enqueue(kr) {
			arrived = true
		} else {
			kr.Recycle()
		}
	})
	if arrived {
		rp.progress = time.Now()
	}
	return nil
}

// pauseQueued stops fetching the partitions that have a fetch's worth
// (1 MiB) queued, and fetches again those that have less: a replay holds
// at most about that per partition, not the whole range of a partition
// whose records come later than another's. (A lower mark, two shares of
// a fetch, cost BenchmarkReplayer 20%: each pause drops the fetch kgo
// buffered ahead.)
func (rp *Replay) pauseQueued() {
	var pause, resume []int32
	for i, pr := range rp.ranges {
		if rp.fetched[i] {
			continue
		}
		switch full := rp.bytes[i] >= replayFetchMaxBytes; {
		case full && !rp.paused[i]:
			pause = append(pause, pr.Partition)
		case !full && rp.paused[i]:
			resume = append(resume, pr.Partition)
		default:
			continue
		}
		rp.paused[i] = !rp.paused[i]
	}
	if len(pause) > 0 {
		rp.cl.PauseFetchPartitions(map[string][]int32{rp.topic: pause})
	}
	if len(resume) > 0 {
		rp.cl.ResumeFetchPartitions(map[string][]int32{rp.topic: resume})
	}
}

func (rp *Replay) stalled() error {
	return fmt.Errorf("replay %s: kafka delivered nothing for %s although the range is not done: %w",
		rp.topic, rp.r.cfg.Load().StallTimeout, topics.ErrUnavailable)
}

// Reason says why Next returned io.EOF: ReasonEnd, ReasonLimit or
// ReasonClosed; "" while the replay runs.
func (rp *Replay) Reason() string { return rp.reason }

// Scanned is the number of records read, selected or not.
func (rp *Replay) Scanned() int64 { return rp.scanned }

// Delivered is the number of records Next returned.
func (rp *Replay) Delivered() int64 { return rp.delivered }

// Topic is the topic being read.
func (rp *Replay) Topic() string { return rp.topic }

// Limit is the most records the replay delivers: the request's limit, or
// ReplayConfig.MaxRecords.
func (rp *Replay) Limit() int64 { return rp.limit }

// Ranges returns the offset range of each partition read, sorted by
// partition. The caller must not modify it.
func (rp *Replay) Ranges() []PartitionRange { return rp.ranges }

// InRange is how many offsets the range spans in all (an upper bound of
// the records a bounded replay reads), or -1 for a followed replay.
func (rp *Replay) InRange() int64 {
	if rp.follow {
		return -1
	}
	var n int64
	for _, pr := range rp.ranges {
		n += pr.End - pr.Start
	}
	return n
}

// AppendCursor appends where the replay stands, as the PARTITION:OFFSET
// list of the next offset of each partition read ("0:121,1:7"). Given as
// the from of a new replay (or as an SSE Last-Event-ID), it resumes just
// after the last record Next returned.
func (rp *Replay) AppendCursor(dst []byte) []byte {
	for i, pr := range rp.ranges {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendOffsets(dst, []PartitionOffset{{Partition: pr.Partition, Offset: rp.next[i]}})
	}
	return dst
}

// Positions returns where the replay stands: the next offset of each
// partition read, sorted by partition (what AppendCursor writes). An
// offset moves past a record once Next has returned it (or skipped it:
// not selected, a transaction marker).
func (rp *Replay) Positions() []PartitionOffset {
	out := make([]PartitionOffset, len(rp.ranges))
	for i, pr := range rp.ranges {
		out[i] = PartitionOffset{Partition: pr.Partition, Offset: rp.next[i]}
	}
	return out
}

// Close stops fetching, closes the replay's client and frees its slot. It
// is idempotent.
func (rp *Replay) Close() error {
	rp.closeOnce.Do(func() {
		if rp.last != nil {
			rp.last.Recycle()
			rp.last = nil
		}
		for i, q := range rp.queued {
			for _, kr := range q {
				kr.Recycle()
			}
			rp.queued[i] = nil
		}
		rp.cl.Close()
		<-rp.r.slots
		r := rp.r
		r.mu.Lock()
		if r.active--; r.active == 0 && r.life.Err() != nil {
			r.drainOnce.Do(func() { close(r.drained) })
		}
		r.mu.Unlock()
		rp.r.log.LogAttrs(context.Background(), slog.LevelDebug, "replay closed", slog.String("topic", rp.topic),
			slog.Int64("scanned", rp.scanned), slog.Int64("delivered", rp.delivered), slog.String("reason", rp.reason))
	})
	return nil
}

// Topics describes the topics replay may read: the cluster's topics that
// match the allowlist, sorted by name.
func (r *Replayer) Topics(ctx context.Context) ([]topics.TopicInfo, error) {
	names, err := r.admin.TopicNames(ctx)
	if err != nil {
		return nil, err
	}
	cfg := r.cfg.Load()
	allowed := slices.DeleteFunc(names, func(n string) bool { return !cfg.Allowed(n) })
	return r.admin.Describe(ctx, allowed...)
}

// Topic describes one topic replay may read. Errors wrap
// ErrTopicNotAllowed, topics.ErrUnknownTopic or topics.ErrUnavailable.
func (r *Replayer) Topic(ctx context.Context, name string) (topics.TopicInfo, error) {
	if !r.cfg.Load().Allowed(name) {
		return topics.TopicInfo{}, fmt.Errorf("topic %s: %w", name, ErrTopicNotAllowed)
	}
	infos, err := r.admin.Describe(ctx, name)
	if err != nil {
		return topics.TopicInfo{}, err
	}
	if infos[0].Internal {
		return topics.TopicInfo{}, fmt.Errorf("topic %s: internal topic: %w", name, ErrTopicNotAllowed)
	}
	return infos[0], nil
}
