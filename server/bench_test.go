package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

// BenchmarkIngest posts batches of 100 events to a real store.
func BenchmarkIngest(b *testing.B) {
	e := newEnv(b, nil)
	var body bytes.Buffer
	body.WriteString("[")
	for i := range 100 {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `{"kind":"crud","action":"update","actor":{"id":"u%d","name":"Ann"},"object":{"type":"invoice","id":"INV-%d"},"changes":{"status":{"old":"draft","new":"sent"}},"tenant":"acme"}`, i%7, i)
	}
	body.WriteString("]")
	b.SetBytes(int64(body.Len()))
	b.ReportAllocs()
	for b.Loop() {
		w := e.do(b, "POST", "/api/v1/events", "application/json", bytes.NewReader(body.Bytes()))
		if w.Code != 201 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkList reads pages of 50 from a store of 1000 events.
func BenchmarkList(b *testing.B) {
	e := newEnv(b, nil)
	var body bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&body, `{"kind":"request","action":"GET","request":{"path":"/p/%d"},"response":{"status":%d}}`+"\n", i, 200+i%4*100)
	}
	if w := e.do(b, "POST", "/api/v1/events", "application/x-ndjson", &body); w.Code != 201 {
		b.Fatalf("seed: %d %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := e.do(b, "GET", "/api/v1/events?kind=request&status_gte=400&page_size=50", "", nil)
			if w.Code != 200 {
				b.Errorf("%d %s", w.Code, w.Body)
				return
			}
		}
	})
}

func BenchmarkParseFilter(b *testing.B) {
	v, _ := url.ParseQuery("kind=crud&action=update&date_from=2025-01-02T15:04:05Z&user_id=42&status_gte=400&page_size=10")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := server.ParseFilter(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExportCSV exports 100,000 events, every event of a store, as
// CSV. See benchExport for the sub-benchmarks.
func BenchmarkExportCSV(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "audit.db")
	store, err := sqlite.Open(path, nil)
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	b.Cleanup(func() { store.Close() })
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i += 5000 {
		if err := store.Write(context.Background(), benchExportEvents(i, 5000, t0)); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	benchExport(b, store, path, "", n)
}

// BenchmarkExport1M exports from a store of 1,000,000 events
// (storetest.TrailEvent, one a millisecond): "range", the 100,000 of a
// date range, and "crud", the 99,996 data changes among the first
// 833,333 events, which are spread over the table. See benchExport for
// the sub-benchmarks.
//
// It runs only when ACTIVITYLOG_BENCH_1M is set: to 1 to write the
// million events into a temporary database first (half a minute or
// more), or to the path of a database to write them into once and
// reuse on later runs.
func BenchmarkExport1M(b *testing.B) {
	v := os.Getenv("ACTIVITYLOG_BENCH_1M")
	if v == "" {
		b.Skip("set ACTIVITYLOG_BENCH_1M=1, or to a database path to keep, to export from a store of 1,000,000 events")
	}
	const n = 1_000_000
	path := v
	if v == "1" {
		path = filepath.Join(b.TempDir(), "1m.db")
	}
	store, err := sqlite.Open(path, nil)
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	b.Cleanup(func() { store.Close() })
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	switch have, err := store.Count(ctx, activitylog.Filter{}); {
	case err != nil:
		b.Fatalf("count: %v", err)
	case have == 0:
		if err := storetest.WriteTrail(ctx, store, n, 10_000, t0, time.Millisecond); err != nil {
			b.Fatalf("seed: %v", err)
		}
	case have != n:
		b.Fatalf("%s holds %d events; want %d, or an empty database", path, have, n)
	}
	at := func(i int) string { return t0.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano) }
	for _, c := range []struct {
		name, query string
	}{
		{"range", "date_from=" + at(450_000) + "&date_to=" + at(550_000)},
		{"crud", "kind=crud&date_from=" + at(0) + "&date_to=" + at(833_333)},
	} {
		b.Run(c.name, func(b *testing.B) {
			v, err := url.ParseQuery(c.query)
			if err != nil {
				b.Fatal(err)
			}
			f, err := server.ParseFilter(v)
			if err != nil {
				b.Fatal(err)
			}
			rows, err := store.Count(ctx, f)
			if err != nil {
				b.Fatal(err)
			}
			benchExport(b, store, path, c.query, rows)
		})
	}
}

// queryOnly hides every method of its Querier but the Querier's own,
// Scan among them: the export then pages through Query.
type queryOnly struct{ activitylog.Querier }

// benchExport runs the sub-benchmarks of an export of the rows events
// that query (the export's filter parameters) selects from store, whose
// database is at path, each reporting rows/s:
//
//   - baseline-select: the SQL alone, SELECT data … ORDER BY time DESC,
//     id DESC with query's filters, every row read, nothing decoded;
//     the floor that reading the store sets.
//   - baseline-query: paging through Query, 1000 events a page,
//     nothing written: the way the export read the store before it
//     could scan.
//   - csv: the export through the HTTP handler, as a client gets it;
//     B/row is what it allocated per event, over the whole run.
//   - csv-paged: the same export from a store that cannot scan
//     (queryOnly), so that it pages through Query.
func benchExport(b *testing.B, store *sqlite.Store, path, query string, rows int64) {
	v, err := url.ParseQuery(query)
	if err != nil {
		b.Fatal(err)
	}
	f, err := server.ParseFilter(v)
	if err != nil {
		b.Fatal(err)
	}
	rate := func(b *testing.B, got int64) {
		if got != rows*int64(b.N) {
			b.Fatalf("read %d rows, want %d", got, rows*int64(b.N))
		}
		b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "rows/s")
	}
	b.Run("baseline-select", func(b *testing.B) {
		db, err := sql.Open("sqlite", path+"?_pragma=cache_size(-32768)")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		where, args := "", []any{}
		add := func(cond string, arg any) {
			if where == "" {
				where = " WHERE "
			} else {
				where += " AND "
			}
			where += cond
			args = append(args, arg)
		}
		if f.Kind != "" {
			add("kind = ?", string(f.Kind))
		}
		if !f.From.IsZero() {
			add("time >= ?", f.From.UnixNano())
		}
		if !f.To.IsZero() {
			add("time < ?", f.To.UnixNano())
		}
		b.ReportAllocs()
		var got int64
		for b.Loop() {
			r, err := db.Query("SELECT data FROM events"+where+" ORDER BY time DESC, id DESC", args...)
			if err != nil {
				b.Fatal(err)
			}
			for r.Next() {
				var data sql.RawBytes
				if err := r.Scan(&data); err != nil {
					b.Fatal(err)
				}
				got++
			}
			if err := r.Close(); err != nil {
				b.Fatal(err)
			}
		}
		rate(b, got)
	})
	b.Run("baseline-query", func(b *testing.B) {
		b.ReportAllocs()
		var got int64
		for b.Loop() {
			f := f
			f.PageSize = activitylog.MaxPageSize
			for {
				p, err := store.Query(context.Background(), f)
				if err != nil {
					b.Fatal(err)
				}
				got += int64(len(p.Events))
				if p.Next == "" {
					break
				}
				f.Cursor = p.Next
			}
		}
		rate(b, got)
	})
	export := func(b *testing.B, q activitylog.Querier) {
		h := server.New(q, nil, &server.Options{Logger: discard, Authenticate: testAuth})
		b.ReportAllocs()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		var got, size int64
		for b.Loop() {
			w := &discardResponse{h: http.Header{}}
			h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/events/export?format=csv&"+query, nil))
			if s := w.h.Get("X-Export-Status"); s != "complete" {
				b.Fatalf("X-Export-Status %q", s)
			}
			got += rows
			size += w.n
		}
		runtime.ReadMemStats(&m1)
		rate(b, got)
		b.ReportMetric(float64(size)/float64(b.N), "body-B/op")
		b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(got), "B/row")
	}
	b.Run("csv", func(b *testing.B) { export(b, store) })
	b.Run("csv-paged", func(b *testing.B) { export(b, queryOnly{store}) })
}
