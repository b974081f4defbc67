package access_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
	"github.com/activitylog/activitylog/jwtaudit"
)

func TestJWT(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, &access.Options{JWT: &access.JWTOptions{
		Verifier: jwtaudit.Options{
			HMACSecret:   secret,
			PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
			Issuer:       "https://login.example",
		},
		TenantClaim: "org",
	}})
	now := e.clock.Now()
	claims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "42", "name": "Ann", "org": "acme", "iss": "https://login.example",
			"exp": now.Add(time.Hour).Unix(), "permissions": []string{"view_all_logs", "resolve_events"}}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	hs := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil)).SignedString([]byte("another secret, just as long...."))
	eddsa, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims(jwt.MapClaims{"permissions": "view_logs ingest"})).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name      string
		token     string
		status    int
		want      string
		wantPerms []activitylog.Permission
	}{
		{"accepted", hs(claims(nil)), 200, `"tenant":"acme"`, []activitylog.Permission{activitylog.ViewAllLogs, activitylog.ResolveEvents}},
		{"EdDSA, permissions as a string", eddsa, 200, `"method":"jwt"`, []activitylog.Permission{activitylog.ViewLogs, activitylog.Ingest}},
		{"no permissions claim", hs(claims(jwt.MapClaims{"permissions": nil})), 200, `"permissions":[]`, []activitylog.Permission{}},
		{"expired", hs(claims(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()})), 401, "token is expired", nil},
		{"not yet valid", hs(claims(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()})), 401, "token is not valid yet", nil},
		{"wrong key", wrongKey, 401, "signature is invalid", nil},
		{"alg none", none, 401, "signing method none is invalid", nil},
		{"wrong issuer", hs(claims(jwt.MapClaims{"iss": "https://evil.example"})), 401, "issuer", nil},
		{"unknown permission", hs(claims(jwt.MapClaims{"permissions": []string{"view_logs", "admin"}})), 401,
			`claim \"permissions\": \"admin\" is not a permission; known are view_logs`, nil},
		{"superuser", hs(claims(jwt.MapClaims{"permissions": []string{"superuser"}})), 401, "superuser is not accepted from a JWT", nil},
		{"permissions not strings", hs(claims(jwt.MapClaims{"permissions": []any{1}})), 401, "must be an array of strings or a string", nil},
		{"tenant not a string", hs(claims(jwt.MapClaims{"org": 7})), 401, `claim \"org\" must be a string`, nil},
		{"no sub", hs(claims(jwt.MapClaims{"sub": nil})), 401, "no sub claim", nil},
		{"garbage", "not.a.jwt", 401, "token is malformed", nil},
	} {
		w := e.do(req{method: "GET", path: "/api/v1/me", bearer: tc.token})
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s: %d %s; want %d and %q", tc.name, w.Code, w.Body, tc.status, tc.want)
			continue
		}
		if strings.Contains(w.Body.String(), tc.token) {
			t.Errorf("%s: the answer holds the token", tc.name)
		}
		if tc.status != 200 {
			continue
		}
		var p activitylog.Principal
		decode(t, w, &p)
		if p.ID != "42" || p.Name != "Ann" || p.Method != access.MethodJWT || len(p.Permissions) != len(tc.wantPerms) {
			t.Errorf("%s: principal %+v", tc.name, p)
		}
		for i := range tc.wantPerms {
			if p.Permissions[i] != tc.wantPerms[i] {
				t.Errorf("%s: permissions %v, want %v", tc.name, p.Permissions, tc.wantPerms)
			}
		}
	}

	// The principal's permissions hold on the routes: view_all_logs
	// reads, but may not make keys.
	tok := hs(claims(nil))
	if w := e.do(req{method: "GET", path: "/api/v1/events", bearer: tok}); w.Code != 200 {
		t.Errorf("GET /events with the JWT: %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/api-keys", bearer: tok}); w.Code != 403 {
		t.Errorf("GET /api-keys with the JWT: %d %s", w.Code, w.Body)
	}
	// A cached token still expires.
	e.clock.Advance(2 * time.Hour)
	if w := e.do(req{method: "GET", path: "/api/v1/me", bearer: tok}); w.Code != 401 {
		t.Errorf("the cached token after its exp: %d %s", w.Code, w.Body)
	}
}

func TestJWTSuperuserAllowed(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	e := newEnv(t, &access.Options{JWT: &access.JWTOptions{Verifier: jwtaudit.Options{HMACSecret: secret}, AllowSuperuser: true}})
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "root", "permissions": []string{"superuser"}}).SignedString(secret)
	if w := e.do(req{method: "GET", path: "/api/v1/api-keys", bearer: tok}); w.Code != 200 {
		t.Errorf("superuser JWT with AllowSuperuser: %d %s", w.Code, w.Body)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name  string
		opts  access.Options
		field string
	}{
		{"SameSite None", access.Options{SameSite: 4}, "same_site"},
		{"cookie name", access.Options{CookieName: "a b"}, "cookie_name"},
		{"cookie path", access.Options{CookiePath: "audit"}, "cookie_path"},
		{"negative ttl", access.Options{SessionTTL: -time.Second}, "session_ttl"},
		{"JWT without a key", access.Options{JWT: &access.JWTOptions{}}, "keys"},
		{"JWT alg none", access.Options{JWT: &access.JWTOptions{Verifier: jwtaudit.Options{HMACSecret: []byte("x"), Algorithms: []string{"none"}}}}, "algorithms"},
		{"JWT in another header", access.Options{JWT: &access.JWTOptions{Verifier: jwtaudit.Options{HMACSecret: []byte("x"), Header: "X-Token"}}}, "jwt.header"},
	} {
		_, err := access.New(e.store.Credentials(), &tc.opts)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: %v; want a FieldError for %s", tc.name, err, tc.field)
		}
	}
}
