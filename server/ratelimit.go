package server

import (
	"sync"
	"time"
)

// keyLimiter is a token bucket per principal: rate tokens a second, up
// to burst. A nil keyLimiter allows everything.
type keyLimiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the limiter's memory. Past it, buckets that have
// refilled are forgotten (a full bucket is the same as none).
const maxBuckets = 10000

func newKeyLimiter(rate float64, burst int) *keyLimiter {
	if rate <= 0 {
		return nil
	}
	if burst < 1 {
		burst = max(1, int(rate))
	}
	return &keyLimiter{rate: rate, burst: float64(burst), now: time.Now, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket, or returns how long until one
// is there.
func (l *keyLimiter) allow(key string) (time.Duration, bool) {
	if l == nil {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}

// sweep forgets the buckets that are full again; if none is, an
// arbitrary half (map order), which costs their keys at most one extra
// burst. It runs only past maxBuckets distinct principals.
func (l *keyLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < maxBuckets {
		return
	}
	n := 0
	for k := range l.buckets {
		delete(l.buckets, k)
		if n++; n >= maxBuckets/2 {
			break
		}
	}
}
