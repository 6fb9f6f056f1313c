package metrics

import (
	"sync"
	"sync/atomic"
)

// children memoizes a vector's children by their label values, for the
// metrics recorded on every request. A vector's WithLabelValues hashes
// the values and takes the vector's read lock each time, which both cores
// contend for; here a read is one atomic load and a map lookup. A new
// child copies the map (copy on write): label values are few by design,
// so writes are rare and the map small.
type children[K comparable, V any] struct {
	mu sync.Mutex // serializes writers
	m  atomic.Pointer[map[K]V]
}

// get returns the child for k, made by newChild the first time.
func (c *children[K, V]) get(k K, newChild func() V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	next := make(map[K]V, 1)
	if old != nil {
		next = make(map[K]V, len(*old)+1)
		for k, v := range *old {
			next[k] = v
		}
	}
	v := newChild()
	next[k] = v
	c.m.Store(&next)
	return v
}
