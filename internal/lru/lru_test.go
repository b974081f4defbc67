package lru

import (
	"strconv"
	"sync"
	"testing"
)

func hashInt(k int) uint64 { return uint64(k) * 0x9E3779B97F4A7C15 }

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := New[int, string](3, hashInt)
	for i := range 3 {
		c.Put(i, strconv.Itoa(i))
	}
	c.Get(0) // 0 is now the most recent; 1 the least
	c.Put(3, "3")
	if _, ok := c.Get(1); ok {
		t.Error("1 should have been evicted")
	}
	for _, k := range []int{0, 2, 3} {
		if v, ok := c.Get(k); !ok || v != strconv.Itoa(k) {
			t.Errorf("Get(%d) = %q, %v", k, v, ok)
		}
	}
	c.Put(2, "two")
	if v, _ := c.Get(2); v != "two" {
		t.Errorf("update: %q", v)
	}
	hits, misses, n := c.Stats()
	if n != 3 || misses != 1 || hits != 5 {
		t.Errorf("stats hits %d misses %d n %d", hits, misses, n)
	}
}

func TestNilAndBounded(t *testing.T) {
	t.Parallel()
	var c *Cache[int, int] = New[int, int](0, hashInt)
	c.Put(1, 1)
	if _, ok := c.Get(1); ok || c != nil {
		t.Error("a cache of size 0 must be nil and hold nothing")
	}
	big := New[int, int](1000, hashInt)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10_000 {
				big.Put(g*10_000+i, i)
				big.Get(i)
			}
		}()
	}
	wg.Wait()
	if _, _, n := big.Stats(); n > 1000 {
		t.Errorf("%d entries, bound 1000", n)
	}
}
