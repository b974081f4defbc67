package access_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
)

type keyAnswer struct {
	ID         string                   `json:"id"`
	Key        string                   `json:"key"`
	Name       string                   `json:"name"`
	Tenant     string                   `json:"tenant"`
	Scopes     []activitylog.Permission `json:"scopes"`
	CreatedBy  string                   `json:"created_by"`
	ExpiresAt  *time.Time               `json:"expires_at"`
	RevokedAt  *time.Time               `json:"revoked_at"`
	LastUsedAt *time.Time               `json:"last_used_at"`
}

// The API key routes, one scenario after another on one store: each
// row's key names come from earlier rows.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	keys := map[string]string{"root": e.root} // name → key
	create := func(name, body string) {
		t.Helper()
		w := e.do(req{method: "POST", path: "/api/v1/api-keys", bearer: e.root, body: body})
		if w.Code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", name, w.Code, w.Body)
		}
		var k keyAnswer
		decode(t, w, &k)
		if !strings.HasPrefix(k.Key, k.ID+"_") || len(k.Key) != access.KeyLen || k.CreatedBy != "alk_"+access.KeyID(e.root) {
			t.Fatalf("create %s: answer %+v", name, k)
		}
		keys[name] = k.Key
	}
	create("ingest", `{"name":"billing ingest","scopes":["ingest"],"tenant":"acme"}`)
	create("reader", `{"name":"dashboard","scopes":["view_all_logs","view_all_logs"],"tenant":"acme","expires_in":"1h"}`)
	create("dated", `{"name":"dated","scopes":["view_logs"],"expires_at":"`+e.clock.Now().Add(48*time.Hour).Format(time.RFC3339)+`"}`)
	create("doomed", `{"name":"to revoke","scopes":["view_logs"]}`)

	me := func(key string) *http.Response {
		return e.do(req{method: "GET", path: "/api/v1/me", bearer: key}).Result()
	}
	if r := me(keys["reader"]); r.StatusCode != 200 {
		t.Fatalf("GET /me with a new key: %d", r.StatusCode)
	}
	var p activitylog.Principal
	decode(t, e.do(req{method: "GET", path: "/api/v1/me", bearer: keys["reader"]}), &p)
	if p.Method != "api_key" || p.Tenant != "acme" || p.Name != "dashboard" || len(p.Permissions) != 1 || p.Permissions[0] != activitylog.ViewAllLogs {
		t.Errorf("the reader key's principal: %+v", p)
	}

	secretOf := func(k string) string { return k[strings.LastIndexByte(k, '_')+1:] }
	// Another secret: its first character changed.
	i := len("alk_0123456789abcdef_")
	wrongSecret := keys["reader"][:i] + map[bool]string{true: "b", false: "a"}[keys["reader"][i] == 'a'] + keys["reader"][i+1:]
	for _, tc := range []struct {
		name    string
		rq      req
		advance time.Duration
		status  int
		want    string // in the body
	}{
		{"ingest key posts", req{method: "POST", path: "/api/v1/events", bearer: keys["ingest"], body: `{"kind":"custom","action":"ping"}`}, 0, 201, `"accepted":1`},
		{"ingest key may not read", req{method: "GET", path: "/api/v1/events", bearer: keys["ingest"]}, 0, 403, "lacks the permission view_logs"},
		{"reader may not post", req{method: "POST", path: "/api/v1/events", bearer: keys["reader"], body: `{"kind":"custom","action":"ping"}`}, 0, 403, "lacks the permission ingest"},
		{"reader may not make keys", req{method: "POST", path: "/api/v1/api-keys", bearer: keys["reader"], body: `{"name":"x","scopes":["ingest"]}`}, 0, 403, "lacks the permission superuser"},
		{"reader may not list keys", req{method: "GET", path: "/api/v1/api-keys", bearer: keys["reader"]}, 0, 403, "superuser"},
		{"no superuser key from the API", req{method: "POST", path: "/api/v1/api-keys", bearer: e.root, body: `{"name":"x","scopes":["ingest","superuser"]}`}, 0, 400, `"field":"scopes"`},
		{"unknown scope", req{method: "POST", path: "/api/v1/api-keys", bearer: e.root, body: `{"name":"x","scopes":["admin"]}`}, 0, 400, `is not a permission; known are view_logs`},
		{"no scope", req{method: "POST", path: "/api/v1/api-keys", bearer: e.root, body: `{"name":"x","scopes":[]}`}, 0, 400, `"field":"scopes"`},
		{"no name", req{method: "POST", path: "/api/v1/api-keys", bearer: e.root, body: `{"scopes":["ingest"]}`}, 0, 400, `"field":"name"`},
		{"expiry in the past", req{method: "POST", path: "/api/v1/api-keys", bearer: e.root, body: `{"name":"x","scopes":["ingest"],"expires_at":"2001-01-01T00:00:00Z"}`}, 0, 400, `"field":"expires_at"`},
		{"bad expires_in", req{method: "POST", path: "/api/v1/api-keys", bearer: e.root, body: `{"name":"x","scopes":["ingest"],"expires_in":"soon"}`}, 0, 400, `"field":"expires_in"`},
		{"unknown field", req{method: "POST", path: "/api/v1/api-keys", bearer: e.root, body: `{"name":"x","scopes":["ingest"],"superuser":true}`}, 0, 400, `"field":"superuser","value":""`},
		{"scopes twice", req{method: "POST", path: "/api/v1/api-keys", bearer: e.root, body: `{"name":"x","scopes":["ingest"],"scopes":["view_all_logs"]}`}, 0, 400, `is given twice in one object","field":"scopes"`},
		{"scopes in another case", req{method: "POST", path: "/api/v1/api-keys", bearer: e.root, body: `{"name":"x","scopes":["ingest"],"Scopes":["view_all_logs"]}`}, 0, 400, `did you mean \"scopes\"`},
		{"a bad expires_at names it", req{method: "POST", path: "/api/v1/api-keys", bearer: e.root, body: `{"name":"x","scopes":["ingest"],"expires_at":"yesterday"}`}, 0, 400, `"field":"expires_at","value":"yesterday"`},
		{"malformed: no prefix", req{method: "GET", path: "/api/v1/me", bearer: "alk-0123"}, 0, 401, "not an API key (those start with alk_)"},
		{"malformed: short id", req{method: "GET", path: "/api/v1/me", bearer: "alk_0123_abc"}, 0, 401, "malformed credential: an API key has 16 hex digits"},
		{"malformed: cut short", req{method: "GET", path: "/api/v1/me", bearer: keys["reader"][:40]}, 0, 401, "has a secret of 19 characters, not 52"},
		{"malformed: bad characters", req{method: "GET", path: "/api/v1/me", bearer: keys["reader"][:21] + strings.ToUpper(secretOf(keys["reader"]))}, 0, 401, "malformed"},
		{"wrong secret", req{method: "GET", path: "/api/v1/me", bearer: wrongSecret}, 0, 401, "is not a key of this server, or its secret is wrong"},
		{"unknown id", req{method: "GET", path: "/api/v1/me", bearer: "alk_0000000000000000_" + secretOf(keys["reader"])}, 0, 401, "alk_0000000000000000 is not a key of this server"},
		{"revoke", req{method: "DELETE", path: "/api/v1/api-keys/" + access.KeyID(keys["doomed"]), bearer: e.root}, 0, 204, ""},
		{"revoke again", req{method: "DELETE", path: "/api/v1/api-keys/alk_" + access.KeyID(keys["doomed"]), bearer: e.root}, 0, 204, ""},
		{"revoke unknown", req{method: "DELETE", path: "/api/v1/api-keys/alk_0000000000000000", bearer: e.root}, 0, 404, "no API key"},
		{"revoke not an id", req{method: "DELETE", path: "/api/v1/api-keys/bogus", bearer: e.root}, 0, 400, `"field":"id"`},
		{"revoked key", req{method: "GET", path: "/api/v1/me", bearer: keys["doomed"]}, 0, 401, "was revoked at"},
		{"reader before expiry", req{method: "GET", path: "/api/v1/me", bearer: keys["reader"]}, 59 * time.Minute, 200, `"method":"api_key"`},
		{"reader expired", req{method: "GET", path: "/api/v1/me", bearer: keys["reader"]}, time.Minute, 401, "expired at"},
		{"dated key still good", req{method: "GET", path: "/api/v1/me", bearer: keys["dated"]}, 0, 200, ""},
	} {
		e.clock.Advance(tc.advance)
		w := e.do(tc.rq)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s: %d %s; want %d and %q", tc.name, w.Code, w.Body, tc.status, tc.want)
		}
		if strings.Contains(w.Body.String(), secretOf(keys["reader"])) {
			t.Errorf("%s: the answer holds a key's secret: %s", tc.name, w.Body)
		}
	}

	// The list: every key, revoked and expired ones included, and no
	// secret or hash.
	w := e.do(req{method: "GET", path: "/api/v1/api-keys", bearer: e.root})
	var list struct {
		Count   int         `json:"count"`
		Results []keyAnswer `json:"results"`
	}
	decode(t, w, &list)
	if list.Count != 5 {
		t.Fatalf("list: %s", w.Body)
	}
	for name, k := range keys {
		if strings.Contains(w.Body.String(), secretOf(k)) {
			t.Errorf("the list shows the secret of %s", name)
		}
	}
	byID := map[string]keyAnswer{}
	for _, k := range list.Results {
		byID[k.ID] = k
	}
	if k := byID["alk_"+access.KeyID(keys["doomed"])]; k.RevokedAt == nil {
		t.Errorf("the revoked key is listed as %+v", k)
	}
	if k := byID["alk_"+access.KeyID(keys["reader"])]; k.LastUsedAt == nil || k.ExpiresAt == nil || k.Tenant != "acme" {
		t.Errorf("the used key is listed as %+v", k)
	}
	if k := byID["alk_"+access.KeyID(keys["ingest"])]; k.ExpiresAt != nil || k.Name != "billing ingest" {
		t.Errorf("the ingest key is listed as %+v", k)
	}

	// Made and revoked keys are in the trail, without their secrets.
	got := strings.Join(e.rec.actions(), " ")
	if !strings.Contains(got, "crud/create crud/create") || !strings.Contains(got, "crud/delete") || strings.Count(got, "crud/delete") != 1 {
		t.Errorf("recorded %s", got)
	}
	for _, k := range keys {
		if strings.Contains(e.rec.json(t), secretOf(k)) {
			t.Error("a recorded event holds a key's secret")
		}
	}
}

// The command line alone may make a superuser key.
func TestSuperuserKeyOnlyFromCLI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	_, _, err := e.svc.CreateAPIKey(ctx, access.NewAPIKey{Name: "x", Scopes: []activitylog.Permission{activitylog.Superuser}})
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) || fe.Field != "scopes" || !strings.Contains(fe.Reason, "--superuser") {
		t.Errorf("a superuser key without AllowSuperuser: %v", err)
	}
	key, k, err := e.svc.CreateAPIKey(ctx, access.NewAPIKey{Name: "ops", Scopes: []activitylog.Permission{activitylog.Superuser}, AllowSuperuser: true})
	if err != nil || k.CreatedBy != "cli" {
		t.Fatalf("CreateAPIKey with AllowSuperuser: %+v, %v", k, err)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/api-keys", bearer: key}); w.Code != 200 {
		t.Errorf("the superuser key: %d %s", w.Code, w.Body)
	}
}

func TestBootstrapOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil) // bootstraps
	for range 2 {
		if k, err := e.svc.Bootstrap(context.Background()); k != "" || err != nil {
			t.Errorf("Bootstrap on a store with a key = %q, %v; want nothing", k, err)
		}
	}
	if w := e.do(req{method: "GET", path: "/api/v1/events", bearer: e.root}); w.Code != 200 {
		t.Errorf("the bootstrap key: %d %s", w.Code, w.Body)
	}
}

// TestAccessChangesInTheirTenant: the record of a change to a key or a
// user is in that key's or user's tenant, so that another tenant's
// readers (and those of events without a tenant) never see it.
func TestAccessChangesInTheirTenant(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, _, err := e.svc.CreateAPIKey(ctx, access.NewAPIKey{Name: "acme-reader", Tenant: "acme", Scopes: []activitylog.Permission{activitylog.ViewAllLogs}, By: access.CLI}); err != nil {
		t.Fatal(err)
	}
	e.user("gus", "globex", activitylog.ViewAllLogs)
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	want := map[string]string{"acme-reader": "acme", "gus": "globex"}
	for _, ev := range e.rec.es {
		if tenant, ok := want[ev.Object.Repr]; ok && ev.Kind == activitylog.KindCRUD {
			if ev.Tenant != tenant {
				t.Errorf("%s %s %q recorded in tenant %q, want %q", ev.Action, ev.Object.Type, ev.Object.Repr, ev.Tenant, tenant)
			}
			delete(want, ev.Object.Repr)
		}
	}
	if len(want) != 0 {
		t.Errorf("no crud event for %v", want)
	}
}
