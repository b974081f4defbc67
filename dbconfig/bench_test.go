package dbconfig_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/sqlite"
)

// discard is a store that keeps nothing, so that the benchmarks measure
// the router alone.
type discard struct{ n atomic.Int64 }

func (d *discard) Write(ctx context.Context, events []activitylog.Event) error {
	d.n.Add(int64(len(events)))
	return nil
}
func (d *discard) Query(context.Context, activitylog.Filter) (activitylog.Page, error) {
	return activitylog.Page{}, nil
}
func (d *discard) Get(context.Context, activitylog.ID) (activitylog.Event, error) {
	return activitylog.Event{}, activitylog.ErrNotFound
}
func (d *discard) Count(context.Context, activitylog.Filter) (int64, error) { return 0, nil }
func (d *discard) Close() error                                             { return nil }

// memPending is a Pending that the benchmarks never use.
type memPending struct{}

func (memPending) Add(context.Context, string, []activitylog.Event) error { return nil }
func (memPending) Take(context.Context, string, int) ([]dbconfig.PendingBatch, error) {
	return nil, nil
}
func (memPending) Done(context.Context, int64) error                { return nil }
func (memPending) Counts(context.Context) (map[string]int64, error) { return nil, nil }

// BenchmarkRouterWrite writes batches of 500 events: "direct" hands the
// batch to the default store itself, the baseline; the others go
// through a Router with 3 tenants routed, every store a discard:
//
//   - unrouted: no event of the batch is routed (the default store's
//     tenants only), the router's fast path;
//   - 3-tenants-grouped: the batch is 4 runs, one per tenant and one
//     for the default store;
//   - 3-tenants-mixed: the events of the 3 tenants and the default
//     store alternate, so every part is copied.
func BenchmarkRouterWrite(b *testing.B) {
	ctx := context.Background()
	ctl, err := sqlite.Open(filepath.Join(b.TempDir(), "control.db"), &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer ctl.Close()
	repo := ctl.DatabaseConfigs()
	for i := range 3 {
		c := dbconfig.Config{ID: dbconfig.NewID(), Name: fmt.Sprint("t", i), Engine: dbconfig.SQLite, Database: "x.db",
			RouteFor: dbconfig.RouteAll, Tenant: fmt.Sprint("t", i), Primary: true, Active: true}
		if err := repo.Create(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	def := &discard{}
	open := func(ctx context.Context, c dbconfig.Config, password string) (activitylog.Store, error) {
		return &discard{}, nil
	}
	r, err := dbconfig.NewRouter(def, repo, open, &dbconfig.RouterOptions{Pending: memPending{}, Refresh: -1, ReplayInterval: -1,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	const n = 500
	batch := func(tenant func(i int) string) []activitylog.Event {
		es := make([]activitylog.Event, n)
		now := time.Now().UTC()
		for i := range es {
			es[i] = activitylog.Event{ID: activitylog.NewID(now), Time: now, Kind: activitylog.KindRequest, Action: "GET",
				Severity: activitylog.SeverityInfo, Tenant: tenant(i), Message: "GET /api/orders",
				Request: activitylog.Request{Method: "GET", Path: "/api/orders", RemoteIP: "10.0.0.1"}}
		}
		return es
	}
	tenants := []string{"t0", "t1", "t2", "other"}
	cases := []struct {
		name   string
		w      activitylog.Writer
		events []activitylog.Event
	}{
		{"direct", def, batch(func(i int) string { return tenants[i%4] })},
		{"unrouted", r, batch(func(i int) string { return fmt.Sprint("other", i%3) })},
		{"3-tenants-grouped", r, batch(func(i int) string { return tenants[i*4/n] })},
		{"3-tenants-mixed", r, batch(func(i int) string { return tenants[i%4] })},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.w.Write(ctx, c.events); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
