package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// testFilters checks every field of Filter, alone and combined; each
// case must select some of the events and not all.
func testFilters(t *testing.T, s activitylog.Store) {
	es := Fixture(24)
	write(t, s, es)
	for _, f := range []activitylog.Filter{
		{Kind: activitylog.KindCRUD},
		{Kind: activitylog.KindAuth},
		{Action: "login"},
		{Action: "delete"},
		{From: timeOf(5)}, // inclusive: event 5 is in
		{To: timeOf(5)},   // exclusive: event 5 is out
		{From: timeOf(3), To: timeOf(9)},
		{From: timeOf(9), To: timeOf(12)}, // the tie of 9, 10, 11
		{LastHours: 1},
		{LastHours: 2},
		{ActorID: "u2"},
		{Tenant: "globex"},
		{NoTenant: true},
		{NoTenant: true, Kind: activitylog.KindCRUD},
		{RemoteIP: "2001:db8::1"},
		{RemoteIP: "203.0.113.1"},
		{ObjectType: "invoice"},
		{ObjectType: "order", ObjectID: "3"},
		{ObjectID: "1"},
		{StatusMin: 400},
		{StatusMax: 201},
		{StatusMin: 201, StatusMax: 302},
		{StatusMin: 302, StatusMax: 302},
		{Kind: activitylog.KindRequest, Tenant: "acme", StatusMin: 200},
		{Kind: activitylog.KindCRUD, ActorID: "u1", From: timeOf(2)},
		{ObjectType: "order", ObjectID: "0", RemoteIP: "2001:db8::1", LastHours: 2}, // event 16
		{Action: "GET", StatusMax: 299, To: timeOf(20), Search: "EVENT 1"},
		// The field filters: request method, exact status, severity,
		// category, request origin, tool; alone, with a kind and
		// combined.
		{Method: "GET"},
		{Method: "delete"}, // Normalize upper-cases it
		{Method: "PUT", Kind: activitylog.KindRequest},
		{Status: 404},
		{Status: 200, Kind: activitylog.KindRequest},
		{Status: 500, StatusMin: 400},
		{Severity: activitylog.SeverityWarning},
		{Severity: activitylog.SeverityInfo, Tenant: "acme"},
		{Category: "billing & tax"},
		{Category: "orders", Kind: activitylog.KindAuth},
		{Origin: "https://partner.example"},
		{Origin: "null", Kind: activitylog.KindCRUD},
		{Tool: "cli"},
		{Tool: "job", ActorID: "u3"},
		{Method: "POST", Origin: "https://shop.test", Tool: "cli"}, // events 3 and 15
		{Kind: activitylog.KindRequest, Method: "GET", Status: 200, Origin: "https://shop.test", LastHours: 3},
		{Severity: activitylog.SeverityNotice, Category: "orders", Tool: "job", Search: "event"},
	} {
		n := check(t, s, es, f)
		if n == 0 || n == len(es) {
			t.Errorf("the suite's filter %+v selects %d of %d events; it tests nothing", f, n, len(es))
		}
	}
	// Filters that match nothing, and the zero filter.
	check(t, s, es, activitylog.Filter{ActorID: "nobody"})
	check(t, s, es, activitylog.Filter{Kind: activitylog.KindExport})
	check(t, s, es, activitylog.Filter{From: timeOf(30)})
	check(t, s, es, activitylog.Filter{Method: "PATCH"})
	check(t, s, es, activitylog.Filter{Method: "get", Origin: "https://shop.test/"}) // origins match exactly
	check(t, s, es, activitylog.Filter{Status: 200, StatusMin: 300})
	check(t, s, es, activitylog.Filter{Severity: activitylog.SeverityCritical})
	check(t, s, es, activitylog.Filter{Category: "Orders"}) // exact, case included
	check(t, s, es, activitylog.Filter{Tool: "web", Kind: activitylog.KindExport})
	if n := check(t, s, es, activitylog.Filter{}); n != len(es) {
		t.Errorf("the zero filter selects %d of %d events", n, len(es))
	}
}

// testSearch checks what Search looks at, case folding, and that %, _
// and \ match themselves.
func testSearch(t *testing.T, s activitylog.Store) {
	es := Fixture(12)
	now := time.Now().UTC()
	odd := func(msg, path, repr, name string) activitylog.Event {
		return activitylog.Event{ID: activitylog.NewID(now), Time: now, Kind: activitylog.KindSystem, Action: "error",
			Severity: activitylog.SeverityError, Message: msg, Request: activitylog.Request{Path: path},
			Object: activitylog.Object{Repr: repr}, Actor: activitylog.Actor{Name: name}}
	}
	es = append(es,
		odd("100% done_now", "", "", ""),
		odd("1000 done-now", "", "", ""),
		odd(`path C:\temp\x`, "", "", ""),
		odd("", "/Reports/Q3_2026", "", ""),
		odd("", "", "Invoice 'A-17'", ""),
		odd("", "", "", "Zoë Müller"),
	)
	write(t, s, es)
	for _, c := range []struct {
		search string
		want   []string // the messages, paths, reprs or names it finds; nil: as the reference says, at least one
	}{
		{"event 1", nil},     // message
		{"EVENT 1", nil},     // ASCII letters fold
		{"/invoices/3", nil}, // request path
		{"ORDER #2", nil},    // object repr
		{"user 3", nil},      // actor name
		{"%", []string{"100% done_now"}},
		{"0% d", []string{"100% done_now"}}, // % is not a wildcard: not "1000 d…"
		{"_", []string{"100% done_now", "/Reports/Q3_2026"}},
		{"e_n", []string{"100% done_now"}}, // _ is not a wildcard: not "done-now"
		{"% done", []string{"100% done_now"}},
		{`\`, []string{`path C:\temp\x`}},
		{`c:\TEMP\`, []string{`path C:\temp\x`}},
		{"q3_2026", []string{"/Reports/Q3_2026"}},
		{"'a-17'", []string{"Invoice 'A-17'"}},
		{"zoë", []string{"Zoë Müller"}},
		{"müller", []string{"Zoë Müller"}},
		{"done", []string{"100% done_now", "1000 done-now"}},
		{"shop.test", []string{}},        // the host is not searched,
		{"mozilla", []string{}},          // nor the user agent,
		{"@example.test", []string{}},    // the email,
		{"req-1", []string{}},            // the request id,
		{"application/json", []string{}}, // headers,
		{"globex", []string{}},           // the tenant,
		{"203.0.113", []string{}},        // the client IP,
		{"web", []string{}},              // or the tool
		{"event 1 order", []string{}},    // the whole string, not its words
	} {
		f := activitylog.Filter{Search: c.search}
		n := check(t, s, es, f)
		if c.want == nil {
			if n == 0 {
				t.Errorf("the suite's search %q finds nothing; it tests nothing", c.search)
			}
			continue
		}
		var found []string
		for _, e := range want(t, es, f) {
			for _, v := range []string{e.Message, e.Request.Path, e.Object.Repr, e.Actor.Name} {
				if v != "" {
					found = append(found, v)
					break
				}
			}
		}
		slices.Sort(found)
		slices.Sort(c.want)
		if !slices.Equal(found, c.want) {
			t.Errorf("the suite's reference search for %q finds %q, want %q", c.search, found, c.want)
		}
	}
}

// testOrderings walks every ordering in both directions.
func testOrderings(t *testing.T, s activitylog.Store) {
	es := Fixture(20)
	write(t, s, es)
	for _, field := range activitylog.Orderings {
		for _, ordering := range []string{field, "-" + field} {
			w := want(t, es, activitylog.Filter{Ordering: ordering})
			if got := all(t, s, activitylog.Filter{Ordering: ordering}); !slices.Equal(ids(got), ids(w)) {
				t.Errorf("ordering %s:\n got %v\nwant %v", ordering, ids(got), ids(w))
			}
		}
	}
	// The default is -time.
	w := want(t, es, activitylog.Filter{Ordering: "-time"})
	if got := query(t, s, activitylog.Filter{PageSize: 20}); !slices.Equal(ids(got.Events), ids(w)) {
		t.Errorf("default ordering:\n got %v\nwant %v (-time)", ids(got.Events), ids(w))
	}
}

// checkKeyset walks f's pages forward through Next and back through
// Prev, and checks them against the reference.
func checkKeyset(t *testing.T, s activitylog.Store, es []activitylog.Event, f activitylog.Filter) {
	t.Helper()
	w := want(t, es, f)
	pages, last := walk(t, s, f)
	if got := slices.Concat(pages...); !slices.Equal(ids(got), ids(w)) {
		t.Errorf("%+v: walking Next visits\n %v\nwant\n %v", f, ids(got), ids(w))
		return
	}
	if wantPages := max(1, (len(w)+f.PageSize-1)/f.PageSize); len(pages) != wantPages {
		t.Errorf("%+v: %d pages, want %d", f, len(pages), wantPages)
	}
	// Back from the last page: the same pages in reverse.
	p := last
	for i := len(pages) - 2; i >= 0; i-- {
		if p.Prev == "" {
			t.Errorf("%+v: page %d of %d has no Prev cursor", f, i+2, len(pages))
			return
		}
		back := f
		back.Cursor = p.Prev
		p = query(t, s, back)
		if !slices.Equal(ids(p.Events), ids(pages[i])) {
			t.Errorf("%+v: Prev to page %d:\n got %v\nwant %v", f, i+1, ids(p.Events), ids(pages[i]))
		}
		if p.Next == "" {
			t.Errorf("%+v: page %d, reached through Prev, has no Next cursor", f, i+1)
		}
	}
	if len(pages) > 1 && p.Prev != "" {
		t.Errorf("%+v: the first page, reached through Prev, has a Prev cursor", f)
	}
}

// testKeyset walks every ordering in pages of 3 forward and back, and a
// few page sizes.
func testKeyset(t *testing.T, s activitylog.Store) {
	es := Fixture(20)
	write(t, s, es)
	for _, field := range activitylog.Orderings {
		for _, ordering := range []string{field, "-" + field} {
			checkKeyset(t, s, es, activitylog.Filter{Ordering: ordering, PageSize: 3})
		}
	}
	checkKeyset(t, s, es, activitylog.Filter{PageSize: 1})
	checkKeyset(t, s, es, activitylog.Filter{PageSize: 20}) // exactly one page
	checkKeyset(t, s, es, activitylog.Filter{PageSize: 5})  // the last page full
	checkKeyset(t, s, es, activitylog.Filter{PageSize: 1000})
}

// testKeysetFiltered walks pages of filtered queries forward and back.
func testKeysetFiltered(t *testing.T, s activitylog.Store) {
	es := Fixture(24)
	write(t, s, es)
	for _, f := range []activitylog.Filter{
		{Kind: activitylog.KindRequest, PageSize: 2},
		{Tenant: "acme", Ordering: "status", PageSize: 2},
		{ActorID: "u1", Ordering: "-duration", PageSize: 2},
		{StatusMin: 300, Ordering: "kind", PageSize: 3},
		{From: timeOf(4), To: timeOf(20), Ordering: "time", PageSize: 4},
		{Search: "event 1", Ordering: "-action", PageSize: 2},
		{Method: "GET", Ordering: "-status", PageSize: 2},
		{Kind: activitylog.KindRequest, Tool: "web", PageSize: 1},
		{ActorID: "nobody", PageSize: 2},
	} {
		checkKeyset(t, s, es, f)
	}
}

// testKeysetStable writes a newer event between two pages.
func testKeysetStable(t *testing.T, s activitylog.Store) {
	es := Fixture(12)
	write(t, s, es)
	f := activitylog.Filter{PageSize: 4}
	p1 := query(t, s, f)
	// Newer events arrive between the pages; the cursor still leads on
	// from where page 1 ended.
	later := NewEvent(100)
	write(t, s, []activitylog.Event{later})
	f.Cursor = p1.Next
	p2 := query(t, s, f)
	w := want(t, es, activitylog.Filter{})
	if !slices.Equal(ids(p2.Events), ids(w[4:8])) {
		t.Errorf("page 2 after a new event:\n got %v\nwant %v", ids(p2.Events), ids(w[4:8]))
	}
}

// testOffset pages by number, and follows each page's cursors.
func testOffset(t *testing.T, s activitylog.Store) {
	es := Fixture(10)
	write(t, s, es)
	for _, f := range []activitylog.Filter{{}, {Ordering: "status"}, {Kind: activitylog.KindRequest}} {
		w := want(t, es, f)
		for page := 1; page <= 5; page++ {
			f := f
			f.Page, f.PageSize = page, 3
			p := query(t, s, f)
			lo, hi := min((page-1)*3, len(w)), min(page*3, len(w))
			if !slices.Equal(ids(p.Events), ids(w[lo:hi])) {
				t.Errorf("%+v:\n got %v\nwant %v", f, ids(p.Events), ids(w[lo:hi]))
			}
			if more := hi < len(w); (p.Next != "") != more {
				t.Errorf("%+v: Next %q, want one: %v", f, p.Next, more)
			}
			if page == 1 && p.Prev != "" {
				t.Errorf("%+v: the first page has a Prev cursor", f)
			}
			if page > 1 && lo < len(w) && p.Prev == "" {
				t.Errorf("%+v: no Prev cursor", f)
			}
			// The cursors lead to the neighbouring pages.
			if p.Next != "" {
				g := f
				g.Page, g.Cursor = 0, p.Next
				if got := query(t, s, g); !slices.Equal(ids(got.Events), ids(w[hi:min(hi+3, len(w))])) {
					t.Errorf("%+v: Next leads to %v, want %v", f, ids(got.Events), ids(w[hi:min(hi+3, len(w))]))
				}
			}
			if p.Prev != "" {
				g := f
				g.Page, g.Cursor = 0, p.Prev
				if got := query(t, s, g); !slices.Equal(ids(got.Events), ids(w[lo-3:lo])) {
					t.Errorf("%+v: Prev leads to %v, want %v", f, ids(got.Events), ids(w[lo-3:lo]))
				}
			}
		}
	}
	p := query(t, s, activitylog.Filter{Page: 100, PageSize: 3})
	if len(p.Events) != 0 || p.Next != "" {
		t.Errorf("a page past the end: %d events, Next %q; want none and \"\"", len(p.Events), p.Next)
	}
}

// testCountPaging counts with paging fields set.
func testCountPaging(t *testing.T, s activitylog.Store) {
	es := Fixture(10)
	write(t, s, es)
	p := query(t, s, activitylog.Filter{PageSize: 3})
	for _, f := range []activitylog.Filter{
		{PageSize: 3},
		{PageSize: 3, Page: 2},
		{Page: 50},
		{PageSize: 3, Cursor: p.Next},
		{Ordering: "status"},
	} {
		if n := count(t, s, f); n != int64(len(es)) {
			t.Errorf("Count(%+v) = %d, want %d: paging must not matter", f, n, len(es))
		}
	}
	f := activitylog.Filter{Kind: activitylog.KindCRUD, PageSize: 1, Page: 2}
	if n, w := count(t, s, f), len(want(t, es, f)); n != int64(w) {
		t.Errorf("Count(%+v) = %d, want %d", f, n, w)
	}
}

// testBadFilters checks that Query and Count refuse every filter that
// Normalize refuses, with its FieldError, and change nothing.
func testBadFilters(t *testing.T, s activitylog.Store) {
	es := Fixture(5)
	write(t, s, es)
	long := strings.Repeat("x", 1025)
	timeCursor := query(t, s, activitylog.Filter{Ordering: "time", PageSize: 2}).Next
	for _, c := range []struct {
		field string // the parameter the error must name
		f     activitylog.Filter
	}{
		{"kind", activitylog.Filter{Kind: "nope"}},
		{"last_hours", activitylog.Filter{LastHours: -1}},
		{"last_hours", activitylog.Filter{LastHours: 1, From: timeOf(1)}},
		{"date_from", activitylog.Filter{From: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"date_to", activitylog.Filter{To: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"date_to", activitylog.Filter{From: timeOf(2), To: timeOf(2)}},
		{"remote_ip", activitylog.Filter{RemoteIP: "not-an-ip"}},
		{"status_gte", activitylog.Filter{StatusMin: 99}},
		{"status_lte", activitylog.Filter{StatusMax: 600}},
		{"status_lte", activitylog.Filter{StatusMin: 500, StatusMax: 400}},
		{"search", activitylog.Filter{Search: strings.Repeat("a", 257)}},
		{"action", activitylog.Filter{Action: long}},
		{"user_id", activitylog.Filter{ActorID: long}},
		{"tenant", activitylog.Filter{Tenant: long}},
		{"tenant", activitylog.Filter{Tenant: "acme", NoTenant: true}},
		{"object_type", activitylog.Filter{ObjectType: long}},
		{"object_id", activitylog.Filter{ObjectID: long}},
		{"method", activitylog.Filter{Method: long}},
		{"method", activitylog.Filter{Method: "GET /orders"}},
		{"method", activitylog.Filter{Method: "GET\n"}},
		{"status", activitylog.Filter{Status: 99}},
		{"status", activitylog.Filter{Status: 600}},
		{"severity", activitylog.Filter{Severity: "fatal"}},
		{"severity", activitylog.Filter{Severity: "Error"}},
		{"category", activitylog.Filter{Category: long}},
		{"origin", activitylog.Filter{Origin: long}},
		{"tool", activitylog.Filter{Tool: long}},
		{"ordering", activitylog.Filter{Ordering: "password"}},
		{"ordering", activitylog.Filter{Ordering: "-"}},
		{"ordering", activitylog.Filter{Ordering: "time; DROP TABLE events"}},
		{"page_size", activitylog.Filter{PageSize: 1001}},
		{"page_size", activitylog.Filter{PageSize: -1}},
		{"page", activitylog.Filter{Page: -1}},
		{"page", activitylog.Filter{Page: 1_000_001}},
		{"cursor", activitylog.Filter{Cursor: "not-a-cursor"}},
		{"cursor", activitylog.Filter{Cursor: "e30"}}, // {}
		{"cursor", activitylog.Filter{Cursor: timeCursor, Page: 2}},
		{"cursor", activitylog.Filter{Cursor: timeCursor}}, // made for "time", used with "-time"
	} {
		_, nerr := c.f.Normalize(time.Now())
		var nfe *activitylog.FieldError
		if !errors.As(nerr, &nfe) || nfe.Field != c.field {
			t.Fatalf("the suite is out of date: Normalize(%+v) = %v, want a FieldError for %s", c.f, nerr, c.field)
		}
		_, qerr := s.Query(ctx, c.f)
		_, cerr := s.Count(ctx, c.f)
		for name, err := range map[string]error{"Query": qerr, "Count": cerr} {
			var fe *activitylog.FieldError
			if !errors.As(err, &fe) || *fe != *nfe || !errors.Is(err, activitylog.ErrInvalid) {
				t.Errorf("%s(%+v) = %v, want the FieldError %v", name, c.f, err, nfe)
			}
		}
	}
	if n := count(t, s, activitylog.Filter{}); n != int64(len(es)) {
		t.Errorf("after bad filters the store has %d events, want %d", n, len(es))
	}
	for i := range es {
		if got, err := s.Get(ctx, es[i].ID); err != nil || !equalEvent(got, es[i]) {
			t.Errorf("after bad filters event %s changed: %v", es[i].ID, err)
		}
	}
}
