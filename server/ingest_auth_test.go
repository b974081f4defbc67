package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
)

func postAs(t *testing.T, h http.Handler, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", "/api/v1/events", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestIngestHardening: the key's tenant wins over the event's, the
// server's clock is kept beside the client's, only a principal with
// the ingest permission may post, and each principal has its own rate.
func TestIngestHardening(t *testing.T) {
	e := newEnv(t, &server.Options{IngestRate: 0.001, IngestBurst: 2})
	clientTime := "2026-01-02T03:04:05Z"
	body := `{"kind":"custom","action":"x","tenant":"globex","time":"` + clientTime + `","message":"posted by acme"}`

	before := time.Now().UTC()
	if w := postAs(t, e.h, "acme-ingest", body); w.Code != http.StatusCreated {
		t.Fatalf("acme-ingest: %d %s", w.Code, w.Body)
	}
	page, err := e.store.Query(context.Background(), activitylog.Filter{Search: "posted by acme"})
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("stored: %+v %v", page.Events, err)
	}
	got := page.Events[0]
	if got.Tenant != "acme" {
		t.Errorf("tenant = %q, want acme (the key's), not the event's globex", got.Tenant)
	}
	if got.Time.Format(time.RFC3339) != clientTime {
		t.Errorf("time = %v, want the client's %s", got.Time, clientTime)
	}
	recv, _ := got.Extra["received_at"].(string)
	rt, err := time.Parse(time.RFC3339Nano, recv)
	if err != nil || rt.Before(before.Add(-time.Second)) || rt.After(time.Now().Add(time.Second)) {
		t.Errorf("extra.received_at = %q (%v), want the server's time of receipt", recv, err)
	}

	// The superuser's events keep their tenant.
	if w := postAs(t, e.h, "root", `{"kind":"custom","action":"x","tenant":"globex","message":"posted by root"}`); w.Code != http.StatusCreated {
		t.Fatalf("root: %d %s", w.Code, w.Body)
	}
	if page, _ := e.store.Query(context.Background(), activitylog.Filter{Search: "posted by root"}); len(page.Events) != 1 || page.Events[0].Tenant != "globex" {
		t.Errorf("root's event: %+v, want tenant globex", page.Events)
	}

	// Reading is not writing.
	if w := postAs(t, e.h, "acme-admin", body); w.Code != http.StatusForbidden {
		t.Errorf("acme-admin (no ingest): %d, want 403", w.Code)
	}

	// acme-ingest has used one of its burst of 2; root another of its
	// own. The third post of acme-ingest is refused, with Retry-After,
	// and stores nothing; globex's key is not affected.
	if w := postAs(t, e.h, "acme-ingest", body); w.Code != http.StatusCreated {
		t.Fatalf("acme-ingest, 2nd: %d %s", w.Code, w.Body)
	}
	n := e.count(t)
	w := postAs(t, e.h, "acme-ingest", body)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `"rate_limited"`) {
		t.Errorf("acme-ingest, 3rd: %d %q Retry-After %q, want 429 rate_limited with Retry-After", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	if e.count(t) != n {
		t.Error("a rate-limited post stored events")
	}
	if w := postAs(t, e.h, "globex-all", `{"kind":"custom","action":"x"}`); w.Code != http.StatusCreated {
		t.Errorf("globex-all: %d %s, want 201 (its own rate)", w.Code, w.Body)
	}
}
