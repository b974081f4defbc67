package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
	"github.com/activitylog/activitylog/console"
	"github.com/activitylog/activitylog/internal/browser"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// adminStack is the API over a SQLite store, with sign-in and the routes
// of an admin page, and the console (copts), served as `activitylog
// serve` mounts them.
type adminStack struct {
	url   string
	store *sqlite.Store
	rec   *activitylog.Recorder
}

// newAdminStack serves it: routes makes the page's routes over the store
// and the recorder; users are made before it returns.
func newAdminStack(t *testing.T, copts *console.Options, routes func(*sqlite.Store, *activitylog.Recorder) []server.Route,
	users ...access.NewUser) *adminStack {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "admin.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := activitylog.NewRecorder(store, nil)
	svc, err := access.New(store.Credentials(), &access.Options{Recorder: rec,
		Argon2: &access.Argon2Params{Time: 1, Memory: 8 << 10, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	api := server.New(store, rec, &server.Options{Authenticate: svc.Authenticate, Audit: rec,
		Routes: append(svc.Routes(), routes(store, rec)...)})
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/healthz", api)
	mux.Handle("/", console.Handler(copts))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rec.Shutdown(sctx); err != nil {
			t.Errorf("recorder shutdown: %v", err)
		}
		if err := store.Close(); err != nil {
			t.Errorf("store close: %v", err)
		}
	})
	for _, u := range users {
		if _, err := svc.CreateUser(context.Background(), u); err != nil {
			t.Fatalf("create user %s: %v", u.Username, err)
		}
	}
	return &adminStack{url: srv.URL, store: store, rec: rec}
}

// signInAt signs user in through the form on path, waiting for sel.
func (s *adminStack) signInAt(t *testing.T, path, user, sel string) *browser.Browser {
	t.Helper()
	b := newBrowser(t)
	b.Navigate(t, s.url+path, "#login-username")
	b.Type(t, "#login-username", user)
	b.Type(t, "#login-password", password)
	b.Click(t, "#login-submit")
	b.WaitVisible(t, sel)
	return b
}
