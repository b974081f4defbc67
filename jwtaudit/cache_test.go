package jwtaudit_test

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/jwtaudit"
)

// countingVerifier returns a Verifier whose ActorFunc counts its calls:
// one per token verified.
func countingVerifier(t *testing.T, c *clock, size int) (*jwtaudit.Verifier, *atomic.Int32) {
	var n atomic.Int32
	v := newVerifier(t, jwtaudit.Options{
		HMACSecret: keys().secret,
		CacheSize:  size,
		Now:        c.Now,
		ActorFunc: func(claims jwt.MapClaims) (activitylog.Actor, error) {
			n.Add(1)
			sub, _ := claims["sub"].(string)
			return activitylog.Actor{ID: sub, Name: "Ann", Extra: map[string]any{"n": 1}}, nil
		},
	})
	return v, &n
}

func TestCacheHit(t *testing.T) {
	t.Parallel()
	tok := sign(t, jwt.SigningMethodHS256, keys().secret, claims(nil), nil)
	for _, tt := range []struct {
		size      int
		wantCalls int32
	}{{0, 1}, {1, 1}, {-1, 3}} {
		v, n := countingVerifier(t, newClock(), tt.size)
		var first activitylog.Actor
		for i := range 3 {
			got, err := v.Actor(request("Bearer " + tok))
			if err != nil {
				t.Fatalf("size %d: %v", tt.size, err)
			}
			if i == 0 {
				first = got
			} else if !equalActor(got, first) || got.Extra["n"] != 1 {
				t.Errorf("size %d: call %d got %+v, want %+v", tt.size, i, got, first)
			}
			got.Extra["n"] = 2 // the caller's copy: the cache's is not changed
		}
		if got := n.Load(); got != tt.wantCalls {
			t.Errorf("size %d: verified %d times, want %d", tt.size, got, tt.wantCalls)
		}
	}
}

// A cached token is refused once its exp, plus the leeway, has passed.
func TestCacheExpiry(t *testing.T) {
	t.Parallel()
	c := newClock()
	v, n := countingVerifier(t, c, 0)
	tok := sign(t, jwt.SigningMethodHS256, keys().secret, claims(jwt.MapClaims{"exp": t0.Add(time.Minute).Unix()}), nil)
	if _, err := v.Actor(request("Bearer " + tok)); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute + 29*time.Second) // within the leeway
	if _, err := v.Actor(request("Bearer " + tok)); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	c.Advance(time.Second)
	for range 2 {
		got, err := v.Actor(request("Bearer " + tok))
		if !errors.Is(err, jwtaudit.ErrTokenInvalid) || !errors.Is(err, jwt.ErrTokenExpired) {
			t.Errorf("past exp: got %+v, %v; want ErrTokenExpired", got, err)
		}
		checkSecretFree(t, err.Error(), tok)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("verified %d times, want 1", got)
	}
}

// A token is verified again after 10 minutes in the cache, however far
// its exp.
func TestCacheStale(t *testing.T) {
	t.Parallel()
	c := newClock()
	v, n := countingVerifier(t, c, 0)
	tok := sign(t, jwt.SigningMethodHS256, keys().secret, claims(jwt.MapClaims{"exp": nil}), nil)
	for _, d := range []time.Duration{0, 9 * time.Minute, 2 * time.Minute, time.Minute} {
		c.Advance(d)
		if _, err := v.Actor(request("Bearer " + tok)); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.Load(); got != 2 {
		t.Errorf("verified %d times, want 2", got)
	}
}

// Many goroutines, more tokens than the cache holds.
func TestCacheConcurrent(t *testing.T) {
	t.Parallel()
	v, _ := countingVerifier(t, newClock(), 16)
	toks := make([]string, 64)
	for i := range toks {
		toks[i] = sign(t, jwt.SigningMethodHS256, keys().secret, claims(jwt.MapClaims{"sub": "u-" + strconv.Itoa(i)}), nil)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				j := (g*7 + i) % len(toks)
				got, err := v.Actor(request("Bearer " + toks[j]))
				if err != nil || got.ID != "u-"+strconv.Itoa(j) {
					t.Errorf("token %d: got %+v, %v", j, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
