package access_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// Authenticate on the hot path: a request with an API key, and one with
// a session cookie (each a primary-key read of the SQLite store; the
// last-used time is written at most once a minute). The baseline is
// the same store's Get of one event by id, the cheapest read there is.
func BenchmarkAuthenticate(b *testing.B) {
	e := newEnv(b, nil)
	e.user("ann", "acme", activitylog.ViewAllLogs)
	s := e.login("ann", "correct horse")
	ev := activitylog.Event{ID: activitylog.NewID(time.Now()), Time: time.Now(), Kind: activitylog.KindCustom, Action: "x", Severity: activitylog.SeverityInfo}
	if err := e.store.Write(context.Background(), []activitylog.Event{ev}); err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-get", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := e.store.Get(context.Background(), ev.ID); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	for _, bc := range []struct {
		name  string
		setup func(r *http.Request)
	}{
		{"api_key", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+e.root) }},
		{"session", func(r *http.Request) { r.AddCookie(s.cookie) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/api/v1/events", nil)
			bc.setup(r)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if p, err := e.svc.Authenticate(r); p == nil || err != nil {
						b.Error(p, err)
						return
					}
				}
			})
		})
	}
}
