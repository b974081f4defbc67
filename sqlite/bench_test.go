package sqlite_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

const benchBatch = 500

var (
	benchPaths   = []string{"/api/orders", "/api/orders/%d", "/api/customers/%d/invoices", "/login", "/api/products/%d/reviews", "/static/app.js"}
	benchMethods = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	benchStatus  = []int{200, 200, 200, 201, 204, 302, 400, 401, 404, 500}
)

// requestEvent is a realistic request event as the HTTP middleware
// records it: actor, tenant, path, route, client IP, user agent,
// status, duration, bytes and a little extra.
func requestEvent(i int, t time.Time) activitylog.Event {
	p := i % len(benchPaths)
	return activitylog.Event{
		ID:       activitylog.NewID(t),
		Time:     t,
		Kind:     activitylog.KindRequest,
		Action:   benchMethods[p],
		Severity: activitylog.SeverityInfo,
		Message:  benchMethods[p] + " " + benchPaths[p],
		Tenant:   fmt.Sprintf("tenant-%d", i%10),
		Service:  "shop",
		Actor: activitylog.Actor{ID: fmt.Sprintf("user-%d", i*7919%1000), Name: fmt.Sprintf("User %d", i*7919%1000),
			Email: fmt.Sprintf("user%d@example.com", i*7919%1000), Type: activitylog.ActorUser},
		Request: activitylog.Request{
			RequestID: fmt.Sprintf("req-%016x", i),
			TraceID:   "4bf92f3577b34da6a3ce929d0e0e4736",
			SpanID:    "00f067aa0ba902b7",
			Method:    benchMethods[p],
			Host:      "shop.example.com",
			Path:      benchPath(p, i),
			Route:     benchMethods[p] + " " + benchPaths[p],
			Query:     "page=2&sort=-created",
			RemoteIP:  fmt.Sprintf("10.%d.%d.%d", i%7, i*31%256, i*17%256),
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
			Browser:   "Firefox",
			OS:        "Linux",
			Device:    "desktop",
		},
		Response: activitylog.Response{
			Status:        benchStatus[i%len(benchStatus)],
			Duration:      time.Duration(1_000_000 + i*7919%50_000_000),
			RequestBytes:  int64(i % 2048),
			ResponseBytes: int64(i * 31 % 65536),
		},
		Extra: map[string]any{"region": "eu-west-1", "build": "2026.11.3", "cache_hit": i%3 == 0},
	}
}

func benchPath(p, i int) string {
	if strings.Contains(benchPaths[p], "%d") {
		return fmt.Sprintf(benchPaths[p], i%5000)
	}
	return benchPaths[p]
}

func benchEvents(start, n int, t0 time.Time) []activitylog.Event {
	es := make([]activitylog.Event, n)
	for j := range es {
		i := start + j
		es[j] = requestEvent(i, t0.Add(time.Duration(i)*137*time.Microsecond))
	}
	return es
}

// BenchmarkWrite writes batches of 500 request events (one Write call
// per op) to a file database with every index in place. events/s is the
// throughput; ns/op is per batch of 500.
func BenchmarkWrite(b *testing.B) {
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		es := benchEvents(i*benchBatch, benchBatch, t0)
		b.StartTimer()
		if err := s.Write(ctx, es); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkQuery reads the first page (50) of a filtered, newest-first
// listing over 100,000 events.
func BenchmarkQuery(b *testing.B) {
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	t0 := time.Now().Add(-24 * time.Hour)
	const total = 100_000
	for i := 0; i < total; i += benchBatch {
		if err := s.Write(ctx, benchEvents(i, benchBatch, t0)); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		f    activitylog.Filter
	}{
		{"all", activitylog.Filter{}},
		{"actor", activitylog.Filter{ActorID: "user-42"}},
		{"tenant+action", activitylog.Filter{Tenant: "tenant-3", Action: "GET"}},
		{"status", activitylog.Filter{StatusMin: 500}},
		{"search", activitylog.Filter{Search: "customers/12"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := s.Query(ctx, bc.f)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Events) == 0 {
					b.Fatal("no events")
				}
			}
		})
	}
}

// BenchmarkWritePrototype is the baseline for BenchmarkWrite: the plain
// pipeline the foundation issue measured at about 20,000 events/s,
// built the obvious way in the same run: encoding/json for the
// document, random (version 4) UUIDs as text keys, one prepared
// single-row INSERT per event inside a transaction per batch, and three
// indexes (id, time, actor).
func BenchmarkWritePrototype(b *testing.B) {
	db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "proto.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE events (id TEXT PRIMARY KEY, time TEXT, kind TEXT, actor_id TEXT, tenant TEXT, data TEXT)`,
		`CREATE INDEX events_time ON events (time)`,
		`CREATE INDEX events_actor ON events (actor_id)`,
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		es := benchEvents(i*benchBatch, benchBatch, t0)
		b.StartTimer()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		st, err := tx.PrepareContext(ctx, `INSERT INTO events (id, time, kind, actor_id, tenant, data) VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			b.Fatal(err)
		}
		for j := range es {
			e := &es[j]
			doc, err := json.Marshal(e)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := st.ExecContext(ctx, uuid4(), e.Time.Format(time.RFC3339Nano), string(e.Kind), e.Actor.ID, e.Tenant, string(doc)); err != nil {
				b.Fatal(err)
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}

// uuid4 is a random UUID in its text form, as the prototype keyed rows.
func uuid4() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// The store of a million events that TestMillionEvents measures, and
// server's test of the same name reads through the API.
const (
	millionEnv   = "ACTIVITYLOG_BENCH_1M"    // set to 1 to run the measurement
	millionDBEnv = "ACTIVITYLOG_BENCH_1M_DB" // optional: a file that keeps the store between runs
	million      = 1_000_000
)

// millionStore opens a store of a million storetest.TrailEvents,
// written with Write in batches of 10,000. With ACTIVITYLOG_BENCH_1M_DB set it keeps
// the file there and reuses it when it is already full.
func millionStore(t testing.TB) *sqlite.Store {
	t.Helper()
	path := os.Getenv(millionDBEnv)
	if path == "" {
		path = filepath.Join(t.TempDir(), "million.db")
	}
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	n, err := s.Count(ctx, activitylog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if n == million {
		return s
	}
	if n != 0 {
		t.Fatalf("%s holds %d events, neither none nor a million; remove it", path, n)
	}
	start := time.Now()
	t0 := time.Now().Add(-million * 2 * time.Second) // 23 days, one event every 2s
	if err := storetest.WriteTrail(ctx, s, million, 10_000, t0, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d events in %v", million, time.Since(start).Round(time.Millisecond))
	return s
}

// millionCases are the filtered pages TestMillionEvents measures.
var millionCases = []struct {
	name string
	f    activitylog.Filter
}{
	{"kind=request&status_gte=500", activitylog.Filter{Kind: activitylog.KindRequest, StatusMin: 500}},
	{"user_id=user-42", activitylog.Filter{ActorID: "user-42"}},
	{"kind=request (request-events)", activitylog.Filter{Kind: activitylog.KindRequest}},
	{"kind=auth (login-events)", activitylog.Filter{Kind: activitylog.KindAuth}},
	{"kind=crud&object_type=order (crud-events)", activitylog.Filter{Kind: activitylog.KindCRUD, ObjectType: "order"}},
	{"kind=system&severity=critical", activitylog.Filter{Kind: activitylog.KindSystem, Severity: activitylog.SeverityCritical}},
	{"kind=request&method=POST&status=500", activitylog.Filter{Kind: activitylog.KindRequest, Method: "POST", Status: 500}},
	{"kind=cors&origin=null", activitylog.Filter{Kind: activitylog.KindCORS, Origin: "null"}},
	{"tenant=tenant-9&kind=external&tool=grpc", activitylog.Filter{Tenant: "tenant-9", Kind: activitylog.KindExternal, Tool: "grpc"}},
	{"all", activitylog.Filter{}},
}

// TestMillionEvents measures, on a store of a million events, the first
// page of 50 of each of millionCases and its count as the API makes it
// (CountUpTo with the API's bound), median and 95th percentile over
// 200 runs, against the target of 20 ms at the 95th percentile; and,
// for comparison, one exact Count. It runs only with
// ACTIVITYLOG_BENCH_1M=1:
//
//	ACTIVITYLOG_BENCH_1M=1 go test -run TestMillionEvents -v -timeout 30m ./sqlite/
func TestMillionEvents(t *testing.T) {
	if os.Getenv(millionEnv) == "" {
		t.Skip("set " + millionEnv + "=1 to measure pages over a million events (about a minute to build the store)")
	}
	s := millionStore(t)
	ctx := context.Background()
	const runs = 200
	const countBound = 501 // as the API counts: server's countLimit+1, to learn whether more match
	for _, c := range millionCases {
		f := c.f
		f.PageSize = 50
		var page, cnt, total []time.Duration
		var n int64
		for i := range runs + 5 {
			t0 := time.Now()
			p, err := s.Query(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			t1 := time.Now()
			if n, err = s.CountUpTo(ctx, f, countBound); err != nil {
				t.Fatal(err)
			}
			t2 := time.Now()
			if len(p.Events) == 0 {
				t.Fatalf("%s: no events", c.name)
			}
			if i >= 5 { // the first runs warm the cache
				page, cnt, total = append(page, t1.Sub(t0)), append(cnt, t2.Sub(t1)), append(total, t2.Sub(t0))
			}
		}
		t0 := time.Now()
		exact, err := s.Count(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		exactTook := time.Since(t0)
		t.Logf("%-42s page %s  count≤%d %s  both %s  | exact count %d in %v",
			c.name, percentiles(page), countBound, percentiles(cnt), percentiles(total), exact, exactTook.Round(time.Millisecond))
		if n != min(exact, countBound) {
			t.Errorf("%s: CountUpTo = %d, want min(%d, %d)", c.name, n, exact, countBound)
		}
		// The latencies are logged for BENCHMARKS.md, never asserted.
	}
}

// percentiles formats the median and the 95th percentile of ds.
func percentiles(ds []time.Duration) string {
	return fmt.Sprintf("p50 %6.2fms p95 %6.2fms", ms(quantile(ds, 0.5)), ms(quantile(ds, 0.95)))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// quantile returns the q-quantile of ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
