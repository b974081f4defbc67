package server_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
)

var base = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// seedEvents is a varied trail: every filter parameter selects a
// different part of it. The last event is recent, for last_hours.
func seedEvents() []activitylog.Event {
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	ev := []activitylog.Event{
		0: {Time: at(1), Kind: activitylog.KindCRUD, Action: "create", Tenant: "t1", Message: "created invoice",
			Actor:   activitylog.Actor{ID: "u1", Name: "Ann"},
			Object:  activitylog.Object{Type: "invoice", ID: "INV-1", Repr: "Invoice 1"},
			Request: activitylog.Request{RemoteIP: "10.0.0.1"}},
		1: {Time: at(2), Kind: activitylog.KindCRUD, Action: "update", Tenant: "t1",
			Actor:   activitylog.Actor{ID: "u2", Name: "Bob"},
			Object:  activitylog.Object{Type: "invoice", ID: "INV-1"},
			Changes: map[string]activitylog.Change{"status": {Old: "draft", New: "sent"}}},
		2: {Time: at(3), Kind: activitylog.KindAuth, Action: "login", Tenant: "t2",
			Actor:   activitylog.Actor{ID: "u1", Name: "Ann"},
			Request: activitylog.Request{RemoteIP: "10.0.0.2"}},
		3: {Time: at(4), Kind: activitylog.KindRequest, Action: "GET",
			Request:  activitylog.Request{Method: "GET", Path: "/api/orders", RemoteIP: "10.0.0.1"},
			Response: activitylog.Response{Status: 200, Duration: 5 * time.Millisecond}},
		4: {Time: at(5), Kind: activitylog.KindRequest, Action: "POST",
			Request:  activitylog.Request{Method: "POST", Path: "/api/orders"},
			Response: activitylog.Response{Status: 404, Duration: time.Millisecond}},
		5: {Time: at(6), Kind: activitylog.KindRequest, Action: "GET", Message: "Boom in handler",
			Request:  activitylog.Request{Method: "GET", Path: "/api/pay"},
			Response: activitylog.Response{Status: 500, Duration: 9 * time.Millisecond}},
		6: {Time: at(7), Kind: activitylog.KindSystem, Action: "error", Tenant: "t2", Message: "disk full"},
		7: {Time: time.Now().Add(-30 * time.Minute), Kind: activitylog.KindCustom, Action: "deploy"},
	}
	for i := range ev {
		ev[i].ID = activitylog.NewID(ev[i].Time)
	}
	return ev
}

func TestList(t *testing.T) {
	t.Parallel()
	seed := seedEvents()
	ls := func(q string) string { return "/api/v1/events" + q }
	for _, sc := range []scenario{
		{name: "all, newest first", url: ls(""), wantStatus: 200, wantResults: []int{7, 6, 5, 4, 3, 2, 1, 0},
			wantContent: []string{`"count":8`, `"next":null`, `"previous":null`}},
		{name: "empty store", url: ls(""), seed: []activitylog.Event{}, wantStatus: 200,
			wantContent: []string{`{"count":0,"next":null,"previous":null,"results":[]}`}},
		{name: "no match", url: ls("?kind=export"), wantStatus: 200, wantResults: []int{}, wantContent: []string{`"count":0`, `"results":[]`}},
		{name: "kind", url: ls("?kind=request"), wantStatus: 200, wantResults: []int{5, 4, 3}, wantContent: []string{`"count":3`}},
		{name: "action", url: ls("?action=update"), wantStatus: 200, wantResults: []int{1}},
		{name: "kind and action", url: ls("?kind=request&action=GET"), wantStatus: 200, wantResults: []int{5, 3}},
		{name: "date_from inclusive", url: ls("?date_from=2025-01-01T05:00:00Z"), wantStatus: 200, wantResults: []int{7, 6, 5, 4}},
		{name: "date_to exclusive", url: ls("?date_to=2025-01-01T03:00:00Z"), wantStatus: 200, wantResults: []int{1, 0}},
		{name: "date range with offsets", url: ls("?date_from=2025-01-01T03:00:00%2B01:00&date_to=2025-01-01T05:00:00Z"), wantStatus: 200, wantResults: []int{3, 2, 1}},
		{name: "unescaped plus in a time", url: ls("?date_from=2025-01-01T03:00:00+01:00&date_to=2025-01-01T05:00:00Z"), wantStatus: 200, wantResults: []int{3, 2, 1}},
		{name: "fractional seconds", url: ls("?date_to=2025-01-01T01:00:00.000000001Z"), wantStatus: 200, wantResults: []int{0}},
		{name: "last_hours", url: ls("?last_hours=1"), wantStatus: 200, wantResults: []int{7}},
		{name: "user_id", url: ls("?user_id=u1"), wantStatus: 200, wantResults: []int{2, 0}},
		{name: "tenant", url: ls("?tenant=t2"), wantStatus: 200, wantResults: []int{6, 2}},
		{name: "remote_ip", url: ls("?remote_ip=10.0.0.1"), wantStatus: 200, wantResults: []int{3, 0}},
		{name: "object_type", url: ls("?object_type=invoice"), wantStatus: 200, wantResults: []int{1, 0}},
		{name: "object_id", url: ls("?object_id=INV-1&action=create"), wantStatus: 200, wantResults: []int{0}},
		{name: "status_gte", url: ls("?status_gte=400"), wantStatus: 200, wantResults: []int{5, 4}},
		{name: "status_lte", url: ls("?status_lte=404&kind=request"), wantStatus: 200, wantResults: []int{4, 3}},
		{name: "status range", url: ls("?status_gte=400&status_lte=499"), wantStatus: 200, wantResults: []int{4}},
		{name: "search message, any case", url: ls("?search=BOOM"), wantStatus: 200, wantResults: []int{5}},
		{name: "search path", url: ls("?search=/api/orders"), wantStatus: 200, wantResults: []int{4, 3}},
		{name: "search actor name", url: ls("?search=bob"), wantStatus: 200, wantResults: []int{1}},
		{name: "search object repr", url: ls("?search=Invoice+1"), wantStatus: 200, wantResults: []int{0}},
		{name: "ordering ascending", url: ls("?ordering=time&kind=request"), wantStatus: 200, wantResults: []int{3, 4, 5}},
		{name: "ordering by status", url: ls("?ordering=-status&kind=request"), wantStatus: 200, wantResults: []int{5, 4, 3}},
		{name: "ordering by duration", url: ls("?ordering=duration&kind=request"), wantStatus: 200, wantResults: []int{4, 3, 5}},
		{name: "page_size", url: ls("?page_size=3"), wantStatus: 200, wantResults: []int{7, 6, 5},
			wantContent: []string{`"count":8`, `"next":"?cursor=`, `page_size=3`, `"previous":null`}},
		{name: "page", url: ls("?page=2&page_size=3"), wantStatus: 200, wantResults: []int{4, 3, 2},
			wantContent: []string{`"count":8`, `"next":"?cursor=`, `"previous":"?cursor=`}, notContent: []string{"page=2"}},
		{name: "last page", url: ls("?page=3&page_size=3"), wantStatus: 200, wantResults: []int{1, 0}, wantContent: []string{`"next":null`}},
		{name: "page past the end", url: ls("?page=9&page_size=3"), wantStatus: 200, wantResults: []int{}, wantContent: []string{`"count":8`}},
		{name: "empty values are unset", url: ls("?kind=&page_size=&user_id=&date_from="), wantStatus: 200, wantResults: []int{7, 6, 5, 4, 3, 2, 1, 0}},
		{name: "links keep the filter", url: ls("?kind=request&page_size=1&search=api"), wantStatus: 200, wantResults: []int{5},
			wantContent: []string{`"next":"?cursor=`, `kind=request`, `search=api`}},

		// Refused: the parameter and value are named.
		{name: "unknown parameter", url: ls("?kind=crud&colour=red"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "colour", value: "red"}, wantContent: []string{"not a known parameter"}},
		{name: "unknown parameter without a value", url: ls("?verbose"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "verbose", value: ""}},
		{name: "parameter without a name", url: ls("?=0"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "(empty name)", value: "0"}},
		{name: "parameter names are case-sensitive", url: ls("?Kind=crud"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "Kind", value: "crud"}},
		{name: "repeated parameter", url: ls("?kind=crud&kind=auth"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "kind", value: "auth"}, wantContent: []string{"more than once"}},
		{name: "bad kind", url: ls("?kind=party"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "kind", value: "party"}},
		{name: "bad date_from", url: ls("?date_from=yesterday"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "date_from", value: "yesterday"}},
		{name: "date without time", url: ls("?date_to=2025-01-01"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "date_to", value: "2025-01-01"}},
		{name: "date_to before date_from", url: ls("?date_from=2025-01-02T00:00:00Z&date_to=2025-01-01T00:00:00Z"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "date_to", value: "2025-01-01T00:00:00Z"}},
		{name: "date out of range", url: ls("?date_from=1900-01-01T00:00:00Z"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "date_from", value: "1900-01-01T00:00:00Z"}},
		{name: "last_hours not a number", url: ls("?last_hours=two"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "last_hours", value: "two"}},
		{name: "last_hours negative", url: ls("?last_hours=-1"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "last_hours", value: "-1"}},
		{name: "last_hours with date_from", url: ls("?last_hours=2&date_from=2025-01-01T00:00:00Z"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "last_hours", value: "2"}},
		{name: "bad remote_ip", url: ls("?remote_ip=localhost"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "remote_ip", value: "localhost"}},
		{name: "status_gte not a number", url: ls("?status_gte=4xx"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "status_gte", value: "4xx"}},
		{name: "status_gte out of range", url: ls("?status_gte=99"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "status_gte", value: "99"}},
		{name: "status_lte below status_gte", url: ls("?status_gte=500&status_lte=400"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "status_lte", value: "400"}},
		{name: "search too long", url: ls("?search=" + strings.Repeat("x", 257)), wantStatus: 400, wantError: &wantError{code: "invalid", field: "search", value: strings.Repeat("x", 32) + "…"}},
		{name: "bad ordering", url: ls("?ordering=-colour"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "ordering", value: "-colour"}},
		{name: "page zero", url: ls("?page=0"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "page", value: "0"}},
		{name: "page negative", url: ls("?page=-2"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "page", value: "-2"}},
		{name: "last_hours zero", url: ls("?last_hours=0"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "last_hours", value: "0"}},
		{name: "status_lte zero", url: ls("?status_lte=0"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "status_lte", value: "0"}},
		{name: "page_size zero", url: ls("?page_size=0"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "page_size", value: "0"},
			wantContent: []string{`"message":"invalid page_size \"0\": must be between 1 and 1000"`}},
		{name: "page_size too big", url: ls("?page_size=1001"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "page_size", value: "1001"}},
		{name: "page_size overflow", url: ls("?page_size=99999999999999999999"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "page_size", value: "99999999999999999999"}},
		{name: "bad cursor", url: ls("?cursor=garbage"), wantStatus: 400, wantError: &wantError{code: "invalid", field: "cursor", value: "garbage"}},
	} {
		if sc.seed == nil {
			sc.seed = seed
		}
		t.Run(sc.name, sc.run)
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	seed := seedEvents()
	for _, sc := range []scenario{
		{name: "found", seed: seed, url: "/api/v1/events/" + seed[1].ID.String(), wantStatus: 200,
			wantContent: []string{`"id":"` + seed[1].ID.String() + `"`, `"action":"update"`, `"changes":{"status":{"old":"draft","new":"sent"}}`}},
		{name: "found by upper-case id", seed: seed, url: "/api/v1/events/" + strings.ToUpper(seed[1].ID.String()), wantStatus: 200,
			wantContent: []string{`"id":"` + seed[1].ID.String() + `"`}},
		{name: "absent", seed: seed, url: "/api/v1/events/0190c2a1-0000-7000-8000-000000000001", wantStatus: 404,
			wantError: &wantError{code: "not_found"}, wantContent: []string{"0190c2a1-0000-7000-8000-000000000001"}},
		{name: "malformed", seed: seed, url: "/api/v1/events/42", wantStatus: 400, wantError: &wantError{code: "invalid", field: "id", value: "42"}},
		{name: "not hex", seed: seed, url: "/api/v1/events/0190c2a1-0000-7000-8000-00000000000g", wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "id", value: "0190c2a1-0000-7000-8000-00000000000g"}},
		{name: "nil uuid", seed: seed, url: "/api/v1/events/00000000-0000-0000-0000-000000000000", wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "id", value: "00000000-0000-0000-0000-000000000000"}},
	} {
		t.Run(sc.name, sc.run)
	}
}

// TestCursorPaging walks the next links to the end and the previous
// links back, with a filter that the links must keep.
func TestCursorPaging(t *testing.T) {
	t.Parallel()
	var seed []activitylog.Event
	var crud []activitylog.ID // newest first
	for i := range 28 {
		e := activitylog.Event{Time: base.Add(time.Duration(i) * time.Minute), Kind: activitylog.KindCRUD, Action: "update",
			Response: activitylog.Response{Status: 200 + i%3}}
		if i%6 == 5 {
			e.Kind, e.Action = activitylog.KindAuth, "login"
		}
		e.ID = activitylog.NewID(e.Time)
		seed = append(seed, e)
		if e.Kind == activitylog.KindCRUD {
			crud = append([]activitylog.ID{e.ID}, crud...)
		}
	}
	for _, tc := range []struct {
		name, query string
		want        []activitylog.ID
	}{
		{"newest first", "kind=crud&page_size=5", crud},
		{"oldest first", "kind=crud&page_size=4&ordering=time", reversed(crud)},
		{"by status, ties broken by id", "kind=crud&page_size=3&ordering=-status", byStatus(seed, crud)},
		{"one page", "kind=crud&page_size=1000", crud},
		{"page size one", "kind=crud&page_size=1", crud},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			e.seed(t, seed)
			size, _ := strconv.Atoi(query(tc.query).Get("page_size"))

			// Forward.
			var pages [][]activitylog.ID
			link := "?" + tc.query
			for n := 0; ; n++ {
				if n > 100 {
					t.Fatal("no end to the next links")
				}
				p := getPage(t, e, link)
				if p.Count != int64(len(tc.want)) {
					t.Fatalf("count = %d, want %d", p.Count, len(tc.want))
				}
				if (n == 0) != (p.Previous == nil) {
					t.Errorf("page %d: previous = %v", n, p.Previous)
				}
				pages = append(pages, ids(p.Results))
				if len(p.Results) > size {
					t.Fatalf("page %d has %d events, more than %d", n, len(p.Results), size)
				}
				if p.Next == nil {
					break
				}
				checkLink(t, *p.Next, tc.query)
				link = *p.Next
			}
			if got := slices.Concat(pages...); !slices.Equal(got, tc.want) {
				t.Fatalf("walked %d events in %d pages, want %d:\n got %v\nwant %v", len(got), len(pages), len(tc.want), got, tc.want)
			}

			// And back, from the last page.
			last := getPage(t, e, link)
			back := [][]activitylog.ID{ids(last.Results)}
			for p := last; p.Previous != nil; {
				checkLink(t, *p.Previous, tc.query)
				p = getPage(t, e, *p.Previous)
				back = append([][]activitylog.ID{ids(p.Results)}, back...)
				if len(back) > len(pages) {
					t.Fatal("more pages back than forward")
				}
			}
			if !slices.EqualFunc(back, pages, slices.Equal) {
				t.Errorf("pages walking back differ:\n back %v\nforth %v", back, pages)
			}
		})
	}
}

func getPage(t *testing.T, e *env, link string) listBody {
	t.Helper()
	w := e.do(t, "GET", "/api/v1/events"+link, "", nil)
	if w.Code != 200 {
		t.Fatalf("GET %s: %d %s", link, w.Code, w.Body)
	}
	var p listBody
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkLink checks that link is relative and keeps every parameter of
// the first query but page, and has a cursor.
func checkLink(t *testing.T, link, first string) {
	t.Helper()
	if !strings.HasPrefix(link, "?") {
		t.Fatalf("link %q is not relative", link)
	}
	got, want := query(link[1:]), query(first)
	if got.Get("cursor") == "" {
		t.Errorf("link %q has no cursor", link)
	}
	for k := range want {
		if k != "page" && got.Get(k) != want.Get(k) {
			t.Errorf("link %q lost %s=%s", link, k, want.Get(k))
		}
	}
	if got.Has("page") {
		t.Errorf("link %q keeps page", link)
	}
}

func query(s string) url.Values {
	v, _ := url.ParseQuery(s)
	return v
}

func ids(events []activitylog.Event) []activitylog.ID {
	out := make([]activitylog.ID, len(events))
	for i := range events {
		out[i] = events[i].ID
	}
	return out
}

func reversed(s []activitylog.ID) []activitylog.ID {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// byStatus orders the ids by status descending, then id descending.
func byStatus(seed []activitylog.Event, idsIn []activitylog.ID) []activitylog.ID {
	status := map[activitylog.ID]int{}
	for _, e := range seed {
		status[e.ID] = e.Response.Status
	}
	out := slices.Clone(idsIn)
	slices.SortFunc(out, func(a, b activitylog.ID) int {
		if c := status[b] - status[a]; c != 0 {
			return c
		}
		return strings.Compare(b.String(), a.String())
	})
	return out
}

// TestOffsetThenCursor: the next link of a numbered page continues
// where that page ends.
func TestOffsetThenCursor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	seed := seedEvents()
	e.seed(t, seed)
	p := getPage(t, e, "?page=2&page_size=3")
	if p.Next == nil || p.Previous == nil {
		t.Fatalf("page 2: next %v previous %v", p.Next, p.Previous)
	}
	next := getPage(t, e, *p.Next)
	if got, want := ids(next.Results), []activitylog.ID{seed[1].ID, seed[0].ID}; !slices.Equal(got, want) {
		t.Errorf("after page 2: %v, want %v", got, want)
	}
	prev := getPage(t, e, *p.Previous)
	if got, want := ids(prev.Results), []activitylog.ID{seed[7].ID, seed[6].ID, seed[5].ID}; !slices.Equal(got, want) {
		t.Errorf("before page 2: %v, want %v", got, want)
	}
}

func TestParseFilter(t *testing.T) {
	t.Parallel()
	from := time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))
	q := url.Values{
		"kind": {"crud"}, "action": {"update"}, "date_from": {from.Format(time.RFC3339)},
		"date_to": {"2025-02-01T00:00:00.5Z"}, "last_hours": {"3"}, "user_id": {"42"}, "tenant": {"acme"},
		"remote_ip": {"::1"}, "object_type": {"invoice"}, "object_id": {"INV-7"}, "status_gte": {"400"},
		"status_lte": {"499"}, "search": {"boom"}, "ordering": {"-status"}, "cursor": {"abc"}, "page": {"2"},
		"page_size": {"10"}, "status": {"404"}, "method": {"get"}, "origin": {"https://shop.example"},
		"severity": {"warning"}, "category": {"panic"}, "tool": {"grpc"},
	}
	got, err := server.ParseFilter(q)
	if err != nil {
		t.Fatal(err)
	}
	want := activitylog.Filter{
		Kind: "crud", Action: "update", From: from, To: time.Date(2025, 2, 1, 0, 0, 0, 5e8, time.UTC), LastHours: 3,
		ActorID: "42", Tenant: "acme", RemoteIP: "::1", ObjectType: "invoice", ObjectID: "INV-7",
		StatusMin: 400, StatusMax: 499, Search: "boom", Ordering: "-status", Cursor: "abc", Page: 2, PageSize: 10,
		Status: 404, Method: "get", Origin: "https://shop.example", Severity: activitylog.SeverityWarning,
		Category: "panic", Tool: "grpc", // ParseFilter checks syntax only: Normalize upper-cases the method
	}
	if !got.From.Equal(want.From) || !got.To.Equal(want.To) {
		t.Errorf("times: %v %v, want %v %v", got.From, got.To, want.From, want.To)
	}
	got.From, got.To, want.From, want.To = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("ParseFilter:\n got %+v\nwant %+v", got, want)
	}
	if len(q) != len(server.FilterParams) {
		t.Errorf("this test covers %d parameters, FilterParams lists %d", len(q), len(server.FilterParams))
	}
	for _, p := range server.FilterParams {
		if !q.Has(p) {
			t.Errorf("parameter %s is not covered", p)
		}
	}

	// Errors are FieldErrors naming the parameter, the same one every time.
	for range 20 {
		_, err := server.ParseFilter(url.Values{"zeta": {"1"}, "alpha": {"2"}, "page": {"x"}})
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != "alpha" {
			t.Fatalf("err = %v, want the first unknown parameter, alpha", err)
		}
	}
	_, err = server.ParseFilter(url.Values{strings.Repeat("é", 40): {strings.Repeat("ü", 40)}})
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) || !strings.HasSuffix(fe.Field, "…") || !strings.HasSuffix(fe.Value, "…") || len(fe.Value) > 40 {
		t.Errorf("long name and value not clipped: %v", err)
	}
	if f, err := server.ParseFilter(nil); err != nil || f != (activitylog.Filter{}) {
		t.Errorf("ParseFilter(nil) = %+v, %v", f, err)
	}
}

func TestListStoreClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.store.Close()
	for _, path := range []string{"/api/v1/events", "/api/v1/events/0190c2a1-0000-7000-8000-000000000001"} {
		w := e.do(t, "GET", path, "", nil)
		if w.Code != 503 {
			t.Errorf("GET %s with the store closed: %d %s", path, w.Code, w.Body)
		}
		checkError(t, w.Body.Bytes(), wantError{code: "unavailable"})
		if strings.Contains(w.Body.String(), "sql") {
			t.Errorf("answer shows internal detail: %s", w.Body)
		}
	}
}

// TestListLastHoursBefore1970: last_hours up to its documented 876600
// is taken even when the hours reach back before 1970, the earliest time
// an event can have: they begin there. Beyond 876600, and a date_to
// before the start, the error names what the client sent.
func TestListLastHoursBefore1970(t *testing.T) {
	t.Parallel()
	seed := seedEvents()
	ls := func(q string) string { return "/api/v1/events" + q }
	all := []int{7, 6, 5, 4, 3, 2, 1, 0}
	for _, sc := range []scenario{
		{name: "100 years", url: ls("?last_hours=876600"), wantStatus: 200, wantResults: all},
		{name: "back to 1950", url: ls("?last_hours=660000"), wantStatus: 200, wantResults: all},
		{name: "back to 1980", url: ls("?last_hours=400000"), wantStatus: 200, wantResults: all},
		{name: "with date_to", url: ls("?last_hours=876600&date_to=2025-01-01T03:00:00Z"), wantStatus: 200, wantResults: []int{1, 0}},
		{name: "with date_to in 1970", url: ls("?last_hours=876600&date_to=1970-01-01T00:00:01Z"), wantStatus: 200, wantResults: []int{}},
		{name: "just over 100 years", url: ls("?last_hours=876601"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "last_hours", value: "876601"}, wantContent: []string{"between 1 and 876600"}},
		{name: "366-day years", url: ls("?last_hours=878400"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "last_hours", value: "878400"}},
		{name: "date_to at its start", url: ls("?last_hours=876600&date_to=1970-01-01T00:00:00Z"), wantStatus: 400,
			wantError:   &wantError{code: "invalid", field: "date_to", value: "1970-01-01T00:00:00Z"},
			wantContent: []string{"must be after the start of last_hours=876600, 1970-01-01T00:00:00Z"}},
		{name: "date_to before its start", url: ls("?last_hours=1&date_to=2025-01-01T00:00:00Z"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "date_to", value: "2025-01-01T00:00:00Z"}, wantContent: []string{"the start of last_hours=1, "}},
	} {
		sc.seed = seed
		t.Run(sc.name, sc.run)
	}
}

// TestListGivenTimes: a time given is checked whatever it is; the zero
// time.Time (0001-01-01T00:00:00Z, in any offset) is not taken for an
// unset bound, and the error shows the value as sent.
func TestListGivenTimes(t *testing.T) {
	t.Parallel()
	seed := seedEvents()
	ls := func(q string) string { return "/api/v1/events" + q }
	refused := func(name, q, field, value string) scenario {
		return scenario{name: name, url: ls("?" + q), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: field, value: value}, wantContent: []string{"must be between 1970 and 2200"}}
	}
	for _, sc := range []scenario{
		refused("zero date_to", "date_to=0001-01-01T00:00:00Z", "date_to", "0001-01-01T00:00:00Z"),
		refused("zero date_from", "date_from=0001-01-01T00:00:00Z", "date_from", "0001-01-01T00:00:00Z"),
		refused("zero date_to in another offset", "date_to=0001-01-01T01:00:00%2B01:00", "date_to", "0001-01-01T01:00:00+01:00"),
		refused("zero date_to with fractions", "date_to=0001-01-01T00:00:00.000Z", "date_to", "0001-01-01T00:00:00.000Z"),
		refused("zero date_from with a date_to", "date_from=0001-01-01T00:00:00Z&date_to=2025-01-01T03:00:00Z", "date_from", "0001-01-01T00:00:00Z"),
		refused("a second after zero", "date_to=0001-01-01T00:00:01Z", "date_to", "0001-01-01T00:00:01Z"),
		refused("before 1970, as sent", "date_from=1969-12-31T23:59:59.000Z", "date_from", "1969-12-31T23:59:59.000Z"),
		refused("after 2200", "date_to=2200-01-01T00:00:00.000000001Z", "date_to", "2200-01-01T00:00:00.000000001Z"),
		refused("zero date_to with last_hours", "last_hours=1&date_to=0001-01-01T00:00:00Z", "date_to", "0001-01-01T00:00:00Z"),
		{name: "1970", url: ls("?date_from=1970-01-01T00:00:00Z"), wantStatus: 200, wantResults: []int{7, 6, 5, 4, 3, 2, 1, 0}},
		{name: "2200", url: ls("?date_to=2200-01-01T00:00:00Z"), wantStatus: 200, wantResults: []int{7, 6, 5, 4, 3, 2, 1, 0}},
		{name: "empty is unset", url: ls("?date_to=&date_from="), wantStatus: 200, wantResults: []int{7, 6, 5, 4, 3, 2, 1, 0}},
	} {
		sc.seed = seed
		t.Run(sc.name, sc.run)
	}
}

// TestQueryNotUTF8: a query value that is not UTF-8 is refused on every
// route that parses a filter, and on the aggregations, naming the
// parameter, its value shown with Go's \x escapes rather than U+FFFD,
// and the first bad byte. Every other error about such a value or path
// segment (an id, a format, a parameter a resource does not take) shows
// it the same way.
func TestQueryNotUTF8(t *testing.T) {
	t.Parallel()
	seed := seedEvents()
	bad := func(name, url, field, value, msg string) scenario {
		return scenario{name: name, url: url, wantStatus: 400,
			wantError: &wantError{code: "invalid", field: field, value: value}, wantContent: []string{msg}}
	}
	for _, sc := range []scenario{
		bad("tenant", "/api/v1/events?tenant=%ff", "tenant", `\xff`, `is not UTF-8: byte 0 is 0xff`),
		bad("search, Latin-1", "/api/v1/events?search=caf%e9", "search", `caf\xe9`, `is not UTF-8: byte 3 is 0xe9`),
		bad("user_id, cut short", "/api/v1/events?user_id=u%c3", "user_id", `u\xc3`, `byte 1 is 0xc3`),
		bad("tool, a surrogate", "/api/v1/events?tool=%ed%a0%80", "tool", `\xed\xa0\x80`, `byte 0 is 0xed`),
		bad("origin", "/api/v1/events?origin=https://%ff.example", "origin", `https://\xff.example`, `byte 8 is 0xff`),
		bad("action", "/api/v1/events?action=%fe", "action", `\xfe`, `byte 0 is 0xfe`),
		bad("kind", "/api/v1/events?kind=%ff", "kind", `\xff`, `is not UTF-8`),
		bad("ordering", "/api/v1/events?ordering=%ff", "ordering", `\xff`, `is not UTF-8`),
		bad("date_from", "/api/v1/events?date_from=%ff", "date_from", `\xff`, `is not UTF-8`),
		bad("the first parameter in name order", "/api/v1/events?tool=%ff&search=%fe", "search", `\xfe`, `is not UTF-8`),
		bad("long, clipped", "/api/v1/events?search="+strings.Repeat("a", 40)+"%ff", "search", strings.Repeat("a", 32)+"…", `byte 40 is 0xff`),
		bad("unknown parameter", "/api/v1/events?colour=%ff", "colour", `\xff`, `is not a known parameter`),
		bad("repeated parameter", "/api/v1/events?tenant=t1&tenant=%ff", "tenant", `\xff`, `is given more than once`),
		bad("export", "/api/v1/events/export?format=csv&tenant=%ff", "tenant", `\xff`, `is not UTF-8`),
		bad("kind export", "/api/v1/request-events/export?format=ndjson&search=%ff", "search", `\xff`, `is not UTF-8`),
		bad("kind list", "/api/v1/request-events?origin=%ff", "origin", `\xff`, `is not UTF-8`),
		bad("failed logins", "/api/v1/login-events/failed?user_id=%ff", "user_id", `\xff`, `is not UTF-8`),
		bad("slow requests", "/api/v1/request-events/slow?tool=%ff", "tool", `\xff`, `is not UTF-8`),
		bad("critical events", "/api/v1/system-events/critical?tenant=%ff", "tenant", `\xff`, `is not UTF-8`),
		bad("object history", "/api/v1/objects/invoice/INV-1/events?search=%ff", "search", `\xff`, `is not UTF-8`),
		// The aggregations, which read their own parameters.
		bad("dashboard", "/api/v1/dashboard?tenant=%ff", "tenant", `\xff`, `is not UTF-8: byte 0 is 0xff`),
		bad("error rates", "/api/v1/request-events/error-rates?tenant=%ff", "tenant", `\xff`, `is not UTF-8`),
		bad("brute-force suspects", "/api/v1/login-events/brute-force-suspects?tenant=a%ffb", "tenant", `a\xffb`, `byte 1 is 0xff`),
		bad("summary, user_id", "/api/v1/summary?user_id=%ff", "user_id", `\xff`, `is not UTF-8`),
		bad("summary, tenant", "/api/v1/summary?tenant=%ff", "tenant", `\xff`, `is not UTF-8`),
		bad("dashboard, an integer", "/api/v1/dashboard?hours=%ff", "hours", `\xff`, `is not UTF-8`),
		bad("dashboard, unknown parameter", "/api/v1/dashboard?colour=%ff", "colour", `\xff`, `is not a known parameter`),
		bad("dashboard, unknown name", "/api/v1/dashboard?%ff=1", `\xff`, "1", `is not a known parameter`),
		bad("dashboard, repeated", "/api/v1/dashboard?tenant=t1&tenant=%ff", "tenant", `\xff`, `is given more than once`),
		// Errors that name the right field show the bytes sent too.
		bad("kind on a kind's resource", "/api/v1/crud-events?kind=%ff", "kind", `\xff`, `is fixed by the resource`),
		bad("a filter of another kind", "/api/v1/crud-events?method=%ff", "method", `\xff`, `is not a filter of /api/v1/crud-events`),
		bad("unknown parameter of a kind", "/api/v1/crud-events?colour=%ff", "colour", `\xff`, `is not a known parameter of /api/v1/crud-events`),
		bad("export format", "/api/v1/events/export?format=%ff", "format", `\xff`, `must be one of csv`),
		bad("export format repeated", "/api/v1/events/export?format=csv&format=%ff", "format", `\xff`, `is given more than once`),
		bad("export of a kind, format", "/api/v1/system-events/export?format=x%ff", "format", `x\xff`, `must be one of csv`),
		bad("export paging", "/api/v1/events/export?cursor=%ff%fe", "cursor", `\xff\xfe`, `is not allowed in an export`),
		bad("an id", "/api/v1/events/%ff", "id", `\xff`, `is not a UUID`),
		bad("an id of a kind", "/api/v1/crud-events/%ff%fe", "id", `\xff\xfe`, `is not a UUID`),
		bad("a resolution's id", "/api/v1/events/%ff/resolution", "id", `\xff`, `is not a UUID`),
		{name: "UTF-8 is taken", url: "/api/v1/events?search=caf%C3%A9&tenant=%E2%9C%93", wantStatus: 200, wantResults: []int{}},
		{name: "UTF-8 is taken by the dashboard", url: "/api/v1/dashboard?tenant=%E2%9C%93", wantStatus: 200},
		{name: "UTF-8 is taken by the summary", url: "/api/v1/summary?user_id=caf%C3%A9", wantStatus: 200, wantContent: []string{`"user_id":"café"`}},
		{name: "U+FFFD sent as UTF-8 is taken", url: "/api/v1/events?tenant=%EF%BF%BD", wantStatus: 200, wantResults: []int{}},
	} {
		sc.seed = seed
		t.Run(sc.name, sc.run)
	}
}

// TestQueryRoutesGivenTimes: the fixes to last_hours and to explicit
// zero times hold on every route that parses a filter, exports
// included (whose answer is not JSON).
func TestQueryRoutesGivenTimes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.seed(t, seedEvents())
	for _, route := range []string{
		"/api/v1/events",
		"/api/v1/events/export?format=csv",
		"/api/v1/crud-events",
		"/api/v1/system-events/export?format=ndjson",
		"/api/v1/objects/invoice/INV-1/events",
		"/api/v1/login-events/failed",
		"/api/v1/request-events/slow",
		"/api/v1/system-events/critical",
	} {
		sep := "?"
		if strings.Contains(route, "?") {
			sep = "&"
		}
		if w := e.do(t, "GET", route+sep+"last_hours=876600", "", nil); w.Code != 200 {
			t.Errorf("GET %s with last_hours=876600: %d %s", route, w.Code, w.Body)
		}
		for _, p := range []string{"date_to", "date_from"} {
			w := e.do(t, "GET", route+sep+p+"=0001-01-01T00:00:00Z", "", nil)
			if w.Code != 400 {
				t.Errorf("GET %s with %s=0001-01-01T00:00:00Z: %d, want 400", route, p, w.Code)
				continue
			}
			checkError(t, w.Body.Bytes(), wantError{code: "invalid", field: p, value: "0001-01-01T00:00:00Z"})
		}
	}
}

// TestParseFilterGiven: ParseFilter refuses what a Filter would take
// for unset, and values that are not UTF-8, naming the parameter.
func TestParseFilterGiven(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		q                   url.Values
		field, value, words string
	}{
		{url.Values{"date_to": {"0001-01-01T00:00:00Z"}}, "date_to", "0001-01-01T00:00:00Z", "between 1970 and 2200"},
		{url.Values{"date_from": {"0001-01-01T00:00:00Z"}}, "date_from", "0001-01-01T00:00:00Z", "between 1970 and 2200"},
		{url.Values{"date_from": {"0001-01-01T00:00:00 01:00"}}, "date_from", "0001-01-01T00:00:00 01:00", "between 1970 and 2200"},
		{url.Values{"tenant": {"a\xffb"}}, "tenant", `a\xffb`, "is not UTF-8: byte 1 is 0xff"},
		{url.Values{"cursor": {"\x80"}}, "cursor", `\x80`, "is not UTF-8: byte 0 is 0x80"},
		{url.Values{"page": {"1\xff"}}, "page", `1\xff`, "is not UTF-8"},
		{url.Values{"x": {"\"\xff\\"}}, "x", `\"\xff\\`, "is not a known parameter"},
	} {
		_, err := server.ParseFilter(c.q)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || fe.Value != c.value || !strings.Contains(fe.Reason, c.words) {
			t.Errorf("ParseFilter(%q) = %v; want a FieldError naming %s %q, saying %q", c.q, err, c.field, c.value, c.words)
		}
	}
	f, err := server.ParseFilter(url.Values{"date_from": {"1970-01-01T00:00:00Z"}, "date_to": {"2200-01-01T00:00:00Z"}, "search": {"\uFFFD"}})
	if err != nil || !f.From.Equal(activitylog.MinTime) || !f.To.Equal(activitylog.MaxTime) || f.Search != "\uFFFD" {
		t.Errorf("the bounds and U+FFFD: %+v, %v", f, err)
	}
}
