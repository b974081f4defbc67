package access

import (
	"sync"
	"time"
)

// failures counts sign-in attempts per key (a client address, a
// username): once a key has max attempts within window that did not
// succeed, it is blocked until the oldest of them is window old. It is
// safe for concurrent use.
//
// An attempt is counted before the password is checked, and forgiven
// when it succeeds, so that a burst of concurrent guesses cannot slip
// past the limit while the first ones are still hashing.
type failures struct {
	now func() time.Time

	mu   sync.Mutex
	keys map[string]*attempts
}

type attempts struct {
	max    int
	window time.Duration
	at     []time.Time // within the window, oldest first; at most max
}

// maxFailureKeys bounds the counter's memory. Past it, keys whose
// attempts are all older than their window are forgotten; if that
// frees nothing, the map is cleared, which forgives at most one window
// of failures.
const maxFailureKeys = 100_000

func newFailures(now func() time.Time) *failures {
	return &failures{now: now, keys: map[string]*attempts{}}
}

// A limit is one key with its bounds.
type limit struct {
	key    string
	max    int
	window time.Duration
}

// attempt counts an attempt against every limit, unless one of them is
// blocked already: then it counts nothing and returns how long until
// every one of them allows an attempt again.
func (f *failures) attempt(limits ...limit) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	var wait time.Duration
	for _, l := range limits {
		a := f.keys[l.key]
		if a == nil {
			continue
		}
		a.prune(now)
		if len(a.at) >= l.max {
			wait = max(wait, a.at[len(a.at)-l.max].Add(a.window).Sub(now))
		}
	}
	if wait > 0 {
		return max(time.Second, wait)
	}
	for _, l := range limits {
		a := f.keys[l.key]
		if a == nil {
			if len(f.keys) >= maxFailureKeys {
				f.sweep(now)
			}
			a = &attempts{max: l.max, window: l.window}
			f.keys[l.key] = a
		}
		if len(a.at) >= a.max {
			a.at = append(a.at[:0], a.at[1:]...)
		}
		a.at = append(a.at, now)
	}
	return 0
}

// forgive takes back the last attempt counted against key, after it
// succeeded.
func (f *failures) forgive(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := f.keys[key]; a != nil && len(a.at) > 0 {
		a.at = a.at[:len(a.at)-1]
	}
}

// reset forgets every attempt of key.
func (f *failures) reset(key string) {
	f.mu.Lock()
	delete(f.keys, key)
	f.mu.Unlock()
}

// prune drops the attempts older than the window.
func (a *attempts) prune(now time.Time) {
	i := 0
	for i < len(a.at) && now.Sub(a.at[i]) >= a.window {
		i++
	}
	if i > 0 {
		a.at = append(a.at[:0], a.at[i:]...)
	}
}

func (f *failures) sweep(now time.Time) {
	for k, a := range f.keys {
		if a.prune(now); len(a.at) == 0 {
			delete(f.keys, k)
		}
	}
	if len(f.keys) >= maxFailureKeys {
		clear(f.keys)
	}
}
