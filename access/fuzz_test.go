package access_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/activitylog/activitylog/access"
)

// A key parses exactly when it is the one spelling of an id and a
// secret; then its hash is the secret's. An error never holds the
// secret part of its input.
func FuzzParseAPIKey(f *testing.F) {
	for _, seed := range []string{
		"",
		"alk_",
		"alk_0123456789abcdef_",
		"alk_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"alk_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", // spare bits set
		"alk_0123456789ABCDEF_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"alk_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_aa",
		"alk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"alk_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=",
		"alk__0123456789abcdef",
		"eyJhbGciOiJIUzI1NiJ9.e30.x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		id, hash, err := access.ParseAPIKey(key)
		if err != nil {
			if !errors.Is(err, access.ErrMalformed) || id != "" || hash != nil {
				t.Fatalf("error %v with id %q, hash %x", err, id, hash)
			}
			if rest, ok := strings.CutPrefix(key, access.KeyPrefix); ok {
				// The secret is what follows the first _ after the
				// prefix (unless it is a part of the id, which may be
				// named).
				// The id is taken out of the error first: a secret such as
				// "0000000 " is found in "alk_0000000000000000 has",
				// where the id is named and only the space follows it.
				if i := strings.IndexByte(rest, '_'); i >= 0 && len(rest)-i > 8 && !strings.Contains(rest[:i], rest[i+1:]) &&
					strings.Contains(strings.ReplaceAll(err.Error(), rest[:i], "<id>"), rest[i+1:]) {
					t.Fatalf("the error %q holds the secret", err)
				}
			}
			return
		}
		if len(key) != access.KeyLen || access.KeyID(key) != id || key[:len(access.KeyPrefix)+16] != access.KeyPrefix+id {
			t.Fatalf("accepted %q as id %q", key, id)
		}
		if len(hash) != sha256.Size {
			t.Fatalf("hash of %d bytes", len(hash))
		}
	})
}

// A session token parses exactly when it is the base64url of 32 bytes,
// in its one spelling; its hash is theirs.
func FuzzParseSessionToken(f *testing.F) {
	for _, seed := range []string{
		"",
		"garbage",
		strings.Repeat("A", 43),
		strings.Repeat("A", 42) + "B", // spare bits set
		strings.Repeat("_", 43),
		strings.Repeat("+", 43),
		strings.Repeat("A", 43) + "=",
		strings.Repeat("A", 44),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		hash, err := access.ParseSessionToken(token)
		if err != nil {
			if !errors.Is(err, access.ErrMalformed) || hash != nil {
				t.Fatalf("error %v, hash %x", err, hash)
			}
			if len(token) > 8 && strings.Contains(err.Error(), token) {
				t.Fatalf("the error %q holds the token", err)
			}
			return
		}
		b, derr := base64.RawURLEncoding.Strict().DecodeString(token)
		sum := sha256.Sum256(b)
		if derr != nil || len(b) != 32 || string(hash) != string(sum[:]) {
			t.Fatalf("accepted %q", token)
		}
	})
}

// Whatever a request carries, Authenticate does not panic, and refuses
// what it does not know.
func FuzzAuthenticate(f *testing.F) {
	f.Add("Bearer alk_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "", "POST")
	f.Add("", strings.Repeat("A", 43), "GET")
	f.Add("Basic x", "x", "DELETE")
	f.Add("bearer ", "", "PUT")
	e := newEnv(f, nil)
	f.Fuzz(func(t *testing.T, authz, cookie, method string) {
		r := httptest.NewRequest("GET", "/api/v1/me", nil)
		r.Method = method // may be anything: Authenticate must not care
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if cookie != "" {
			r.Header.Set("Cookie", access.DefaultCookieName+"="+cookie)
		}
		if p, err := e.svc.Authenticate(r); p != nil {
			t.Fatalf("authenticated %+v from %q, %q (err %v)", p, authz, cookie, err)
		}
	})
}
