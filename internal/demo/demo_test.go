package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// memWriter keeps what the Recorder writes.
type memWriter struct {
	mu     sync.Mutex
	events []activitylog.Event
}

func (m *memWriter) Write(_ context.Context, events []activitylog.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, events...)
	return nil
}

func (m *memWriter) take() []activitylog.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.events
	m.events = nil
	return out
}

func newShop(t *testing.T) (*httptest.Server, *activitylog.Recorder, *memWriter) {
	t.Helper()
	w := &memWriter{}
	rec := activitylog.NewRecorder(w, &activitylog.Options{FlushInterval: time.Millisecond})
	t.Cleanup(func() { rec.Shutdown(context.Background()) })
	mux := http.NewServeMux()
	mux.Handle(Prefix+"/", Handler(rec))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, rec, w
}

func send(t *testing.T, base, user, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.Header.Set(UserHeader, user)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// One step of a scenario: a request, its status, and the event the
// shop records besides the request event (zero Kind: none).
type step struct {
	name       string
	user       string
	method     string
	path       string
	body       string
	wantStatus int
	wantKind   activitylog.Kind
	wantAction string
	wantActor  string // actor id of both events
	check      func(t *testing.T, e activitylog.Event)
}

func TestHandler(t *testing.T) {
	srv, rec, w := newShop(t)
	steps := []step{
		{name: "index", method: "GET", path: "/demo/", wantStatus: 200},
		{name: "products", user: "alice", method: "GET", path: "/demo/products", wantStatus: 200, wantActor: "u-1001"},
		{name: "product", method: "GET", path: "/demo/products/p-2", wantStatus: 200},
		{name: "unknown product", method: "GET", path: "/demo/products/p-9", wantStatus: 404},
		{
			name: "create order", user: "alice", method: "POST", path: "/demo/orders",
			body:       `{"product_id":"p-1","quantity":2,"card_number":"4111 1111 1111 1111"}`,
			wantStatus: 201, wantKind: activitylog.KindCRUD, wantAction: "create", wantActor: "u-1001",
			check: func(t *testing.T, e activitylog.Event) {
				if e.Object.Type != "order" || e.Object.ID != "ord-000001" {
					t.Errorf("object = %+v, want order ord-000001", e.Object)
				}
				if got := e.Changes["status"]; got.Old != nil || got.New != "new" {
					t.Errorf("changes.status = %+v, want nil → new", got)
				}
				if got := e.Changes["total"].New; got != 25.98 {
					t.Errorf("changes.total.new = %v, want 25.98", got)
				}
				if got := e.Changes["card_number"].New; got != activitylog.DefaultMask {
					t.Errorf("changes.card_number.new = %v, want %s", got, activitylog.DefaultMask)
				}
				if e.Request.Route != "POST /demo/orders" || e.Request.Path != "/demo/orders" {
					t.Errorf("request route, path = %q, %q", e.Request.Route, e.Request.Path)
				}
			},
		},
		{name: "bad order", method: "POST", path: "/demo/orders", body: `{"product_id":"p-1","quantity":0}`, wantStatus: 400},
		{name: "unknown field", method: "POST", path: "/demo/orders", body: `{"sku":"p-1"}`, wantStatus: 400},
		{
			name: "read order", user: "bob", method: "GET", path: "/demo/orders/ord-000001",
			wantStatus: 200, wantKind: activitylog.KindCRUD, wantAction: "read", wantActor: "u-1002",
		},
		{
			name: "pay order", user: "alice", method: "PATCH", path: "/demo/orders/ord-000001", body: `{"status":"paid"}`,
			wantStatus: 200, wantKind: activitylog.KindCRUD, wantAction: "update", wantActor: "u-1001",
			check: func(t *testing.T, e activitylog.Event) {
				if got := e.Changes["status"]; got.Old != "new" || got.New != "paid" {
					t.Errorf("changes.status = %+v, want new → paid", got)
				}
			},
		},
		{name: "conflicting update", method: "PATCH", path: "/demo/orders/ord-000001", body: `{"status":"new"}`, wantStatus: 409},
		{name: "unknown status", method: "PATCH", path: "/demo/orders/ord-000001", body: `{"status":"lost"}`, wantStatus: 400},
		{name: "update unknown order", method: "PATCH", path: "/demo/orders/ord-9", body: `{"status":"paid"}`, wantStatus: 404},
		{
			name: "login", method: "POST", path: "/demo/login", body: `{"username":"carol","password":"singing"}`,
			wantStatus: 200, wantKind: activitylog.KindAuth, wantAction: "login", wantActor: "u-1003",
		},
		{
			name: "wrong password", method: "POST", path: "/demo/login", body: `{"username":"carol","password":"hunter2"}`,
			wantStatus: 401, wantKind: activitylog.KindAuth, wantAction: "login_failed", wantActor: "u-1003",
			check: func(t *testing.T, e activitylog.Event) {
				if e.Severity != activitylog.SeverityWarning {
					t.Errorf("severity = %s, want warning", e.Severity)
				}
			},
		},
		{
			name: "unknown user", method: "POST", path: "/demo/login", body: `{"username":"eve","password":"x"}`,
			wantStatus: 401, wantKind: activitylog.KindAuth, wantAction: "login_failed", wantActor: "eve",
		},
		{name: "anonymous logout", method: "POST", path: "/demo/logout", wantStatus: 401},
		{
			name: "logout", user: "dave", method: "POST", path: "/demo/logout",
			wantStatus: 204, wantKind: activitylog.KindAuth, wantAction: "logout", wantActor: "u-1004",
		},
		{
			name: "export", user: "bob", method: "GET", path: "/demo/export",
			wantStatus: 200, wantKind: activitylog.KindExport, wantAction: "export", wantActor: "u-1002",
			check: func(t *testing.T, e activitylog.Event) {
				if fmt.Sprint(e.Extra["rows"]) != "1" || e.Extra["format"] != "csv" {
					t.Errorf("extra = %v, want 1 csv row", e.Extra)
				}
			},
		},
		{name: "sync 1", method: "POST", path: "/demo/inventory/sync", wantStatus: 200},
		{name: "sync 2", method: "POST", path: "/demo/inventory/sync", wantStatus: 200},
		{
			name: "sync 3 fails", method: "POST", path: "/demo/inventory/sync",
			wantStatus: 500, wantKind: activitylog.KindSystem, wantAction: "error",
		},
		{
			name: "delete order", user: "alice", method: "DELETE", path: "/demo/orders/ord-000001",
			wantStatus: 204, wantKind: activitylog.KindCRUD, wantAction: "delete", wantActor: "u-1001",
		},
		{name: "read deleted order", method: "GET", path: "/demo/orders/ord-000001", wantStatus: 404},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			status, body := send(t, srv.URL, s.user, s.method, s.path, s.body)
			if status != s.wantStatus {
				t.Fatalf("%s %s: status %d, want %d; body %s", s.method, s.path, status, s.wantStatus, body)
			}
			if err := rec.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			var req, own []activitylog.Event
			for _, e := range w.take() {
				if e.Kind == activitylog.KindRequest {
					req = append(req, e)
				} else {
					own = append(own, e)
				}
			}
			if len(req) != 1 {
				t.Fatalf("%d request events, want 1", len(req))
			}
			if r := req[0]; r.Request.Path != s.path || r.Response.Status != s.wantStatus || r.Service != Service {
				t.Errorf("request event path %q status %d service %q; want %q %d %q",
					r.Request.Path, r.Response.Status, r.Service, s.path, s.wantStatus, Service)
			}
			if s.wantActor != "" && req[0].Actor.ID != s.wantActor {
				t.Errorf("request event actor %q, want %q", req[0].Actor.ID, s.wantActor)
			}
			if s.wantKind == "" {
				if len(own) != 0 {
					t.Errorf("recorded %d events besides the request, want none: %+v", len(own), own)
				}
				return
			}
			if len(own) != 1 {
				t.Fatalf("recorded %d events besides the request, want 1", len(own))
			}
			e := own[0]
			if e.Kind != s.wantKind || e.Action != s.wantAction || e.Service != Service {
				t.Errorf("event %s/%s service %q, want %s/%s %q", e.Kind, e.Action, e.Service, s.wantKind, s.wantAction, Service)
			}
			if e.Actor.ID != s.wantActor {
				t.Errorf("event actor %q, want %q", e.Actor.ID, s.wantActor)
			}
			if e.Request.RequestID == "" || e.Request.RequestID != req[0].Request.RequestID {
				t.Errorf("event request id %q, want the request's %q", e.Request.RequestID, req[0].Request.RequestID)
			}
			if s.check != nil {
				s.check(t, e)
			}
		})
	}
}

// No stored event carries the card number or a password, however it is
// spelt.
func TestSecretsMasked(t *testing.T) {
	srv, rec, w := newShop(t)
	send(t, srv.URL, "alice", "POST", "/demo/orders", `{"product_id":"p-3","quantity":1,"card_number":"4111 1111 1111 1111"}`)
	send(t, srv.URL, "", "POST", "/demo/login", `{"username":"alice","password":"wonderland"}`)
	rec.Flush(context.Background())
	b, err := json.Marshal(w.take())
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"4111 1111 1111 1111", "4111111111111111", "wonderland"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("stored events contain %q: %s", secret, b)
		}
	}
}

func TestConcurrentOrders(t *testing.T) {
	srv, rec, w := newShop(t)
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			user := Users()[i%len(Users())]
			send(t, srv.URL, user, "POST", "/demo/orders", `{"product_id":"p-5","quantity":1,"card_number":"4111 1111 1111 1111"}`)
			send(t, srv.URL, user, "GET", "/demo/export", "")
		})
	}
	wg.Wait()
	rec.Flush(context.Background())
	ids := map[string]bool{}
	for _, e := range w.take() {
		if e.Kind == activitylog.KindCRUD && e.Action == "create" {
			ids[e.Object.ID] = true
		}
	}
	if len(ids) != n {
		t.Errorf("%d distinct orders created, want %d", len(ids), n)
	}
}

func TestGenerate(t *testing.T) {
	srv, rec, w := newShop(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Generate(ctx, srv.URL+Prefix, time.Millisecond)
	}()

	want := map[activitylog.Kind]bool{
		activitylog.KindRequest: true, activitylog.KindCRUD: true, activitylog.KindAuth: true,
		activitylog.KindExport: true, activitylog.KindSystem: true, activitylog.KindCORS: true,
	}
	seen := map[activitylog.Kind]bool{}
	users := map[string]bool{}
	security, browsers := 0, map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < len(want) || len(users) < 3 || security == 0 || len(browsers) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s saw kinds %v, users %v, %d security events, browsers %v", seen, users, security, browsers)
		}
		time.Sleep(10 * time.Millisecond)
		rec.Flush(context.Background())
		for _, e := range w.take() {
			seen[e.Kind] = true
			if e.Kind == activitylog.KindSystem && e.Action == "security" {
				security++
			}
			if e.Request.Browser != "" {
				browsers[e.Request.Browser] = true
			}
			if e.Kind == activitylog.KindRequest && !strings.HasPrefix(e.Request.Path, Prefix+"/") {
				t.Errorf("request event for path %q, want under %s/", e.Request.Path, Prefix)
			}
			if e.Actor.ID != "" {
				users[e.Actor.ID] = true
			}
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Generate did not return within 5s of its context ending")
	}
}
