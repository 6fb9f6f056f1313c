package metrics

import (
	"sync"
	"testing"
)

// TestChildrenMakesEachOnce: concurrent gets of the same keys make each
// child once and hand every caller that one.
func TestChildrenMakesEachOnce(t *testing.T) {
	t.Parallel()
	var c children[[2]string, *int]
	var mu sync.Mutex
	made := map[[2]string]int{}
	var wg sync.WaitGroup
	got := make([][2]*int, 8)
	for g := range got {
		wg.Go(func() {
			for i, k := range [][2]string{{"a", "x"}, {"b", "x"}} {
				got[g][i] = c.get(k, func() *int {
					mu.Lock()
					defer mu.Unlock()
					made[k]++
					return new(int)
				})
			}
		})
	}
	wg.Wait()
	if made[[2]string{"a", "x"}] != 1 || made[[2]string{"b", "x"}] != 1 || len(made) != 2 {
		t.Fatalf("children made %v, want each key once", made)
	}
	for _, g := range got {
		if g[0] != got[0][0] || g[1] != got[0][1] || g[0] == g[1] {
			t.Fatalf("callers got different children for one key, or one child for two keys: %v", got)
		}
	}
}
