package jwtaudit_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/activitylog/activitylog"
)

// testKeys are generated once per test binary: RSA keys take a while.
type testKeys struct {
	secret, secret2 []byte
	rsa, rsa2       *rsa.PrivateKey
	p256, p256b     *ecdsa.PrivateKey
	p384, p521      *ecdsa.PrivateKey
	ed              ed25519.PrivateKey
}

var keys = sync.OnceValue(func() *testKeys {
	k := &testKeys{secret: make([]byte, 32), secret2: make([]byte, 32)}
	rand.Read(k.secret)
	rand.Read(k.secret2)
	k.rsa = must(rsa.GenerateKey(rand.Reader, 2048))
	k.rsa2 = must(rsa.GenerateKey(rand.Reader, 2048))
	k.p256 = must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	k.p256b = must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	k.p384 = must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	k.p521 = must(ecdsa.GenerateKey(elliptic.P521(), rand.Reader))
	_, k.ed = must2(ed25519.GenerateKey(rand.Reader))
	return k
})

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

// pemOf returns pub as a PKIX "PUBLIC KEY" PEM block.
func pemOf(pub any) []byte {
	der := must(x509.MarshalPKIXPublicKey(pub))
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// t0 is the tests' "now".
var t0 = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for Options.Now.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(t0.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func fixedNow() time.Time { return t0 }

// claims returns the claims of a token for user u-1 valid for an hour
// from t0, with extra merged in (a nil value deletes).
func claims(extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub":   "u-1",
		"name":  "Ann",
		"email": "ann@example.com",
		"iat":   t0.Unix(),
		"exp":   t0.Add(time.Hour).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// sign returns a token over c signed with method and key, with header
// fields added.
func sign(tb testing.TB, method jwt.SigningMethod, key any, c jwt.MapClaims, header map[string]any) string {
	tb.Helper()
	tok := jwt.NewWithClaims(method, c)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// request returns a GET request with the Authorization header set to
// auth, or without one when auth is empty.
func request(auth string) *http.Request {
	r := httptest.NewRequest("GET", "http://shop.example/orders/7", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

func isZero(a activitylog.Actor) bool {
	return a.ID == "" && a.Name == "" && a.Email == "" && a.Type == "" && a.Extra == nil
}
