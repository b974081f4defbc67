// Package lru is a bounded, sharded least-recently-used cache, safe for
// concurrent use, shared by the packages that cache lookups (geoip,
// useragent).
package lru

import "sync"

// Cache is a bounded map from K to V, safe for concurrent use, that
// forgets its least recently used entry when full. It is split into
// shards, each with its own lock, so that parallel lookups rarely wait
// for each other. It allocates only when it grows.
type Cache[K comparable, V any] struct {
	shards []cacheShard[K, V]
	hash   func(K) uint64
}

type cacheShard[K comparable, V any] struct {
	mu           sync.Mutex
	max          int
	index        map[K]int32
	entries      []cacheEntry[K, V]
	head, tail   int32 // most and least recently used; -1 when empty
	hits, misses uint64
	_            [64]byte // keeps neighbouring shards' locks off one cache line
}

type cacheEntry[K comparable, V any] struct {
	key        K
	val        V
	prev, next int32
}

// Limits on the number of shards and on entries per shard.
const (
	cacheShards      = 16
	cacheMinPerShard = 32      // below 16×32 entries, one shard
	cacheMaxSize     = 1 << 30 // larger sizes are cut to this
)

// New returns a cache of at most size entries, or nil when size is
// not positive. hash spreads keys over the shards.
func New[K comparable, V any](size int, hash func(K) uint64) *Cache[K, V] {
	if size <= 0 {
		return nil
	}
	size = min(size, cacheMaxSize)
	n := 1
	if size >= cacheShards*cacheMinPerShard {
		n = cacheShards
	}
	c := &Cache[K, V]{shards: make([]cacheShard[K, V], n), hash: hash}
	for i := range c.shards {
		s := &c.shards[i]
		s.max = size / n
		s.head, s.tail = -1, -1
		s.index = make(map[K]int32)
	}
	return c
}

func (c *Cache[K, V]) shard(k K) *cacheShard[K, V] {
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	return &c.shards[c.hash(k)%uint64(len(c.shards))]
}

// Get returns the value for k and marks it most recently used. It counts
// a hit or a miss. A nil Cache holds nothing.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	if c == nil {
		var zero V
		return zero, false
	}
	s := c.shard(k)
	s.mu.Lock()
	i, ok := s.index[k]
	if !ok {
		s.misses++
		s.mu.Unlock()
		var zero V
		return zero, false
	}
	s.hits++
	s.moveToFront(i)
	v := s.entries[i].val
	s.mu.Unlock()
	return v, true
}

// Put sets the value for k, forgetting the least recently used entry of
// its shard when that is full. On a nil Cache it does nothing.
func (c *Cache[K, V]) Put(k K, v V) {
	if c == nil {
		return
	}
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.index[k]; ok {
		s.entries[i].val = v
		s.moveToFront(i)
		return
	}
	var i int32
	if len(s.entries) < s.max {
		i = int32(len(s.entries))
		s.entries = append(s.entries, cacheEntry[K, V]{})
	} else {
		i = s.tail
		s.unlink(i)
		delete(s.index, s.entries[i].key)
	}
	s.entries[i] = cacheEntry[K, V]{key: k, val: v, prev: -1, next: -1}
	s.index[k] = i
	s.pushFront(i)
}

// Stats returns the hits and misses that Get counted, and the number of
// entries held.
func (c *Cache[K, V]) Stats() (hits, misses uint64, n int) {
	if c == nil {
		return 0, 0, 0
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		hits += s.hits
		misses += s.misses
		n += len(s.index)
		s.mu.Unlock()
	}
	return hits, misses, n
}

func (s *cacheShard[K, V]) moveToFront(i int32) {
	if s.head == i {
		return
	}
	s.unlink(i)
	s.pushFront(i)
}

func (s *cacheShard[K, V]) unlink(i int32) {
	e := &s.entries[i]
	if e.prev >= 0 {
		s.entries[e.prev].next = e.next
	} else {
		s.head = e.next
	}
	if e.next >= 0 {
		s.entries[e.next].prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (s *cacheShard[K, V]) pushFront(i int32) {
	e := &s.entries[i]
	e.prev, e.next = -1, s.head
	if s.head >= 0 {
		s.entries[s.head].prev = i
	}
	s.head = i
	if s.tail < 0 {
		s.tail = i
	}
}
