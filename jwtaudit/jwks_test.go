package jwtaudit_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/jwtaudit"
)

// jwksServer serves a JWKS on 127.0.0.1 and counts the fetches.
type jwksServer struct {
	*httptest.Server
	body   atomic.Pointer[[]byte]
	status atomic.Int32 // 0 means 200
	hits   atomic.Int32
	block  chan struct{} // when not nil, requests wait until it is closed
}

func newJWKSServer(t *testing.T, keys ...map[string]any) *jwksServer {
	s := &jwksServer{}
	s.serve(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.block != nil {
			select {
			case <-s.block:
			case <-r.Context().Done():
				return
			}
		}
		if st := s.status.Load(); st != 0 {
			http.Error(w, "down", int(st))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

// serve makes the server serve a set of keys from now on.
func (s *jwksServer) serve(keys ...map[string]any) {
	b := must(json.Marshal(map[string]any{"keys": keys}))
	s.body.Store(&b)
}

func (s *jwksServer) serveRaw(body string) {
	b := []byte(body)
	s.body.Store(&b)
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwkRSA(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "n": enc(pub.N.Bytes()), "e": enc(big.NewInt(int64(pub.E)).Bytes())}
}

func jwkEC(kid string, pub *ecdsa.PublicKey) map[string]any {
	b := must(pub.Bytes()) // 0x04 || x || y
	n := (len(b) - 1) / 2
	return map[string]any{"kty": "EC", "kid": kid, "crv": pub.Params().Name, "x": enc(b[1 : 1+n]), "y": enc(b[1+n:])}
}

func jwkOKP(kid string, pub ed25519.PublicKey) map[string]any {
	return map[string]any{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": enc(pub)}
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{k: v}
	for kk, vv := range m {
		if kk != k {
			out[kk] = vv
		}
	}
	return out
}

func jwksVerifier(t *testing.T, s *jwksServer, c *clock, o jwtaudit.Options) *jwtaudit.Verifier {
	t.Helper()
	o.JWKSURL = s.URL + "/.well-known/jwks.json"
	o.HTTPClient = s.Client()
	if o.CacheSize == 0 {
		o.CacheSize = -1 // so that every call looks the key up
	}
	o.Now = c.Now
	return newVerifier(t, o)
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	k := keys()
	s := newJWKSServer(t,
		jwkRSA("r1", &k.rsa.PublicKey),
		jwkEC("e1", &k.p256.PublicKey),
		jwkEC("e3", &k.p384.PublicKey),
		jwkOKP("o1", k.ed.Public().(ed25519.PublicKey)),
		with(jwkRSA("r2", &k.rsa2.PublicKey), "use", "enc"),                             // not for signatures
		with(jwkEC("e2", &k.p256b.PublicKey), "alg", "ES384"),                           // alg does not fit the curve
		map[string]any{"kty": "oct", "kid": "h1", "k": enc(k.secret)},                   // symmetric: never from a JWKS
		map[string]any{"kty": "EC", "kid": "bad", "crv": "P-256", "x": "AA", "y": "AA"}, // not a point
		map[string]any{"kty": "RSA", "kid": "tiny", "n": enc([]byte{1, 2, 3}), "e": "AQAB"},
	)
	v := jwksVerifier(t, s, newClock(), jwtaudit.Options{})
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"RS256", sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), map[string]any{"kid": "r1"}), true},
		{"PS512", sign(t, jwt.SigningMethodPS512, k.rsa, claims(nil), map[string]any{"kid": "r1"}), true},
		{"ES256", sign(t, jwt.SigningMethodES256, k.p256, claims(nil), map[string]any{"kid": "e1"}), true},
		{"ES384", sign(t, jwt.SigningMethodES384, k.p384, claims(nil), map[string]any{"kid": "e3"}), true},
		{"EdDSA", sign(t, jwt.SigningMethodEdDSA, k.ed, claims(nil), map[string]any{"kid": "o1"}), true},
		{"no kid", sign(t, jwt.SigningMethodES256, k.p256, claims(nil), nil), true},
		{"wrong kid", sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), map[string]any{"kid": "e1"}), false},
		{"wrong key", sign(t, jwt.SigningMethodRS256, k.rsa2, claims(nil), map[string]any{"kid": "r1"}), false},
		{"enc key", sign(t, jwt.SigningMethodRS256, k.rsa2, claims(nil), map[string]any{"kid": "r2"}), false},
		{"alg of the JWK", sign(t, jwt.SigningMethodES256, k.p256b, claims(nil), map[string]any{"kid": "e2"}), false},
		{"oct key", sign(t, jwt.SigningMethodHS256, k.secret, claims(nil), map[string]any{"kid": "h1"}), false},
		{"alg confusion", sign(t, jwt.SigningMethodHS256, pemOf(&k.rsa.PublicKey), claims(nil), map[string]any{"kid": "r1"}), false},
	}
	for _, tt := range tests {
		got, err := v.Actor(request("Bearer " + tt.token))
		if tt.ok && (err != nil || got.ID != "u-1") {
			t.Errorf("%s: got %+v, %v; want u-1", tt.name, got, err)
		}
		if !tt.ok {
			if !errors.Is(err, jwtaudit.ErrTokenInvalid) {
				t.Errorf("%s: got %+v, %v; want ErrTokenInvalid", tt.name, got, err)
			} else {
				checkSecretFree(t, err.Error(), tt.token)
			}
		}
	}
	// Unknown kids do not cause a fetch each: the clock has not moved.
	if got := s.hits.Load(); got != 1 {
		t.Errorf("fetched %d times, want 1", got)
	}
}

// A key that appears in the set is found by a fetch that a token with
// an unknown kid triggers, at most once per 10 seconds; keys are fetched
// again in the background every JWKSRefresh.
func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	k := keys()
	c := newClock()
	s := newJWKSServer(t, jwkRSA("r1", &k.rsa.PublicKey))
	v := jwksVerifier(t, s, c, jwtaudit.Options{JWKSRefresh: time.Hour})
	tok1 := sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), map[string]any{"kid": "r1"})
	tok2 := sign(t, jwt.SigningMethodRS256, k.rsa2, claims(nil), map[string]any{"kid": "r2"})
	step := func(name, tok string, wantOK bool, wantHits int32) {
		t.Helper()
		got, err := v.Actor(request("Bearer " + tok))
		if wantOK && (err != nil || got.ID != "u-1") {
			t.Errorf("%s: got %+v, %v; want u-1", name, got, err)
		}
		if !wantOK && !errors.Is(err, jwtaudit.ErrTokenInvalid) {
			t.Errorf("%s: got %+v, %v; want ErrTokenInvalid", name, got, err)
		}
		if got := s.hits.Load(); wantHits >= 0 && got != wantHits {
			t.Errorf("%s: %d fetches, want %d", name, got, wantHits)
		}
	}
	step("old key", tok1, true, 1)
	s.serve(jwkRSA("r2", &k.rsa2.PublicKey)) // the provider rotates
	step("new key, just fetched", tok2, false, 1)
	c.Advance(11 * time.Second)
	step("new key, refetched", tok2, true, 2)
	step("old key, gone", tok1, false, 2)
	c.Advance(5 * time.Second)
	step("new key again", tok2, true, 2)

	// Past JWKSRefresh the keys held serve while a fetch runs behind.
	s.serve(jwkRSA("r1", &k.rsa.PublicKey), jwkRSA("r2", &k.rsa2.PublicKey))
	c.Advance(time.Hour)
	step("stale", tok2, true, -1) // the fetch behind may have begun

	waitFor(t, func() bool { return s.hits.Load() == 3 })
	waitFor(t, func() bool { _, err := v.Actor(request("Bearer " + tok1)); return err == nil })
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// A JWKS endpoint that fails makes tokens invalid, with an error that
// says the keys are unavailable and does not hold the URL.
func TestJWKSFailing(t *testing.T) {
	t.Parallel()
	k := keys()
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), map[string]any{"kid": "r1"})
	good := func(s *jwksServer) { s.status.Store(0); s.serve(jwkRSA("r1", &k.rsa.PublicKey)) }
	tests := []struct {
		name string
		fail func(s *jwksServer)
	}{
		{"status 500", func(s *jwksServer) { s.status.Store(500) }},
		{"status 404", func(s *jwksServer) { s.status.Store(404) }},
		{"not JSON", func(s *jwksServer) { s.serveRaw("<html>") }},
		{"no keys", func(s *jwksServer) { s.serveRaw(`{"keys":[]}`) }},
		{"no usable key", func(s *jwksServer) { s.serveRaw(`{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"RSA"}]}`) }},
		{"keys not a list", func(s *jwksServer) { s.serveRaw(`{"keys":{"kty":"RSA"}}`) }},
		{"too large", func(s *jwksServer) { s.serveRaw(`{"keys":[],"pad":"` + strings.Repeat("x", 1<<20) + `"}`) }},
		{"closed", func(s *jwksServer) { s.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			s := newJWKSServer(t)
			tt.fail(s)
			v := jwksVerifier(t, s, c, jwtaudit.Options{})
			for range 2 {
				got, err := v.Actor(request("Bearer " + tok))
				if !errors.Is(err, jwtaudit.ErrTokenInvalid) || !errors.Is(err, activitylog.ErrUnavailable) {
					t.Fatalf("got %+v, %v; want ErrTokenInvalid and ErrUnavailable", got, err)
				}
				if strings.Contains(err.Error(), s.URL) || strings.Contains(err.Error(), "127.0.0.1:"+strings.Split(s.URL, ":")[2]+"/") {
					t.Errorf("error %q holds the JWKS URL", err)
				}
				checkSecretFree(t, err.Error(), tok)
			}
			if tt.name == "closed" {
				return
			}
			// Once the endpoint recovers, and 10 seconds have passed.
			good(s)
			if _, err := v.Actor(request("Bearer " + tok)); err == nil {
				t.Errorf("fetched again within 10 seconds")
			}
			c.Advance(10 * time.Second)
			if got, err := v.Actor(request("Bearer " + tok)); err != nil || got.ID != "u-1" {
				t.Errorf("after recovery: got %+v, %v", got, err)
			}
		})
	}
}

// A failed refresh keeps the keys already fetched.
func TestJWKSKeepsKeys(t *testing.T) {
	t.Parallel()
	k := keys()
	c := newClock()
	s := newJWKSServer(t, jwkRSA("r1", &k.rsa.PublicKey))
	v := jwksVerifier(t, s, c, jwtaudit.Options{JWKSRefresh: time.Minute})
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), map[string]any{"kid": "r1"})
	if _, err := v.Actor(request("Bearer " + tok)); err != nil {
		t.Fatal(err)
	}
	s.status.Store(503)
	for range 3 {
		c.Advance(2 * time.Minute)
		hits := s.hits.Load()
		waitFor(t, func() bool {
			if _, err := v.Actor(request("Bearer " + tok)); err != nil {
				t.Fatalf("with a failing refresh: %v", err)
			}
			return s.hits.Load() > hits
		})
	}
}

// A request whose context ends stops waiting for the JWKS.
func TestJWKSContext(t *testing.T) {
	t.Parallel()
	k := keys()
	s := newJWKSServer(t, jwkRSA("r1", &k.rsa.PublicKey))
	s.block = make(chan struct{})
	defer close(s.block)
	v := jwksVerifier(t, s, newClock(), jwtaudit.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	r := request("Bearer " + sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), map[string]any{"kid": "r1"}))
	start := time.Now()
	_, err := v.Actor(r.WithContext(ctx))
	if !errors.Is(err, jwtaudit.ErrTokenInvalid) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got error %v, want ErrTokenInvalid and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("waited %v", d)
	}
}

// Many first requests at once cause one fetch.
func TestJWKSConcurrent(t *testing.T) {
	t.Parallel()
	k := keys()
	s := newJWKSServer(t, jwkRSA("r1", &k.rsa.PublicKey), jwkEC("e1", &k.p256.PublicKey))
	v := jwksVerifier(t, s, newClock(), jwtaudit.Options{CacheSize: 16})
	toks := []string{
		sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), map[string]any{"kid": "r1"}),
		sign(t, jwt.SigningMethodES256, k.p256, claims(nil), map[string]any{"kid": "e1"}),
	}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			if got, err := v.Actor(request("Bearer " + toks[i%2])); err != nil || got.ID != "u-1" {
				t.Errorf("got %+v, %v", got, err)
			}
		})
	}
	wg.Wait()
	if got := s.hits.Load(); got != 1 {
		t.Errorf("fetched %d times, want 1", got)
	}
}

// roundTripper serves a JWKS without a network.
type roundTripper struct {
	body  []byte
	calls atomic.Int32
}

func (rt *roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.calls.Add(1)
	w := httptest.NewRecorder()
	w.Write(rt.body)
	return w.Result(), nil
}

// Options.HTTPClient fetches the keys.
func TestJWKSHTTPClient(t *testing.T) {
	t.Parallel()
	k := keys()
	rt := &roundTripper{body: must(json.Marshal(map[string]any{"keys": []any{jwkEC("e1", &k.p256.PublicKey)}}))}
	v := newVerifier(t, jwtaudit.Options{JWKSURL: "https://login.example/jwks", HTTPClient: &http.Client{Transport: rt}})
	tok := sign(t, jwt.SigningMethodES256, k.p256, claims(nil), map[string]any{"kid": "e1"})
	if got, err := v.Actor(request("Bearer " + tok)); err != nil || got.ID != "u-1" {
		t.Errorf("got %+v, %v", got, err)
	}
	if rt.calls.Load() != 1 {
		t.Errorf("%d calls to the client, want 1", rt.calls.Load())
	}
}

// Static keys and a JWKS together: a JWKS that fails does not stop the
// static keys from verifying.
func TestJWKSWithStaticKey(t *testing.T) {
	t.Parallel()
	k := keys()
	s := newJWKSServer(t, jwkRSA("r2", &k.rsa2.PublicKey))
	v := jwksVerifier(t, s, newClock(), jwtaudit.Options{HMACSecret: k.secret, PublicKeyPEM: pemOf(&k.rsa.PublicKey)})
	for _, tok := range []string{
		sign(t, jwt.SigningMethodHS256, k.secret, claims(nil), nil),
		sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), nil),
		sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), map[string]any{"kid": "static"}),
		sign(t, jwt.SigningMethodRS256, k.rsa2, claims(nil), map[string]any{"kid": "r2"}),
	} {
		if got, err := v.Actor(request("Bearer " + tok)); err != nil || got.ID != "u-1" {
			t.Errorf("got %+v, %v", got, err)
		}
	}
	s.status.Store(500)
	v = jwksVerifier(t, s, newClock(), jwtaudit.Options{PublicKeyPEM: pemOf(&k.rsa.PublicKey)})
	if got, err := v.Actor(request("Bearer " + sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), map[string]any{"kid": "x"}))); err != nil || got.ID != "u-1" {
		t.Errorf("JWKS down: got %+v, %v", got, err)
	}
}
