package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-gw/ferry/topics/topicstest"
)

// groupKey is the API key of the consumer group tests ("test"), holding
// the groups' scope and the replay scope (for GET /v1/topics/{topic}).
const groupAuth = `auth: { api_keys: [{ id: billing, sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", scopes: [orders:consume, admin] }] }
`

// writeGroupConfig writes a ferry.yaml serving the groups "billing*" on
// orders.* with the given lease, on broker and the test env's Redis.
func writeGroupConfig(t *testing.T, e *env, httpAddr, broker string, lease time.Duration) string {
	t.Helper()
	cfg := fmt.Sprintf(`listen: %q
kafka: { brokers: [%q], create_topics: false }
redis: { url: %q }
correlator: { key_prefix: %q }
%sreplay: { topics: ["orders.*"] }
groups:
  - { name_prefix: billing, topics: ["orders.*"], scopes: [orders:consume], lease: %s }
`, httpAddr, broker, e.redisURL, e.prefix, groupAuth, lease)
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// polled is the part of a poll's answer the tests read.
type polled struct {
	MemberID   string  `json:"member_id"`
	Partitions []int32 `json:"partitions"`
	Records    []struct {
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
		Key       string `json:"key"`
	} `json:"records"`
	Commit json.RawMessage `json:"commit"`
}

// groupPoller is one member of a group: it polls through the instances in
// turn (any instance serves any member) and commits what each poll gave.
type groupPoller struct {
	name     string
	member   string
	urls     []string
	polls    int
	lastPoll time.Time
}

func (p *groupPoller) poll(t *testing.T, group, topic, body string) polled {
	t.Helper()
	url := p.urls[p.polls%len(p.urls)]
	p.polls++
	hdr := []string{"X-API-Key", "test"}
	if p.member != "" {
		hdr = append(hdr, "Ferry-Member-Id", p.member)
	}
	r, err := doErr("POST", url+"/v1/groups/"+group+"/topics/"+topic+"/poll", body, hdr...)
	if err != nil {
		t.Error(err)
		return polled{}
	}
	if r.status != 200 {
		t.Errorf("%s: poll = %s", p.name, r)
		return polled{}
	}
	var out polled
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Errorf("%s: poll answered %s: %v", p.name, r.body, err)
	}
	if out.MemberID == "" || r.header.Get("Ferry-Member-Id") != out.MemberID {
		t.Errorf("%s: member id %q, header %q", p.name, out.MemberID, r.header.Get("Ferry-Member-Id"))
	}
	p.member = out.MemberID
	p.lastPoll = time.Now()
	if len(out.Records) > 0 {
		c, err := doErr("POST", url+"/v1/groups/"+group+"/commit", string(out.Commit), hdr[0], hdr[1], "Ferry-Member-Id", p.member)
		if err != nil || c.status != 200 {
			t.Errorf("%s: commit %s = %v %v", p.name, out.Commit, c, err)
		}
	}
	return out
}

// TestHTTPConsumerGroups: three members of one group poll a topic of six
// partitions through two ferry processes (bin/ferry) sharing one broker
// and one Redis, each poll to the other instance. Every one of 10,000
// records is read exactly once; a member that stops polling loses its
// partitions to the others after its lease; the commits are Kafka group
// offsets: GET /v1/topics/{topic} shows the lag, and kcat, joining the
// group, reads only what was produced after them.
func TestHTTPConsumerGroups(t *testing.T) {
	const topic, group, n, lease = "orders.events", "billing-app", 10000, 3 * time.Second
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	broker := c.ListenAddrs()[0]
	cl := topicstest.Client(t, c, kgo.ProducerLinger(0))
	produce := func(from, to int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k-%d", i), Value: fmt.Appendf(nil, `{"seq":%d}`, i)})
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(0, n)

	e := newEnv(t)
	var urls []string
	for range 2 {
		addr := freePort(t)
		startFerryConfig(t, writeGroupConfig(t, e, addr, broker, lease), addr, broker)
		urls = append(urls, "http://"+addr)
	}

	var (
		mu      sync.Mutex
		seen    = make(map[string]int) // key -> times read
		pollers []*groupPoller
	)
	for i := range 3 {
		pollers = append(pollers, &groupPoller{name: fmt.Sprintf("poller-%d", i), urls: []string{urls[i%2], urls[(i+1)%2]}})
	}
	read := func(p *groupPoller, out polled) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range out.Records {
			seen[r.Key]++
		}
	}
	total := func() (distinct, reads int) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range seen {
			reads += c
		}
		return len(seen), reads
	}
	// run polls with p until stop says so.
	run := func(p *groupPoller, stop func() bool) {
		for !stop() && !t.Failed() {
			read(p, p.poll(t, group, topic, `{"max_records": 250, "max_wait": "500ms"}`))
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range pollers {
		wg.Go(func() { run(p, func() bool { d, _ := total(); return d >= n || time.Since(start) > time.Minute }) })
	}
	wg.Wait()
	distinct, reads := total()
	t.Logf("10,000 records: %d read by 3 pollers through 2 instances in %s, %d read twice", distinct, time.Since(start).Round(time.Millisecond), reads-distinct)
	if distinct != n || reads != n {
		t.Fatalf("read %d distinct records in %d reads, want each of %d exactly once", distinct, reads, n)
	}
	var sharing []string
	for _, p := range pollers {
		if p.polls < 2 {
			sharing = append(sharing, p.name)
		}
	}
	if len(sharing) > 0 {
		t.Fatalf("pollers %v polled fewer than twice", sharing)
	}

	// poller-2 stops (no leave): its partitions move to the two others
	// once its lease has passed, and not before. The others wait up to 1.4s
	// per poll for records; their polls end when poller-2's lease does, so
	// that the move does not wait for the end of a poll.
	gone := pollers[2]
	renewed := time.Now() // its last poll renews its lease when it starts
	last := gone.poll(t, group, topic, `{"max_records": 1, "max_wait": "100ms"}`)
	if len(last.Partitions) == 0 {
		t.Fatalf("%s holds no partition at its last poll", gone.name)
	}
	var movedAt time.Time // when another member first read one of them
	read = func(p *groupPoller, out polled) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range out.Records {
			seen[r.Key]++
			if slices.Contains(last.Partitions, r.Partition) && movedAt.IsZero() {
				movedAt = time.Now()
			}
		}
	}
	// The new records go to poller-2's partitions only: the two others
	// have nothing to read, and their polls wait.
	manual := topicstest.Client(t, c, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := n; i < n+600; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: last.Partitions[i%len(last.Partitions)], Key: fmt.Appendf(nil, "k-%d", i), Value: fmt.Appendf(nil, `{"seq":%d}`, i)})
	}
	if err := manual.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	wg = sync.WaitGroup{}
	for _, p := range pollers[:2] {
		wg.Go(func() {
			for d, _ := total(); d < n+600 && time.Since(renewed) < 4*lease+10*time.Second && !t.Failed(); d, _ = total() {
				read(p, p.poll(t, group, topic, `{"max_records": 250, "max_wait": "1.4s"}`))
			}
		})
	}
	wg.Wait()
	distinct, reads = total()
	if distinct != n+600 || reads != n+600 {
		t.Fatalf("after poller-2 stopped: %d distinct records in %d reads, want %d exactly once", distinct, reads, n+600)
	}
	moved := movedAt.Sub(renewed)
	t.Logf("poller-2 stopped: its partitions %v were first read by another member %s after its last poll renewed its lease of %s", last.Partitions, moved.Round(time.Millisecond), lease)
	if moved < lease-200*time.Millisecond || moved > lease+700*time.Millisecond {
		t.Errorf("poller-2's partitions moved %s after its last renewal; want once its lease of %s passed, within 700ms", moved.Round(time.Millisecond), lease)
	}

	// The lag on the topics API, then kcat in the group: it starts at the
	// committed offsets and reads only the 5 records produced after.
	lagOf := func() float64 {
		r := do(t, "GET", urls[0]+"/v1/topics/"+topic, "", "X-API-Key", "test")
		var ti struct {
			Groups []struct {
				Group string  `json:"group"`
				Lag   float64 `json:"lag"`
			} `json:"groups"`
		}
		if err := json.Unmarshal([]byte(r.body), &ti); err != nil || r.status != 200 {
			t.Fatalf("GET /v1/topics/%s = %s", topic, r)
		}
		for _, g := range ti.Groups {
			if g.Group == group {
				return g.Lag
			}
		}
		t.Fatalf("GET /v1/topics/%s shows no lag of group %s: %s", topic, group, r.body)
		return 0
	}
	if lag := lagOf(); lag != 0 {
		t.Errorf("lag after every record was committed: %v, want 0", lag)
	}
	produce(n+600, n+605)
	if lag := lagOf(); lag != 5 {
		t.Errorf("lag with 5 records unread: %v, want 5", lag)
	}
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is needed to read the group's offsets as Kafka's tools do (apt-get install kcat): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, "-b", broker, "-G", group, "-e", "-f", "%k\n", "-X", "session.timeout.ms=6000", topic).Output()
	if err != nil {
		t.Fatalf("kcat -G %s: %v\n%s", group, err, out)
	}
	keys := strings.Fields(string(out))
	slices.Sort(keys)
	want := []string{"k-10600", "k-10601", "k-10602", "k-10603", "k-10604"}
	if !slices.Equal(keys, want) {
		t.Errorf("kcat in group %s read %v, want only the 5 records after the commits: %v", group, keys, want)
	}
}

// TestGroupRequestsRefused: the quickstart's groups rule (billing*,
// orders.*, orders:read) refuses, each with its problem, what it does not
// allow; nothing is read or committed.
func TestGroupRequestsRefused(t *testing.T) {
	p := startFerry(t, t.TempDir())
	base := "http://" + p.http
	token := func(scope string) string {
		out, err := exec.Command(ferryBinary(t), "token", "--key", "../../testdata/keys/dev-jwt.key", "--scope", scope).Output()
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + strings.TrimSpace(string(out))
	}
	reader, writer := token("orders:read"), token("orders:write")
	poll := "/v1/groups/billing/topics/orders.commands/poll"
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		problem                  string
	}{
		{"no credentials", "POST", poll, "", nil, 401, "unauthenticated"},
		{"no credentials, group no rule covers", "POST", "/v1/groups/payroll/topics/orders.commands/poll", "", nil, 401, "unauthenticated"},
		{"scope missing", "POST", poll, "", []string{"Authorization", writer}, 403, "forbidden"},
		{"group no rule covers", "POST", "/v1/groups/payroll/topics/orders.commands/poll", "", []string{"Authorization", reader}, 403, "group-not-allowed"},
		{"topic the rule does not cover", "POST", "/v1/groups/billing/topics/customers.events/poll", "", []string{"Authorization", reader}, 403, "group-not-allowed"},
		{"ferry's own group", "POST", "/v1/groups/ferry-webhook-x/topics/orders.commands/poll", "", []string{"Authorization", reader}, 403, "group-not-allowed"},
		{"max_wait above half the lease", "POST", poll, `{"max_wait":"1m"}`, []string{"Authorization", reader}, 400, "bad-request"},
		{"max_records above the cap", "POST", poll, `{"max_records":5000}`, []string{"Authorization", reader}, 400, "bad-request"},
		{"unknown field", "POST", poll, `{"max_record":5}`, []string{"Authorization", reader}, 400, "bad-request"},
		{"malformed member id", "POST", poll, "", []string{"Authorization", reader, "Ferry-Member-Id", "a b"}, 400, "bad-request"},
		{"commit without member", "POST", "/v1/groups/billing/commit", `{"offsets":[{"topic":"orders.commands","partition":0,"offset":1}]}`, []string{"Authorization", reader}, 400, "bad-request"},
		{"commit without offsets", "POST", "/v1/groups/billing/commit", `{"offsets":[]}`, []string{"Authorization", reader, "Ferry-Member-Id", "w"}, 400, "bad-request"},
		{"commit of a partition never polled", "POST", "/v1/groups/billing/commit", `{"offsets":[{"topic":"orders.commands","partition":0,"offset":1}]}`, []string{"Authorization", reader, "Ferry-Member-Id", "w"}, 409, "partition-not-held"},
		{"commit with a scope missing", "POST", "/v1/groups/billing/commit", `{"offsets":[{"topic":"orders.commands","partition":0,"offset":1}]}`, []string{"Authorization", writer, "Ferry-Member-Id", "w"}, 403, "forbidden"},
		{"GET a poll", "GET", poll, "", []string{"Authorization", reader}, 405, "method-not-allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, base+tc.path, tc.body, tc.hdr...)
			if r.status != tc.status || !strings.Contains(r.body, `"type":"urn:ferry:problem:`+tc.problem+`"`) {
				t.Errorf("%s %s = %s, want %d %s", tc.method, tc.path, r, tc.status, tc.problem)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	p.stop(t)
}

// TestGroupPollHangupAndShutdown: a poll that waits for records ends when
// its client hangs up (ferry_client_hangups_total{handler="group_poll"}),
// and a poll that waits when SIGTERM comes answers at once with what it
// has (no records), not when its max_wait ends.
func TestGroupPollHangupAndShutdown(t *testing.T) {
	p := startFerry(t, t.TempDir())
	out, err := exec.Command(ferryBinary(t), "token", "--key", "../../testdata/keys/dev-jwt.key", "--scope", "orders:read").Output()
	if err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + strings.TrimSpace(string(out))
	url := "http://" + p.http + "/v1/groups/billing/topics/orders.commands/poll"
	metric := func(series string) func() error {
		return func() error {
			m := do(t, "GET", "http://"+p.http+"/metrics", "")
			if !strings.Contains(m.body, "\n"+series+"\n") {
				return fmt.Errorf("/metrics lacks %q", series)
			}
			return nil
		}
	}
	const wait = `{"max_wait":"10s"}` // nothing to read: the poll waits its max_wait

	leave := hangUp(t, "POST", url, wait, "Authorization", auth)
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, metric("ferry_waiting_clients 1"))
	leave()
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, metric(`ferry_client_hangups_total{handler="group_poll"} 1`))
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, metric("ferry_waiting_clients 0"))

	answered := make(chan response, 1)
	go func() { answered <- do(t, "POST", url, wait, "Authorization", auth, "Ferry-Member-Id", "w1") }()
	topicstest.Eventually(t, 5*time.Second, 10*time.Millisecond, metric("ferry_waiting_clients 1"))
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-answered:
		if r.status != 200 || !strings.Contains(r.body, `"records":[]`) {
			t.Errorf("the waiting poll answered %s at shutdown, want 200 with no records", r)
		}
		t.Logf("the waiting poll answered %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
	case <-time.After(8 * time.Second):
		t.Fatal("the waiting poll did not answer at shutdown: it waited for its max_wait")
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("ferry exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ferry did not exit after SIGTERM")
	}
}

// TestGroupPollRedisStopped: with Redis stopped (SIGSTOP of a
// redis-server of the test's own) a poll and a commit answer 503
// redis-unavailable with Retry-After, without delivering anything, within
// the Redis client's timeouts; once Redis resumes the member reads on
// from where it stood.
func TestGroupPollRedisStopped(t *testing.T) {
	t.Parallel()
	o := serveWithOwnRedis(t, groupAuth+`groups: [{ name_prefix: billing, topics: ["orders.*"], scopes: [orders:consume] }]
`, "orders.events")
	cl := topicstest.Client(t, o.cluster, kgo.ProducerLinger(0))
	for i := range 3 {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "orders.events", Value: fmt.Appendf(nil, `{"seq":%d}`, i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	base := "http://" + o.addr
	poll := func(max int) response {
		return do(t, "POST", base+"/v1/groups/billing/topics/orders.events/poll", fmt.Sprintf(`{"max_records":%d,"max_wait":"1s"}`, max),
			"X-API-Key", "test", "Ferry-Member-Id", "w1")
	}
	if r := poll(1); r.status != 200 || !strings.Contains(r.body, `"offset":0`) {
		t.Fatalf("first poll: %s", r)
	}
	if err := o.redis.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for _, r := range []response{poll(1), do(t, "POST", base+"/v1/groups/billing/commit", `{"offsets":[{"topic":"orders.events","partition":0,"offset":1}]}`,
		"X-API-Key", "test", "Ferry-Member-Id", "w1")} {
		if r.status != 503 || !strings.Contains(r.body, "redis-unavailable") || r.header.Get("Retry-After") == "" {
			t.Errorf("with Redis stopped: %s (Retry-After %q), want 503 redis-unavailable with Retry-After", r, r.header.Get("Retry-After"))
		}
	}
	if err := o.redis.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if r := poll(5); r.status != 200 || !strings.Contains(r.body, `"offset":1`) || !strings.Contains(r.body, `"offset":2`) || strings.Contains(r.body, `"offset":0,`) {
		t.Errorf("after Redis resumed: %s, want records 1 and 2", r)
	}
}

// TestGroupAutoCommit: with auto_commit, a poll commits what the member's
// previous poll delivered (the quickstart's rule, bin/ferry): the lag on
// GET /v1/topics/{topic} stays at what was polled until the next poll,
// which says what it committed; without auto_commit nothing is.
func TestGroupAutoCommit(t *testing.T) {
	p := startFerry(t, t.TempDir())
	for i := range 3 {
		if status, body := p.post(t, "/v1/orders", fmt.Appendf(nil, `{"customer_id":"c-%d","items":[{"sku":"BOOK-1","qty":1,"price":12.5}]}`, i)); status != 202 {
			t.Fatalf("POST /v1/orders = %d %v", status, body)
		}
	}
	out, err := exec.Command(ferryBinary(t), "token", "--key", "../../testdata/keys/dev-jwt.key", "--scope", "orders:read admin").Output()
	if err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + strings.TrimSpace(string(out))
	base := "http://" + p.http
	lag := func() float64 {
		r := do(t, "GET", base+"/v1/topics/orders.commands", "", "Authorization", auth)
		var ti struct {
			Groups []struct {
				Group string
				Lag   float64
			}
		}
		if err := json.Unmarshal([]byte(r.body), &ti); err != nil || r.status != 200 {
			t.Fatalf("GET /v1/topics/orders.commands = %s", r)
		}
		for _, g := range ti.Groups {
			if g.Group == "billing-auto" {
				return g.Lag
			}
		}
		return -1 // no commit yet
	}
	poll := func(body string, committed bool) polled {
		r := do(t, "POST", base+"/v1/groups/billing-auto/topics/orders.commands/poll", body, "Authorization", auth, "Ferry-Member-Id", "w")
		var out polled
		if r.status != 200 || json.Unmarshal([]byte(r.body), &out) != nil {
			t.Fatalf("poll = %s", r)
		}
		if c := strings.Contains(r.body, `"committed":`); c != committed {
			t.Errorf("poll %s answered %s: committed shown %v, want %v", body, r.body, c, committed)
		}
		return out
	}
	if got := poll(`{"max_records":10,"max_wait":"1s","auto_commit":true}`, false); len(got.Records) != 3 {
		t.Fatalf("first poll read %d records, want 3", len(got.Records))
	}
	if l := lag(); l != -1 {
		t.Errorf("lag after the first poll: %v, want no commit yet", l)
	}
	poll(`{"max_wait":"100ms"}`, false) // the rule's auto_commit is off
	if l := lag(); l != -1 {
		t.Errorf("lag after a poll without auto_commit: %v, want no commit yet", l)
	}
	poll(`{"max_wait":"100ms","auto_commit":true}`, true)
	if l := lag(); l != 0 {
		t.Errorf("lag after a poll with auto_commit: %v, want 0 (the records polled before committed)", l)
	}
	p.stop(t)
}
