package server

import (
	"strconv"
	"testing"
	"time"
)

func TestKeyLimiter(t *testing.T) {
	if _, ok := newKeyLimiter(0, 0).allow("x"); !ok {
		t.Fatal("a zero rate must mean unlimited")
	}
	now := time.Unix(1000, 0)
	l := newKeyLimiter(2, 3) // 2/s, bursts of 3
	l.now = func() time.Time { return now }
	for i := range 3 {
		if _, ok := l.allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	wait, ok := l.allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th: ok %v, wait %v; want refused, 500ms", ok, wait)
	}
	if _, ok := l.allow("b"); !ok {
		t.Fatal("another key shares a's bucket")
	}
	now = now.Add(500 * time.Millisecond)
	if _, ok := l.allow("a"); !ok {
		t.Fatal("a token did not come back after 500ms")
	}
	// Memory stays bounded however many keys come.
	for i := range 3 * maxBuckets {
		now = now.Add(time.Microsecond)
		l.allow(strconv.Itoa(i))
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Fatalf("%d buckets, want at most %d", n, maxBuckets)
	}
}
