package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/sqlite"
)

// The roles of the permission tests, by bearer token.
var roles = map[string]*activitylog.Principal{
	"root":          {ID: "root", Permissions: []activitylog.Permission{activitylog.Superuser}},
	"acme-viewer":   {ID: "ann", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ViewLogs}},
	"acme-admin":    {ID: "amy", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ViewAllLogs}},
	"acme-resolver": {ID: "rex", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ViewAllLogs, activitylog.ResolveEvents}},
	"ann-resolver":  {ID: "ann", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ViewLogs, activitylog.ResolveEvents}},
	"acme-ingest":   {ID: "key-acme", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.Ingest}},
	"acme-retain":   {ID: "rita", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ManageRetention}},
	"acme-dbadmin":  {ID: "dora", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ManageDatabaseConfig}},
	"single-admin":  {ID: "sam", Permissions: []activitylog.Permission{activitylog.ViewAllLogs}},
}

func roleAuth(r *http.Request) (*activitylog.Principal, error) {
	tok := BearerToken(r)
	if tok == "" {
		return nil, nil
	}
	if p, ok := roles[tok]; ok {
		return p, nil
	}
	return nil, errors.New("unknown bearer token")
}

// The secret every globex event carries, which no acme principal may
// ever receive.
const globexSecret = "GLOBEX-SECRET-7f3a"

type rbacEnv struct {
	h      *server
	store  *sqlite.Store
	bobs   activitylog.Event // an acme event of bob's
	b      *Broadcaster
	acme   activitylog.Event // one of ann's
	globex activitylog.Event
}

func newRBACEnv(t *testing.T) *rbacEnv {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBroadcaster(store, nil)
	rec := activitylog.NewRecorder(b, &activitylog.Options{Mode: activitylog.Sync, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() {
		b.Close()
		rec.Shutdown(context.Background())
		store.Close()
	})
	var events []activitylog.Event
	now := time.Now().UTC()
	for i, tenant := range []string{"acme", "globex", "", "acme", "globex"} {
		for j, kind := range []activitylog.Kind{activitylog.KindCRUD, activitylog.KindAuth, activitylog.KindRequest, activitylog.KindCORS, activitylog.KindSystem, activitylog.KindExport, activitylog.KindExternal} {
			e := activitylog.Event{
				ID:       activitylog.NewID(now),
				Time:     now.Add(-time.Duration(i*10+j) * time.Minute),
				Kind:     kind,
				Action:   map[activitylog.Kind]string{activitylog.KindCRUD: "update", activitylog.KindAuth: "login_failed", activitylog.KindRequest: "GET", activitylog.KindCORS: "preflight", activitylog.KindSystem: "error", activitylog.KindExport: "export", activitylog.KindExternal: "GET"}[kind],
				Severity: activitylog.SeverityCritical,
				Tenant:   tenant,
				Actor:    activitylog.Actor{ID: []string{"ann", "gil", "sam", "bob", "gil"}[i]},
				Object:   activitylog.Object{Type: "invoice", ID: "7"},
				Request:  activitylog.Request{Method: "GET", Path: "/x", Route: "/x", RemoteIP: "203.0.113.9"},
				Response: activitylog.Response{Status: 500, Duration: 5 * time.Second},
				Message:  "event of " + tenant,
			}
			if tenant == "globex" {
				e.Message = globexSecret
			}
			events = append(events, e)
		}
	}
	if err := rec.Commit(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	srv := New(store, rec, &Options{
		Authenticate: roleAuth,
		Audit:        rec,
		Stream:       &StreamOptions{Broadcaster: b},
		Logger:       slog.New(slog.DiscardHandler),
	}).(*server)
	return &rbacEnv{h: srv, store: store, b: b, acme: events[0], globex: events[7], bobs: events[21]}
}

// path fills a route's pattern with the ids of event e.
func (env *rbacEnv) path(pattern string, e activitylog.Event) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.ReplaceAll(path, "{type}", e.Object.Type)
	path = strings.Replace(path, "{id}", e.ID.String(), 1)
	return method, path
}

func (env *rbacEnv) do(method, path, token string) *httptest.ResponseRecorder {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader("{}"))
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	env.h.ServeHTTP(w, r)
	return w
}

// TestPermissionMatrix tries every role on every route of the route
// table, so that a route added later is covered without a new test
// line: without credentials it is 401, with a role that lacks its
// permission 403, and with one that holds it neither.
func TestPermissionMatrix(t *testing.T) {
	env := newRBACEnv(t)
	if len(env.h.routes) < 10 {
		t.Fatalf("only %d routes registered", len(env.h.routes))
	}
	for _, rt := range env.h.routes {
		method, path := env.path(rt.pattern, env.acme)
		if rt.pattern == "GET /api/v1/ws" {
			continue // a WebSocket refuses with close codes: TestStreamAuthentication
		}
		t.Run(rt.pattern, func(t *testing.T) {
			if rt.need == Public {
				if w := env.do(method, path, ""); w.Code == 401 || w.Code == 403 {
					t.Errorf("public route answers %d without credentials", w.Code)
				}
				return
			}
			if w := env.do(method, path, ""); w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("no credentials: %d %q, want 401 with WWW-Authenticate", w.Code, w.Body.String())
			}
			if w := env.do(method, path, "forged"); w.Code != http.StatusUnauthorized {
				t.Errorf("forged token: %d, want 401", w.Code)
			}
			need := rt.need
			if need == selfAuth {
				need = activitylog.ViewLogs // the streams
			}
			for token, p := range roles {
				w := env.do(method, path, token)
				denied := w.Code == http.StatusForbidden && strings.Contains(w.Body.String(), `"code":"forbidden"`)
				switch {
				case need == SignedIn && denied:
					t.Errorf("%s: 403 on a route open to every principal: %s", token, w.Body)
				case need != SignedIn && p.Has(need) && (denied || w.Code == http.StatusUnauthorized):
					t.Errorf("%s holds %s: got %d %s", token, need, w.Code, w.Body)
				case need != SignedIn && !p.Has(need) && !denied:
					t.Errorf("%s lacks %s: got %d %s, want 403", token, need, w.Code, clipN(w.Body.String(), 200))
				}
			}
		})
	}
}

// TestTenantIsolation tries, as acme's principals, to reach a globex
// event through every read route of the table: by its id in the path,
// by its object, by filters naming globex, by search, in every export
// format. No answer may carry globex's secret.
func TestTenantIsolation(t *testing.T) {
	env := newRBACEnv(t)
	queries := []string{"", "?tenant=globex", "?search=GLOBEX", "?user_id=gil", "?format=csv", "?format=json", "?format=ndjson", "?format=xlsx"}
	for _, token := range []string{"acme-admin", "acme-viewer", "acme-resolver", "single-admin"} {
		for _, rt := range env.h.routes {
			method, path := env.path(rt.pattern, env.globex)
			if method != http.MethodGet || rt.need == Public || rt.pattern == "GET /api/v1/ws" {
				continue
			}
			for _, q := range queries {
				w := env.do(method, path+q, token)
				body := w.Body.String()
				if strings.Contains(body, globexSecret) || strings.Contains(body, env.globex.ID.String()) && w.Code == 200 {
					t.Errorf("%s GET %s%s: %d, leaks globex: %s", token, path, q, w.Code, clipN(body, 300))
				}
				if q == "?tenant=globex" && w.Code == http.StatusOK && !strings.HasSuffix(path, "/export") {
					t.Errorf("%s GET %s%s: 200, want 403 for another tenant's filter", token, path, q)
				}
			}
		}
	}
	// The superuser does see globex, through the same routes: the test
	// above would catch a leak.
	if w := env.do("GET", "/api/v1/events?tenant=globex", "root"); !strings.Contains(w.Body.String(), globexSecret) {
		t.Fatalf("root cannot read globex: %d %s", w.Code, clipN(w.Body.String(), 200))
	}
	// And an acme principal cannot resolve a globex event, nor one with
	// view_logs only another user's event; it can its own.
	for _, tt := range []struct {
		token string
		e     activitylog.Event
		want  int
	}{
		{"acme-resolver", env.globex, http.StatusNotFound},
		{"ann-resolver", env.bobs, http.StatusNotFound},
		{"ann-resolver", env.acme, http.StatusOK},
		{"acme-resolver", env.bobs, http.StatusOK},
	} {
		if w := env.do("POST", "/api/v1/events/"+tt.e.ID.String()+"/resolve", tt.token); w.Code != tt.want {
			t.Errorf("%s resolving %s's %s event: %d %s, want %d", tt.token, tt.e.Actor.ID, tt.e.Tenant, w.Code, w.Body, tt.want)
		}
	}

	// Every export above was itself recorded, as the principal that
	// made it and in its tenant, so that no other tenant reads its
	// filters.
	page, err := env.store.Query(context.Background(), activitylog.Filter{Kind: activitylog.KindExport, Action: "export", PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range page.Events {
		if e.Extra["destination"] != "download" {
			continue // the seeded events
		}
		n++
		var owner *activitylog.Principal
		for _, p := range roles {
			if p.ID == e.Actor.ID {
				owner = p
			}
		}
		if owner == nil || e.Tenant != owner.Tenant {
			t.Errorf("export event by %+v in tenant %q: want the exporting principal and its tenant", e.Actor, e.Tenant)
		}
	}
	if n == 0 {
		t.Error("no export was recorded")
	}
}

// TestStreamTenantIsolation subscribes acme's admin to the live SSE
// stream and publishes globex and acme events: only acme's arrive.
func TestStreamTenantIsolation(t *testing.T) {
	env := newRBACEnv(t)
	srv := httptest.NewServer(env.h)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer acme-admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	for env.b.subscribers() < 1 {
		time.Sleep(time.Millisecond)
	}
	mk := func(tenant, msg string) activitylog.Event {
		return activitylog.Event{ID: activitylog.NewID(time.Now()), Time: time.Now().UTC(), Kind: activitylog.KindCustom, Action: "x",
			Severity: activitylog.SeverityInfo, Tenant: tenant, Message: msg}
	}
	if err := env.b.Write(ctx, []activitylog.Event{mk("globex", globexSecret), mk("", "untenanted"), mk("acme", "ACME-LAST")}); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(got.String(), "ACME-LAST") {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			if err == io.EOF {
				break
			}
			t.Fatalf("read stream: %v; so far %s", err, got.String())
		}
	}
	if s := got.String(); strings.Contains(s, globexSecret) || strings.Contains(s, "untenanted") || !strings.Contains(s, "ACME-LAST") {
		t.Errorf("acme's stream carried %s", s)
	}
}
