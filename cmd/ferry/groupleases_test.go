package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ferry-gw/ferry/consumers"
	"github.com/ferry-gw/ferry/consumers/group"
)

func newTestLeases(t *testing.T) (redisLeases, group.Key) {
	t.Helper()
	e := newEnv(t)
	return redisLeases{rdb: e.redis(t), prefix: e.prefix}, group.Key{Group: "g-" + t.Name(), Topic: "orders"}
}

func renew(t *testing.T, l redisLeases, k group.Key, member string, lease time.Duration) group.Assignment {
	t.Helper()
	a, err := l.Renew(context.Background(), k, member, 6, lease)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestGroupLeasesSplitWithoutOverlap: partitions are split among live
// members, and a partition changes hands only once its holder gives it up
// (or is gone): no two members hold one at once.
func TestGroupLeasesSplitWithoutOverlap(t *testing.T) {
	l, k := newTestLeases(t)
	ctx := context.Background()
	const lease = time.Minute

	a := renew(t, l, k, "a", lease)
	if !slices.Equal(a.Held, []int32{0, 1, 2, 3, 4, 5}) || a.Members != 1 {
		t.Fatalf("a alone: held %v of %d members, want all 6 partitions", a.Held, a.Members)
	}
	b := renew(t, l, k, "b", lease)
	if len(b.Held) != 0 || b.Members != 2 {
		t.Fatalf("b joining: held %v while a holds every partition", b.Held)
	}
	a = renew(t, l, k, "a", lease)
	if !slices.Equal(a.Held, []int32{0, 2, 4}) || !slices.Equal(a.Leaving, []int32{1, 3, 5}) {
		t.Fatalf("a after b joined: held %v, leaving %v; want 0 2 4, leaving 1 3 5", a.Held, a.Leaving)
	}
	if ok, _ := l.Holds(ctx, k, "a", []int32{1}); !ok {
		t.Fatal("a lost partition 1 before releasing it")
	}
	if b = renew(t, l, k, "b", lease); len(b.Held) != 0 {
		t.Fatalf("b took %v before a released them", b.Held)
	}
	if err := l.Release(ctx, k, "a", a.Leaving); err != nil {
		t.Fatal(err)
	}
	if b = renew(t, l, k, "b", lease); !slices.Equal(b.Held, []int32{1, 3, 5}) {
		t.Fatalf("b after a released: held %v, want 1 3 5", b.Held)
	}
	if ok, _ := l.Holds(ctx, k, "a", []int32{0, 1}); ok {
		t.Fatal("a still holds partition 1 after releasing it")
	}
	if ok, _ := l.Holds(ctx, k, "b", []int32{1, 3, 5}); !ok {
		t.Fatal("b does not hold what Renew gave it")
	}
}

// TestGroupLeasesMoveAfterLease: a member that stops renewing loses its
// partitions to the others once its lease has passed, and its positions
// go with it.
func TestGroupLeasesMoveAfterLease(t *testing.T) {
	l, k := newTestLeases(t)
	ctx := context.Background()
	const short, long = 400 * time.Millisecond, time.Minute

	renew(t, l, k, "a", short)
	if err := l.Record(ctx, k, "a", []consumers.PartitionOffset{{Partition: 0, Offset: 42}}); err != nil {
		t.Fatal(err)
	}
	if a := renew(t, l, k, "a", short); a.Positions[0] != 42 {
		t.Fatalf("a's recorded position: %v, want 0:42", a.Positions)
	}
	if b := renew(t, l, k, "b", long); len(b.Held) != 0 {
		t.Fatalf("b took %v from a live member", b.Held)
	} else if b.OthersExpire <= 0 || b.OthersExpire > short {
		t.Errorf("b is told a's lease ends in %s, want within %s", b.OthersExpire, short)
	}
	deadline := time.Now().Add(5 * time.Second)
	var b group.Assignment
	for time.Now().Before(deadline) {
		if b = renew(t, l, k, "b", long); len(b.Held) == 6 {
			break
		}
	}
	if len(b.Held) != 6 || b.Members != 1 {
		t.Fatalf("b after a's lease passed: held %v of %d members, want all 6", b.Held, b.Members)
	}
	if len(b.Positions) != 0 {
		t.Fatalf("b inherited a's positions %v: it must read from the committed offsets", b.Positions)
	}
	if ok, _ := l.Holds(ctx, k, "a", []int32{0}); ok {
		t.Fatal("a still holds partition 0 after its lease")
	}
	if err := l.Record(ctx, k, "a", []consumers.PartitionOffset{{Partition: 0, Offset: 99}}); err != nil {
		t.Fatal(err)
	}
	if b = renew(t, l, k, "b", long); len(b.Positions) != 0 {
		t.Fatalf("a gone recorded a position in b's partition: %v", b.Positions)
	}
	if err := l.Leave(ctx, k, "b"); err != nil {
		t.Fatal(err)
	}
	if c := renew(t, l, k, "c", long); len(c.Held) != 6 || c.Members != 1 {
		t.Fatalf("c after b left: held %v of %d members", c.Held, c.Members)
	}
}
