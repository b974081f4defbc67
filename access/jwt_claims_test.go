package access_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
	"github.com/activitylog/activitylog/jwtaudit"
)

// TestJWTClaimsChecked: the claims that make the principal (sub, name
// or preferred_username, tenant, permissions) are refused with 401 and
// a message naming the claim when they are too long for the store or
// hold control characters; a value at the limit is accepted.
func TestJWTClaimsChecked(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	e := newEnv(t, &access.Options{JWT: &access.JWTOptions{Verifier: jwtaudit.Options{HMACSecret: secret}}})
	now := e.clock.Now()
	tok := func(extra jwt.MapClaims) string {
		c := jwt.MapClaims{"sub": "42", "name": "Ann", "tenant": "acme", "exp": now.Add(time.Hour).Unix(),
			"permissions": []string{"view_all_logs", "resolve_events"}}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	long := func(n int) string { return strings.Repeat("a", n) }
	const max = activitylog.MaxShortField

	for _, tc := range []struct {
		name  string
		token string
		want  string
	}{
		{"sub too long", tok(jwt.MapClaims{"sub": long(5000)}), `claim \"sub\": \"aaaa`},
		{"sub one byte too long", tok(jwt.MapClaims{"sub": long(max + 1)}), `claim \"sub\": \"aaaa`},
		{"sub with a newline", tok(jwt.MapClaims{"sub": "42\nadmin"}), `claim \"sub\": \"42\\nadmin\" must be UTF-8 without control characters`},
		{"name too long", tok(jwt.MapClaims{"name": long(2000)}), `claim \"name\": \"aaaa`},
		{"name with NUL", tok(jwt.MapClaims{"name": "Ann\x00"}), `claim \"name\": \"Ann\\x00\" must be UTF-8`},
		{"preferred_username too long", tok(jwt.MapClaims{"name": nil, "preferred_username": long(2000)}), `claim \"preferred_username\": \"aaaa`},
		{"preferred_username with escape", tok(jwt.MapClaims{"name": "", "preferred_username": "ann\x1b[31m"}), `claim \"preferred_username\"`},
		{"tenant too long", tok(jwt.MapClaims{"tenant": long(5000)}), `claim \"tenant\": \"aaaa`},
		{"tenant with a tab", tok(jwt.MapClaims{"tenant": "ac\tme"}), `claim \"tenant\": \"ac\\tme\" must be UTF-8`},
		{"permissions string too long", tok(jwt.MapClaims{"permissions": strings.Repeat("view_logs ", 500)}), `claim \"permissions\": \"view_logs view_logs`},
		{"permission name too long", tok(jwt.MapClaims{"permissions": []string{"view_logs", long(2000)}}), `claim \"permissions\": \"aaaa`},
	} {
		w := e.do(req{method: "GET", path: "/api/v1/me", bearer: tc.token})
		body := w.Body.String()
		if w.Code != 401 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s; want 401 and %q", tc.name, w.Code, body, tc.want)
			continue
		}
		if strings.Contains(body, "longer than") && !strings.Contains(body, "is longer than 1024 bytes") {
			t.Errorf("%s: %s; want the limit named", tc.name, body)
		}
		if strings.Contains(body, long(65)) || len(body) > 1000 {
			t.Errorf("%s: the value is not clipped: %d bytes: %.300s", tc.name, len(body), body)
		}
		if strings.Contains(body, `"field"`) {
			t.Errorf("%s: %s; the claim is not a request field", tc.name, body)
		}
	}

	// A 5,000-byte sub may not export (the export would record it as
	// the actor), and a 2,000-byte name may not resolve (it would be
	// resolved_by).
	w := e.do(req{method: "POST", path: "/api/v1/events", bearer: e.root, body: `{"kind":"custom","action":"ping","tenant":"acme"}`})
	if w.Code != 201 {
		t.Fatalf("ingest: %d %s", w.Code, w.Body)
	}
	var list struct {
		Results []activitylog.Event `json:"results"`
	}
	decode(t, e.do(req{method: "GET", path: "/api/v1/events", bearer: e.root}), &list)
	if len(list.Results) == 0 {
		t.Fatal("no event listed")
	}
	id := list.Results[0].ID.String()
	if w := e.do(req{method: "GET", path: "/api/v1/events/export?format=csv", bearer: tok(jwt.MapClaims{"sub": long(5000)})}); w.Code != 401 {
		t.Errorf("export with a 5000-byte sub: %d %.300s", w.Code, w.Body)
	}
	if w := e.do(req{method: "POST", path: "/api/v1/events/" + id + "/resolve", bearer: tok(jwt.MapClaims{"name": long(2000)}), body: `{}`}); w.Code != 401 {
		t.Errorf("resolve with a 2000-byte name: %d %.300s", w.Code, w.Body)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/events/" + id + "/resolution", bearer: e.root}); w.Code != 404 {
		t.Errorf("resolution after the refused resolve: %d %.300s", w.Code, w.Body)
	}
	if s := e.rec.json(t); strings.Contains(s, long(max)) {
		t.Errorf("a recorded event holds a claim past the limit: %.300s", s)
	}

	// At the limit, and not ASCII, is accepted.
	sub, name, tenant := long(max), strings.Repeat("é", max/2), "acme ünïcode"
	w = e.do(req{method: "GET", path: "/api/v1/me", bearer: tok(jwt.MapClaims{"sub": sub, "name": name, "tenant": tenant, "permissions": "view_logs  ingest"})})
	if w.Code != 200 {
		t.Fatalf("claims at the limit: %d %.300s", w.Code, w.Body)
	}
	var p activitylog.Principal
	decode(t, w, &p)
	if p.ID != sub || p.Name != name || p.Tenant != tenant || len(p.Permissions) != 2 {
		t.Errorf("principal %.100s %.100s %q %v", p.ID, p.Name, p.Tenant, p.Permissions)
	}
}
