package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

const (
	ctCSV    = "text/csv; charset=utf-8"
	ctJSON   = "application/json; charset=utf-8"
	ctNDJSON = "application/x-ndjson"
	ctXLSX   = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

// hostileEvents carry values that a spreadsheet would run as formulas.
func hostileEvents() []activitylog.Event {
	t := base.Add(time.Hour)
	ev := []activitylog.Event{
		{Time: t, Kind: activitylog.KindCustom, Action: "note", Message: `=HYPERLINK("http://evil","x")`,
			Actor:   activitylog.Actor{ID: "u1", Name: "+cmd|' /C calc'!A0"},
			Request: activitylog.Request{Path: "-2+3"}},
		{Time: t.Add(time.Minute), Kind: activitylog.KindCustom, Action: "note", Message: "@SUM(1+1)",
			Actor:   activitylog.Actor{ID: "u2", Name: "\tTab"},
			Request: activitylog.Request{Path: "\r/carriage"}},
		{Time: t.Add(2 * time.Minute), Kind: activitylog.KindCustom, Action: "note", Message: "plain text"},
	}
	for i := range ev {
		ev[i].ID = activitylog.NewID(ev[i].Time)
	}
	return ev
}

// exportRecorder is an Auditor that keeps what it is given.
type exportRecorder struct {
	mu     sync.Mutex
	events []activitylog.Event
}

func (r *exportRecorder) Record(ctx context.Context, e activitylog.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func csvRows(t *testing.T, body []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("parse csv: %v: %s", err, body)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], server.ExportColumns) {
		t.Fatalf("csv header = %v, want %v", rows, server.ExportColumns)
	}
	return rows
}

func xlsxRows(t *testing.T, body []byte) [][]string {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("open xlsx: %v", err)
	}
	defer f.Close()
	rows, err := f.GetRows("events")
	if err != nil {
		t.Fatalf("read xlsx rows: %v", err)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], server.ExportColumns) {
		t.Fatalf("xlsx header = %v, want %v", rows, server.ExportColumns)
	}
	return rows
}

func jsonEvents(t *testing.T, body []byte) []activitylog.Event {
	t.Helper()
	var ev []activitylog.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("parse json: %v: %s", err, body)
	}
	return ev
}

func ndjsonEvents(t *testing.T, body []byte) []activitylog.Event {
	t.Helper()
	var ev []activitylog.Event
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e activitylog.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("parse ndjson line %d: %v: %s", len(ev)+1, err, sc.Bytes())
		}
		ev = append(ev, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scan ndjson: %v", err)
	}
	return ev
}

// column returns the values of the named column, header row left out.
func column(rows [][]string, name string) []string {
	i := slices.Index(server.ExportColumns, name)
	var out []string
	for _, r := range rows[1:] {
		if i < len(r) {
			out = append(out, r[i])
		} else {
			out = append(out, "")
		}
	}
	return out
}

// seedIndexes maps exported ids back to their seed indexes.
func seedIndexes(seed []activitylog.Event, ids []string) []int {
	var out []int
	for _, id := range ids {
		i := -1
		for j := range seed {
			if seed[j].ID.String() == id {
				i = j
			}
		}
		out = append(out, i)
	}
	return out
}

func eventIDs(ev []activitylog.Event) []string {
	var ids []string
	for _, e := range ev {
		ids = append(ids, e.ID.String())
	}
	return ids
}

func wantSeed(t *testing.T, seed []activitylog.Event, ids []string, want []int) {
	t.Helper()
	if got := seedIndexes(seed, ids); !equalInts(got, want) {
		t.Errorf("exported seed %v, want %v", got, want)
	}
}

func TestExport(t *testing.T) {
	t.Parallel()
	seed := seedEvents()
	hostile := hostileEvents()
	filename := regexp.MustCompile(`^attachment; filename="activitylog-events-\d{8}T\d{6}Z\.(csv|json|ndjson|xlsx)"$`)

	tests := []struct {
		name       string
		seed       []activitylog.Event
		url        string
		wantStatus int
		wantType   string
		wantError  *wantError
		check      func(t *testing.T, seed []activitylog.Event, body []byte)
	}{
		{name: "csv all", seed: seed, url: "/api/v1/events/export?format=csv",
			wantStatus: 200, wantType: ctCSV,
			check: func(t *testing.T, seed []activitylog.Event, body []byte) {
				rows := csvRows(t, body)
				wantSeed(t, seed, column(rows, "id"), []int{7, 6, 5, 4, 3, 2, 1, 0})
				i := slices.Index(server.ExportColumns, "changes")
				if got := rows[7][i]; got != `{"status":{"old":"draft","new":"sent"}}` {
					t.Errorf("changes cell = %q", got)
				}
				if got := column(rows, "status")[2]; got != "500" {
					t.Errorf("status cell = %q, want 500", got)
				}
				if got := column(rows, "duration_ms")[2]; got != "9" {
					t.Errorf("duration_ms cell = %q, want 9", got)
				}
			}},
		{name: "csv is the default", seed: seed, url: "/api/v1/events/export?kind=crud",
			wantStatus: 200, wantType: ctCSV,
			check: func(t *testing.T, seed []activitylog.Event, body []byte) {
				wantSeed(t, seed, column(csvRows(t, body), "id"), []int{1, 0})
			}},
		{name: "csv ordering", seed: seed, url: "/api/v1/events/export?format=csv&ordering=time&tenant=t2",
			wantStatus: 200, wantType: ctCSV,
			check: func(t *testing.T, seed []activitylog.Event, body []byte) {
				wantSeed(t, seed, column(csvRows(t, body), "id"), []int{2, 6})
			}},
		{name: "csv empty", seed: seed, url: "/api/v1/events/export?format=csv&tenant=nobody",
			wantStatus: 200, wantType: ctCSV,
			check: func(t *testing.T, seed []activitylog.Event, body []byte) {
				if rows := csvRows(t, body); len(rows) != 1 {
					t.Errorf("rows = %d, want the header only", len(rows))
				}
			}},
		{name: "json", seed: seed, url: "/api/v1/events/export?format=json&tenant=t1",
			wantStatus: 200, wantType: ctJSON,
			check: func(t *testing.T, seed []activitylog.Event, body []byte) {
				ev := jsonEvents(t, body)
				wantSeed(t, seed, eventIDs(ev), []int{1, 0})
				if ev[0].Changes["status"].New != "sent" {
					t.Errorf("changes = %v", ev[0].Changes)
				}
			}},
		{name: "json empty", seed: seed, url: "/api/v1/events/export?format=json&tenant=nobody",
			wantStatus: 200, wantType: ctJSON,
			check: func(t *testing.T, seed []activitylog.Event, body []byte) {
				if ev := jsonEvents(t, body); len(ev) != 0 {
					t.Errorf("events = %d, want 0", len(ev))
				}
			}},
		{name: "ndjson", seed: seed, url: "/api/v1/events/export?format=ndjson&status_gte=400",
			wantStatus: 200, wantType: ctNDJSON,
			check: func(t *testing.T, seed []activitylog.Event, body []byte) {
				wantSeed(t, seed, eventIDs(ndjsonEvents(t, body)), []int{5, 4})
			}},
		{name: "xlsx", seed: seed, url: "/api/v1/events/export?format=xlsx&kind=request",
			wantStatus: 200, wantType: ctXLSX,
			check: func(t *testing.T, seed []activitylog.Event, body []byte) {
				rows := xlsxRows(t, body)
				wantSeed(t, seed, column(rows, "id"), []int{5, 4, 3})
				if got := column(rows, "status"); !slices.Equal(got, []string{"500", "404", "200"}) {
					t.Errorf("status column = %v", got)
				}
			}},
		{name: "csv escapes formulas", seed: hostile, url: "/api/v1/events/export?format=csv&ordering=time",
			wantStatus: 200, wantType: ctCSV,
			check: func(t *testing.T, seed []activitylog.Event, body []byte) {
				checkEscaped(t, csvRows(t, body))
			}},
		{name: "xlsx escapes formulas", seed: hostile, url: "/api/v1/events/export?format=xlsx&ordering=time",
			wantStatus: 200, wantType: ctXLSX,
			check: func(t *testing.T, seed []activitylog.Event, body []byte) {
				checkEscaped(t, xlsxRows(t, body))
			}},
		{name: "bad format", url: "/api/v1/events/export?format=pdf",
			wantStatus: 400, wantType: ctJSON, wantError: &wantError{"invalid", "format", "pdf"}},
		{name: "format twice", url: "/api/v1/events/export?format=csv&format=json",
			wantStatus: 400, wantType: ctJSON, wantError: &wantError{"invalid", "format", "json"}},
		{name: "cursor refused", url: "/api/v1/events/export?format=csv&cursor=abc",
			wantStatus: 400, wantType: ctJSON, wantError: &wantError{"invalid", "cursor", "abc"}},
		{name: "page refused", url: "/api/v1/events/export?page=2",
			wantStatus: 400, wantType: ctJSON, wantError: &wantError{"invalid", "page", "2"}},
		{name: "page_size refused", url: "/api/v1/events/export?format=json&page_size=10",
			wantStatus: 400, wantType: ctJSON, wantError: &wantError{"invalid", "page_size", "10"}},
		{name: "bad filter", url: "/api/v1/events/export?format=csv&kind=nope",
			wantStatus: 400, wantType: ctJSON, wantError: &wantError{"invalid", "kind", "nope"}},
		{name: "unknown parameter", url: "/api/v1/events/export?format=csv&colour=red",
			wantStatus: 400, wantType: ctJSON, wantError: &wantError{"invalid", "colour", "red"}},
		{name: "bad ordering", url: "/api/v1/events/export?format=csv&ordering=-message",
			wantStatus: 400, wantType: ctJSON, wantError: &wantError{"invalid", "ordering", "-message"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			audit := &exportRecorder{}
			e := newEnv(t, &server.Options{Audit: audit})
			e.seed(t, tt.seed)
			w := e.do(t, "GET", tt.url, "", nil)
			body := w.Body.Bytes()
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body: %s", w.Code, tt.wantStatus, body)
			}
			if ct := w.Header().Get("Content-Type"); ct != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", ct, tt.wantType)
			}
			if v := w.Header().Get("X-Content-Type-Options"); v != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", v)
			}
			cd := w.Header().Get("Content-Disposition")
			if tt.wantStatus == 200 {
				if !filename.MatchString(cd) {
					t.Errorf("Content-Disposition = %q", cd)
				}
				if got := w.Result().Trailer.Get("X-Export-Status"); got != "complete" {
					t.Errorf("X-Export-Status trailer = %q, want complete", got)
				}
				if len(audit.events) != 1 {
					t.Fatalf("recorded %d export events, want 1", len(audit.events))
				}
				if got := audit.events[0].Extra["bytes"]; got != int64(len(body)) {
					t.Errorf("recorded bytes = %v, want %d", got, len(body))
				}
			} else {
				if cd != "" {
					t.Errorf("an error has Content-Disposition %q", cd)
				}
				if len(audit.events) != 0 {
					t.Errorf("a refused export was recorded: %+v", audit.events)
				}
			}
			if tt.wantError != nil {
				checkError(t, body, *tt.wantError)
			}
			if tt.check != nil {
				tt.check(t, tt.seed, body)
			}
		})
	}
}

// checkEscaped checks the cells of hostileEvents, exported oldest first.
func checkEscaped(t *testing.T, rows [][]string) {
	t.Helper()
	want := map[string][]string{
		"message":    {`'=HYPERLINK("http://evil","x")`, "'@SUM(1+1)", "plain text"},
		"actor_name": {"'+cmd|' /C calc'!A0", "'\tTab", ""},
		"path":       {"'-2+3", "'\r/carriage", ""},
	}
	for col, w := range want {
		got := column(rows, col)
		// A spreadsheet reader may turn a lone CR into LF.
		for i := range got {
			got[i] = strings.ReplaceAll(got[i], "\n", "\r")
		}
		if !slices.Equal(got, w) {
			t.Errorf("column %s = %q, want %q", col, got, w)
		}
	}
}

func TestEscapeCell(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": "", "a=b": "a=b", "=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@x": "'@x",
		"\tx": "'\tx", "\rx": "'\rx", " =1": " =1", "'=1": "'=1",
	} {
		if got := server.EscapeCell(in); got != want {
			t.Errorf("EscapeCell(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestExportRecorded exports more than one page through a real Recorder
// and reads the export event back from the store.
func TestExportRecorded(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	rec := activitylog.NewRecorder(store, &activitylog.Options{Service: "test", Logger: discard})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rec.Shutdown(ctx); err != nil {
			t.Errorf("shut down recorder: %v", err)
		}
		if err := store.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	const n = 2345
	events := benchExportEvents(0, n, base)
	for i := 0; i < n; i += 500 {
		if err := store.Write(context.Background(), events[i:min(i+500, n)]); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	h := server.New(store, rec, &server.Options{Logger: discard, Audit: rec, Authenticate: testAuth})

	r := httptest.NewRequest("GET", "/api/v1/events/export?format=ndjson&tenant=acme&ordering=time", nil)
	r = r.WithContext(activitylog.WithActor(r.Context(), activitylog.Actor{ID: "auditor-1", Name: "Eve"}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("status = %d: %s", w.Code, w.Body)
	}
	got := ndjsonEvents(t, w.Body.Bytes())
	if len(got) != n {
		t.Fatalf("exported %d events, want %d", len(got), n)
	}
	seen := map[activitylog.ID]bool{}
	for i, e := range got {
		if seen[e.ID] {
			t.Fatalf("event %s exported twice", e.ID)
		}
		seen[e.ID] = true
		if i > 0 && e.Time.Before(got[i-1].Time) {
			t.Fatalf("event %d is out of order", i)
		}
	}

	if err := rec.Flush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	page, err := store.Query(context.Background(), activitylog.Filter{Kind: activitylog.KindExport})
	if err != nil {
		t.Fatalf("query exports: %v", err)
	}
	if len(page.Events) != 1 {
		t.Fatalf("export events = %d, want 1", len(page.Events))
	}
	e := page.Events[0]
	if e.Action != activitylog.ActionExport || e.Object.Type != "events" || e.Actor.ID != "auditor-1" {
		t.Errorf("export event = %s %s %q by %q", e.Kind, e.Action, e.Object.Type, e.Actor.ID)
	}
	want := map[string]any{
		"format":  "ndjson",
		"records": float64(n),
		"bytes":   float64(w.Body.Len()),
		"filters": map[string]any{"tenant": "acme", "ordering": "time"},
	}
	for k, v := range want {
		if g, w := fmt.Sprint(e.Extra[k]), fmt.Sprint(v); g != w {
			t.Errorf("extra[%s] = %s, want %s", k, g, w)
		}
	}
	if !strings.Contains(e.Message, fmt.Sprintf("exported %d events as ndjson", n)) {
		t.Errorf("message = %q", e.Message)
	}
}

// benchExportEvents returns n request events of tenant acme, one a
// millisecond from t0.
func benchExportEvents(start, n int, t0 time.Time) []activitylog.Event {
	ev := make([]activitylog.Event, n)
	for i := range ev {
		k := start + i
		at := t0.Add(time.Duration(k) * time.Millisecond)
		ev[i] = activitylog.Event{
			ID: activitylog.NewID(at), Time: at, Kind: activitylog.KindRequest, Action: "GET",
			Severity: activitylog.SeverityInfo, Tenant: "acme", Service: "shop",
			Message: "served order page",
			Actor:   activitylog.Actor{ID: fmt.Sprintf("u%d", k%97), Name: "Ann Example", Type: activitylog.ActorUser},
			Request: activitylog.Request{Method: "GET", Path: fmt.Sprintf("/api/orders/%d", k), Route: "/api/orders/{id}",
				RemoteIP: "10.0.0.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"},
			Response: activitylog.Response{Status: 200 + k%4*100, Duration: time.Duration(k%50) * time.Millisecond},
			Extra:    map[string]any{"shard": k % 8},
		}
	}
	return ev
}

// discardResponse is a ResponseWriter that counts and drops the body.
type discardResponse struct {
	h http.Header
	n int64
}

func (d *discardResponse) Header() http.Header         { return d.h }
func (d *discardResponse) WriteHeader(int)             {}
func (d *discardResponse) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }
func (d *discardResponse) Flush()                      {}

// BenchmarkExportCSV exports 100,000 events from a real store as CSV.
// The baseline sub-benchmark pages through the same events with Query
// and writes nothing, so the ratio is the export's own cost.
func BenchmarkExportCSV(b *testing.B) {
	const n = 100_000
	store, err := sqlite.Open(filepath.Join(b.TempDir(), "audit.db"), nil)
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	b.Cleanup(func() { store.Close() })
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i += 500 {
		if err := store.Write(context.Background(), benchExportEvents(i, 500, t0)); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	h := server.New(store, nil, &server.Options{Logger: discard, Authenticate: testAuth})

	b.Run("baseline-query", func(b *testing.B) {
		b.ReportAllocs()
		rows := 0
		for b.Loop() {
			f := activitylog.Filter{PageSize: activitylog.MaxPageSize}
			for {
				p, err := store.Query(context.Background(), f)
				if err != nil {
					b.Fatal(err)
				}
				rows += len(p.Events)
				if p.Next == "" {
					break
				}
				f.Cursor = p.Next
			}
		}
		if rows != n*b.N {
			b.Fatalf("rows = %d, want %d", rows, n*b.N)
		}
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("csv", func(b *testing.B) {
		b.ReportAllocs()
		var bytes int64
		for b.Loop() {
			w := &discardResponse{h: http.Header{}}
			h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/events/export?format=csv", nil))
			if w.n == 0 {
				b.Fatal("empty export")
			}
			bytes += w.n
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(bytes)/float64(b.N), "body-B/op")
	})
}

// failingQuerier fails every Query after the first.
type failingQuerier struct {
	activitylog.Querier
	mu    sync.Mutex
	calls int
}

func (q *failingQuerier) Query(ctx context.Context, f activitylog.Filter) (activitylog.Page, error) {
	q.mu.Lock()
	q.calls++
	calls := q.calls
	q.mu.Unlock()
	if calls > 1 {
		return activitylog.Page{}, fmt.Errorf("query: %w", activitylog.ErrUnavailable)
	}
	return q.Querier.Query(ctx, f)
}

// TestExportFailsMidStream checks that a store error after the first
// page ends the body, marks the trailer and records a failed export.
func TestExportFailsMidStream(t *testing.T) {
	t.Parallel()
	for _, format := range server.ExportFormats {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			events := benchExportEvents(0, 1500, base)
			if err := e.store.Write(context.Background(), events); err != nil {
				t.Fatalf("seed: %v", err)
			}
			audit := &exportRecorder{}
			h := server.New(&failingQuerier{Querier: e.store}, nil, &server.Options{Logger: discard, Audit: audit, Authenticate: testAuth})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/events/export?format="+format, nil))
			if format == "xlsx" {
				// Nothing was sent yet: the status tells.
				if w.Code != http.StatusServiceUnavailable {
					t.Errorf("status = %d, want 503", w.Code)
				}
			} else {
				if w.Code != 200 {
					t.Errorf("status = %d, want 200", w.Code)
				}
				if got := w.Result().Trailer.Get("X-Export-Status"); got != "truncated" {
					t.Errorf("X-Export-Status trailer = %q, want truncated", got)
				}
				if format == "json" && json.Valid(w.Body.Bytes()) {
					t.Errorf("a truncated JSON export parses")
				}
			}
			if len(audit.events) != 1 || audit.events[0].Action != activitylog.ActionExportFailed {
				t.Fatalf("recorded %+v, want one export_failed", audit.events)
			}
			if got := audit.events[0].Extra["records"]; format != "xlsx" && got != int64(1000) {
				t.Errorf("recorded records = %v, want 1000", got)
			}
		})
	}
}
