package jwtaudit

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
)

const (
	// maxCacheAge is how long a verified token is trusted without
	// being verified again, however far off its exp is (or without
	// one), so that the cache does not outlive a key that was rotated
	// out by much.
	maxCacheAge = 10 * time.Minute
	// maxCachedTokenLen is the longest token cached, so that the cache
	// holds at most CacheSize × 8 KiB of tokens. Longer tokens are
	// verified every time.
	maxCachedTokenLen = 8 << 10
	// maxShards is the most shards the cache is split into, so that
	// requests on many cores do not wait on one lock.
	maxShards = 16
)

// entry is a verified token's actor and how long it may be used.
type entry struct {
	actor activitylog.Actor
	exp   time.Time // the token's exp plus the leeway; zero without exp
	stale time.Time // when it must be verified again
}

// cache maps verified tokens to their entries. It is a fixed number of
// shards, each a map under its own lock holding at most max entries;
// a shard that is full drops an entry at random (the map's iteration
// order) to make room. It is safe for concurrent use.
type cache struct {
	seed   maphash.Seed
	shards []shard
}

type shard struct {
	mu  sync.RWMutex
	m   map[string]entry
	max int
	_   [64]byte // keeps neighbouring locks off one cache line
}

// newCache returns a cache of at most size entries; size > 0.
func newCache(size int) *cache {
	n := 1
	for n*2 <= min(size, maxShards) {
		n *= 2
	}
	c := &cache{seed: maphash.MakeSeed(), shards: make([]shard, n)}
	for i := range c.shards {
		c.shards[i].max = size / n
		c.shards[i].m = make(map[string]entry, min(c.shards[i].max, 64))
	}
	return c
}

// shard returns the shard of tok. A signed token ends in its
// signature, so its last bytes spread tokens evenly and hash quickly.
func (c *cache) shard(tok string) *shard {
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	tail := tok
	if len(tail) > 16 {
		tail = tail[len(tail)-16:]
	}
	return &c.shards[maphash.String(c.seed, tail)&uint64(len(c.shards)-1)]
}

func (c *cache) get(tok string) (entry, bool) {
	s := c.shard(tok)
	s.mu.RLock()
	e, ok := s.m[tok]
	s.mu.RUnlock()
	return e, ok
}

func (c *cache) put(tok string, e entry) {
	s := c.shard(tok)
	s.mu.Lock()
	if _, ok := s.m[tok]; !ok && len(s.m) >= s.max {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[tok] = e
	s.mu.Unlock()
}

func (c *cache) remove(tok string) {
	s := c.shard(tok)
	s.mu.Lock()
	delete(s.m, tok)
	s.mu.Unlock()
}

// len returns the number of entries, for tests.
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
