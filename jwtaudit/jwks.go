package jwtaudit

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/activitylog/activitylog"
)

const (
	// jwksMinInterval is the least time between two fetches of the
	// JWKS (or JWKSRefresh, when that is shorter): a token with an
	// unknown kid triggers a fetch, and a flood of them must not
	// become a flood of fetches.
	jwksMinInterval = 10 * time.Second
	// jwksTimeout bounds one fetch, whatever the HTTP client.
	jwksTimeout = 10 * time.Second
	// maxJWKSBytes bounds the JWKS document read.
	maxJWKSBytes = 1 << 20
)

// jwks holds the keys of a JSON Web Key Set fetched over HTTP. The set
// is fetched on first use; it is fetched again in the background once
// it is older than refresh, and at once (while the caller waits) when a
// token names a kid it does not hold, at most once per minInterval. A
// failed fetch keeps the keys already held.
type jwks struct {
	url     string
	client  *http.Client
	refresh time.Duration
	now     func() time.Time

	set atomic.Pointer[jwkSet] // nil until a fetch succeeds

	mu       sync.Mutex
	fetching chan struct{} // closed when the running fetch ends; nil when none runs
	tried    time.Time     // when the last fetch started
	err      error         // why the last fetch failed; nil if it succeeded
}

// jwkSet is one fetched key set.
type jwkSet struct {
	keys    []key
	fetched time.Time
}

// match appends to out the keys of s that verify alg a and, when kid
// is not empty, have that kid.
func (s *jwkSet) match(kid string, a algSet, out []any) []any {
	for _, k := range s.keys {
		if k.algs&a != 0 && (kid == "" || k.kid == kid) {
			out = append(out, k.pub)
		}
	}
	return out
}

// keys returns the keys that may have signed a token with algorithm a
// and key id kid. When none is held and fetch is true, it fetches the
// set (rate-limited) and waits for it, or for ctx.
func (j *jwks) keys(ctx context.Context, kid string, a algSet, fetch bool) ([]any, error) {
	now := j.now()
	if s := j.set.Load(); s != nil {
		if out := s.match(kid, a, nil); len(out) > 0 {
			if now.Sub(s.fetched) >= j.refresh {
				j.start(now) // in the background; the keys held serve meanwhile
			}
			return out, nil
		}
	}
	if !fetch {
		return nil, nil
	}
	if done := j.start(now); done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for jwks: %w", ctx.Err())
		}
	}
	if s := j.set.Load(); s != nil {
		if out := s.match(kid, a, nil); len(out) > 0 {
			return out, nil
		}
	}
	j.mu.Lock()
	err := j.err
	j.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if kid != "" {
		return nil, fmt.Errorf("no key in the jwks with kid %s for %s", strconv.Quote(clip(kid, 64)), a)
	}
	return nil, fmt.Errorf("no key in the jwks for %s", a)
}

// start starts a fetch unless one runs already or the last started less
// than minInterval ago. It returns a channel closed when the running
// fetch ends, or nil when none runs.
func (j *jwks) start(now time.Time) <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fetching != nil {
		return j.fetching
	}
	if !j.tried.IsZero() && now.Sub(j.tried) < min(jwksMinInterval, j.refresh) {
		return nil
	}
	j.tried = now
	done := make(chan struct{})
	j.fetching = done
	go j.fetch(now, done)
	return done
}

// fetch fetches the set. It runs in a goroutine of its own, so that a
// request that gives up waiting does not cancel it for the others.
func (j *jwks) fetch(now time.Time, done chan struct{}) {
	keys, err := j.get()
	j.mu.Lock()
	if err == nil {
		j.set.Store(&jwkSet{keys: keys, fetched: now})
	}
	j.err = err
	j.fetching = nil
	j.mu.Unlock()
	close(done)
}

// get fetches and parses the set. Its errors wrap
// activitylog.ErrUnavailable, and never hold the URL, which may carry
// credentials.
func (j *jwks) get() ([]key, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w: %w", activitylog.ErrUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("fetch jwks: %w: %w", activitylog.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // so the connection can be reused
		return nil, fmt.Errorf("fetch jwks: %w: status %d", activitylog.ErrUnavailable, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w: %w", activitylog.ErrUnavailable, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("fetch jwks: %w: larger than %d bytes", activitylog.ErrUnavailable, maxJWKSBytes)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w: %w", activitylog.ErrUnavailable, err)
	}
	return keys, nil
}

// jwk is one JSON Web Key (RFC 7517, RFC 7518 §6, RFC 8037), the
// members read.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS returns the signing keys of a JWKS document. Keys that are
// not for signatures ("use" other than "sig"), symmetric, of an
// unsupported type or curve, or malformed are skipped; a set with no
// usable key is an error.
func parseJWKS(body []byte) ([]key, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode jwks: %w", err)
	}
	var keys []key
	for _, k := range doc.Keys {
		if kk, ok := parseJWK(k); ok {
			keys = append(keys, kk)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("jwks holds no usable signing key among %d", len(doc.Keys))
	}
	return keys, nil
}

func parseJWK(k jwk) (key, bool) {
	if k.Use != "" && k.Use != "sig" {
		return key{}, false
	}
	var pub any
	switch k.Kty {
	case "RSA":
		n, e := b64(k.N), b64(k.E)
		if len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return key{}, false
		}
		exp := new(big.Int).SetBytes(e).Int64()
		if exp < 3 || exp > 1<<31-1 {
			return key{}, false
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
	case "EC":
		var c elliptic.Curve
		switch k.Crv {
		case "P-256":
			c = elliptic.P256()
		case "P-384":
			c = elliptic.P384()
		case "P-521":
			c = elliptic.P521()
		default:
			return key{}, false
		}
		size := (c.Params().BitSize + 7) / 8
		x, y := b64(k.X), b64(k.Y)
		if len(x) != size || len(y) != size {
			return key{}, false
		}
		p, err := ecdsa.ParseUncompressedPublicKey(c, append(append([]byte{4}, x...), y...))
		if err != nil {
			return key{}, false
		}
		pub = p
	case "OKP":
		x := b64(k.X)
		if k.Crv != "Ed25519" || len(x) != ed25519.PublicKeySize {
			return key{}, false
		}
		pub = ed25519.PublicKey(x)
	default:
		return key{}, false // "oct" included: a shared secret has no place in a public set
	}
	algs, reason := keyAlgs(pub)
	if reason != "" {
		return key{}, false
	}
	if k.Alg != "" {
		a := algBit(k.Alg)
		if algs&a == 0 {
			return key{}, false
		}
		algs = a
	}
	return key{kid: k.Kid, algs: algs, pub: pub}, true
}

// b64 decodes base64url, padded or not; nil when s does not decode.
func b64(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil
	}
	return b
}

// checkJWKSURL refuses a JWKS address that is not https, or http to a
// loopback address: over plain http anyone on the path could hand the
// verifier their own keys.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return activitylog.Invalid("jwks_url", redactURL(raw), "is not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return activitylog.Invalid("jwks_url", shortURL(u), "must be https (http only to a loopback address)")
	}
	return activitylog.Invalid("jwks_url", shortURL(u), "must be https")
}

// shortURL returns u without user info, query and fragment, which may
// carry credentials.
func shortURL(u *url.URL) string {
	return clip(u.Scheme+"://"+u.Host+u.EscapedPath(), 128)
}

// redactURL returns raw without anything after its scheme and host,
// for an address that does not parse.
func redactURL(raw string) string {
	if i := strings.IndexAny(raw, "@?#"); i >= 0 {
		raw = raw[:i] + "…"
	}
	return clip(raw, 64)
}
