package integrityhttp_test

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/integrity/integrityhttp"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

// BenchmarkListPage answers GET /api/v1/events?page_size=100 over 2000
// sealed events (batches of 100, a checkpoint each), without the
// integrity status (plain) and with it (integrity, integrity/hmac);
// annotate is the status alone (Annotate of the 100 events).
//
//	go test -run '^$' -bench BenchmarkListPage ./integrity/integrityhttp/
func BenchmarkListPage(b *testing.B) {
	for _, c := range []struct {
		name     string
		keyed    bool
		annotate bool
	}{{"plain", false, false}, {"integrity", false, true}, {"integrity/hmac", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			store, svc := benchTrail(b, c.keyed)
			opts := &server.Options{
				Authenticate: func(*http.Request) (*activitylog.Principal, error) { return benchRoot, nil },
				Logger:       slog.New(slog.DiscardHandler),
			}
			if c.annotate {
				opts.Annotators = []server.Annotator{svc}
			}
			h := server.New(store, nil, opts)
			r := httptest.NewRequest("GET", "/api/v1/events?page_size=100", nil)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatal(w.Code, w.Body)
				}
			}
		})
	}
	b.Run("annotate", func(b *testing.B) {
		store, svc := benchTrail(b, false)
		page, err := store.Query(context.Background(), activitylog.Filter{PageSize: 100})
		if err != nil || len(page.Events) != 100 {
			b.Fatal(err, len(page.Events))
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.Annotate(context.Background(), page.Events); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var benchRoot = &activitylog.Principal{ID: "root", Permissions: []activitylog.Permission{activitylog.Superuser}}

func benchTrail(b *testing.B, keyed bool) (*sqlite.Store, *integrityhttp.Service) {
	b.Helper()
	store, err := sqlite.Open(filepath.Join(b.TempDir(), "a.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	pub, priv, _ := integrity.GenerateKey()
	wo := &integrity.WriterOptions{SigningKey: priv}
	so := &integrityhttp.Options{PublicKeys: []ed25519.PublicKey{pub}}
	if keyed {
		mac, _ := integrity.GenerateHMACKey()
		wo.HMACKey, so.HMACKeys = mac, []*integrity.HMACKey{mac}
	}
	w, err := integrity.NewWriter(store, wo)
	if err != nil {
		b.Fatal(err)
	}
	es := storetest.Fixture(2000)
	for i := 0; i < len(es); i += 100 {
		if err := w.Write(context.Background(), es[i:i+100]); err != nil {
			b.Fatal(err)
		}
	}
	svc, err := integrityhttp.New(store, so)
	if err != nil {
		b.Fatal(err)
	}
	return store, svc
}
