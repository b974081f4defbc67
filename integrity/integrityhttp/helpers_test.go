package integrityhttp_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/integrity/integrityhttp"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

var _ integrityhttp.Store = (*sqlite.Store)(nil)

// The principals of the tests, by bearer token.
var principals = map[string]*activitylog.Principal{
	"root":          {ID: "root", Permissions: []activitylog.Permission{activitylog.Superuser}},
	"ann":           {ID: "ann", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ViewLogs}},
	"acme-admin":    {ID: "amy", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ViewAllLogs}},
	"single-admin":  {ID: "sam", Permissions: []activitylog.Permission{activitylog.ViewAllLogs}},
	"acme-ingest":   {ID: "key-acme", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.Ingest}},
	"single-viewer": {ID: "sid", Permissions: []activitylog.Permission{activitylog.ViewLogs}},
}

func auth(r *http.Request) (*activitylog.Principal, error) {
	tok := server.BearerToken(r)
	if tok == "" {
		return nil, nil
	}
	if p, ok := principals[tok]; ok {
		return p, nil
	}
	return nil, errors.New("unknown bearer token")
}

// env is a sealed trail in a SQLite file, served by the API with the
// integrity routes and status:
//
//   - chain A (keyless, signed): batches of 10, a checkpoint each, 30
//     events in tenants acme (ann's and bob's), globex and none;
//   - chain B (keyless, no signing key): 5 events, never checkpointed;
//   - chain K (HMAC-keyed, signed): 5 events, checkpointed;
//   - 2 events written without integrity (unsealed).
type env struct {
	path     string
	store    *sqlite.Store
	pub      ed25519.PublicKey
	priv     ed25519.PrivateKey // signs chains A and K
	mac      *integrity.HMACKey
	chainA   string
	chainB   string
	chainK   string
	a        []activitylog.Event // chain A, in seq order
	b, k, un []activitylog.Event
	svc      *integrityhttp.Service
	h        http.Handler
}

// newEnv builds the trail; opts, when not nil, is given to the Service
// with the trusted key and the HMAC key added unless it sets its own.
func newEnv(t testing.TB, opts *integrityhttp.Options) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{path: filepath.Join(t.TempDir(), "audit.db")}
	s, err := sqlite.Open(e.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e.store = s
	pub, priv, err := integrity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	e.pub, e.priv = pub, priv
	if e.mac, err = integrity.GenerateHMACKey(); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	n := 0
	event := func(tenant, actor string, kind activitylog.Kind) activitylog.Event {
		n++
		action := map[activitylog.Kind]string{activitylog.KindCRUD: "update", activitylog.KindAuth: "login", activitylog.KindCustom: "did"}[kind]
		return activitylog.Event{
			ID: activitylog.NewID(base.Add(time.Duration(n) * time.Second)), Time: base.Add(time.Duration(n) * time.Second),
			Kind: kind, Action: action, Severity: activitylog.SeverityInfo, Tenant: tenant,
			Actor:   activitylog.Actor{ID: actor, Name: actor},
			Object:  activitylog.Object{Type: "invoice", ID: fmt.Sprint(n)},
			Message: fmt.Sprintf("event %d of %s", n, actor),
		}
	}
	wa, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	e.chainA = wa.Chain().ID
	tenants := []string{"acme", "acme", "globex", ""}
	actors := []string{"ann", "bob", "gil", "sam"}
	kinds := []activitylog.Kind{activitylog.KindCRUD, activitylog.KindAuth, activitylog.KindCustom}
	for batch := range 3 {
		var es []activitylog.Event
		for i := range 10 {
			j := batch*10 + i
			es = append(es, event(tenants[j%4], actors[j%4], kinds[j%3]))
		}
		if err := wa.Write(ctx, es); err != nil {
			t.Fatal(err)
		}
		e.a = append(e.a, es...)
	}
	wb, err := integrity.NewWriter(s, &integrity.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.chainB = wb.Chain().ID
	for range 5 {
		e.b = append(e.b, event("acme", "ann", activitylog.KindCRUD))
	}
	if err := wb.Write(ctx, e.b); err != nil {
		t.Fatal(err)
	}
	wk, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv, HMACKey: e.mac})
	if err != nil {
		t.Fatal(err)
	}
	e.chainK = wk.Chain().ID
	for range 5 {
		e.k = append(e.k, event("acme", "ann", activitylog.KindCRUD))
	}
	if err := wk.Write(ctx, e.k); err != nil {
		t.Fatal(err)
	}
	e.un = []activitylog.Event{event("acme", "ann", activitylog.KindCRUD), event("", "sam", activitylog.KindCustom)}
	if err := s.Write(ctx, e.un); err != nil {
		t.Fatal(err)
	}

	var o integrityhttp.Options
	if opts != nil {
		o = *opts
	}
	if o.PublicKeys == nil {
		o.PublicKeys = []ed25519.PublicKey{pub}
	}
	if o.HMACKeys == nil {
		o.HMACKeys = []*integrity.HMACKey{e.mac}
	}
	o.Logger = slog.New(slog.DiscardHandler)
	if e.svc, err = integrityhttp.New(s, &o); err != nil {
		t.Fatal(err)
	}
	e.h = server.New(s, nil, &server.Options{
		Authenticate: auth,
		Logger:       slog.New(slog.DiscardHandler),
		Routes:       e.svc.Routes(),
		Annotators:   []server.Annotator{e.svc},
	})
	return e
}

// get answers GET url as the principal of token ("" for none).
func (e *env) get(t testing.TB, url, token string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", url, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// getJSON answers GET url as root, wants status, and decodes the body
// into v (when not nil).
func (e *env) getJSON(t testing.TB, url string, status int, v any) {
	t.Helper()
	w := e.get(t, url, "root")
	if w.Code != status {
		t.Fatalf("GET %s: status %d, want %d: %s", url, w.Code, status, w.Body)
	}
	if v != nil {
		if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, w.Body)
		}
	}
}

// db opens the trail's file with database/sql, beside the store, to
// edit it as an attacker with write access would.
func (e *env) db(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", e.path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func (e *env) exec(t testing.TB, query string, args ...any) {
	t.Helper()
	res, err := e.db(t).Exec(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s: %d rows affected, want 1", query, n)
	}
}

// apiErr is the body of an error answer.
type apiErr struct {
	Error struct {
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Field   string  `json:"field"`
		Value   *string `json:"value"`
	} `json:"error"`
}

func decodeErr(t testing.TB, w *httptest.ResponseRecorder) apiErr {
	t.Helper()
	var e apiErr
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body: %v: %s", err, w.Body)
	}
	return e
}

// statusMember is the "integrity" member of an answered event.
type statusMember struct {
	Status     string `json:"status"`
	Chain      string `json:"chain"`
	Seq        uint64 `json:"seq"`
	Hash       string `json:"hash"`
	Checkpoint uint64 `json:"checkpoint"`
}

type answeredEvent struct {
	ID        activitylog.ID `json:"id"`
	Integrity *statusMember  `json:"integrity"`
}

type page struct {
	Count   int             `json:"count"`
	Next    *string         `json:"next"`
	Results []answeredEvent `json:"results"`
}
