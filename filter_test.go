package activitylog_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

func TestFilterNormalizeDefaults(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	f, err := activitylog.Filter{LastHours: 2}.Normalize(now)
	if err != nil {
		t.Fatal(err)
	}
	if f.Ordering != "-time" || f.Page != 1 || f.PageSize != 50 || !f.From.Equal(now.Add(-2*time.Hour)) || f.LastHours != 0 {
		t.Errorf("normalized %+v", f)
	}
	if !f.Descending() || f.Field() != "time" {
		t.Errorf("Descending %v Field %q", f.Descending(), f.Field())
	}
}

func TestFilterNormalizeRefusesBadValues(t *testing.T) {
	t.Parallel()
	now := time.Now()
	cursor := activitylog.EncodeCursor(activitylog.Cursor{Ordering: "status", ID: activitylog.NewID(now)})
	cases := []struct {
		f     activitylog.Filter
		field string
	}{
		{activitylog.Filter{Kind: "nope"}, "kind"},
		{activitylog.Filter{PageSize: 1001}, "page_size"},
		{activitylog.Filter{PageSize: -1}, "page_size"},
		{activitylog.Filter{Page: -2}, "page"},
		{activitylog.Filter{Ordering: "password"}, "ordering"},
		{activitylog.Filter{Ordering: "-"}, "ordering"},
		{activitylog.Filter{RemoteIP: "not-an-ip"}, "remote_ip"},
		{activitylog.Filter{StatusMin: 99}, "status_gte"},
		{activitylog.Filter{StatusMin: 500, StatusMax: 400}, "status_lte"},
		{activitylog.Filter{LastHours: -1}, "last_hours"},
		{activitylog.Filter{LastHours: 1, From: now}, "last_hours"},
		{activitylog.Filter{From: now, To: now.Add(-time.Hour)}, "date_to"},
		{activitylog.Filter{Cursor: "!!!"}, "cursor"},
		{activitylog.Filter{Cursor: "e30"}, "cursor"},  // "{}"
		{activitylog.Filter{Cursor: cursor}, "cursor"}, // made for another ordering
		{activitylog.Filter{Cursor: cursor, Ordering: "status", Page: 2}, "cursor"},
		{activitylog.Filter{Search: string(make([]byte, 257))}, "search"},
		{activitylog.Filter{Status: 99}, "status"},
		{activitylog.Filter{Status: 600}, "status"},
		{activitylog.Filter{Status: -200}, "status"},
		{activitylog.Filter{Severity: "fatal"}, "severity"},
		{activitylog.Filter{Severity: "INFO"}, "severity"},
		{activitylog.Filter{Method: "GET /"}, "method"},
		{activitylog.Filter{Method: "G\x00T"}, "method"},
		{activitylog.Filter{Method: "GÉT"}, "method"},
		{activitylog.Filter{Method: strings.Repeat("X", 1025)}, "method"},
		{activitylog.Filter{Origin: strings.Repeat("x", 1025)}, "origin"},
		{activitylog.Filter{Category: strings.Repeat("x", 1025)}, "category"},
		{activitylog.Filter{Tool: strings.Repeat("x", 1025)}, "tool"},
	}
	for _, c := range cases {
		_, err := c.f.Normalize(now)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("%+v: err %v, want a FieldError", c.f, err)
			continue
		}
		if fe.Field != c.field {
			t.Errorf("%+v: field %q, want %q (%v)", c.f, fe.Field, c.field, err)
		}
	}
}

func TestFilterNormalizeFieldFilters(t *testing.T) {
	t.Parallel()
	in := activitylog.Filter{Method: "get", Status: 404, Severity: activitylog.SeverityError,
		Category: "panic", Origin: "https://shop.example", Tool: "grpc"}
	f, err := in.Normalize(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Method = "GET"
	if f.Method != want.Method || f.Status != want.Status || f.Severity != want.Severity ||
		f.Category != want.Category || f.Origin != want.Origin || f.Tool != want.Tool {
		t.Errorf("normalized %+v, want the field filters of %+v", f, want)
	}
	for _, m := range []string{"PROPFIND", "M-SEARCH", "x!#$%&'*+-.^_`|~9"} {
		if _, err := (activitylog.Filter{Method: m}).Normalize(time.Now()); err != nil {
			t.Errorf("method %q: %v, want it accepted as an HTTP token", m, err)
		}
	}
	_, err = activitylog.Filter{Method: "GET /x"}.Normalize(time.Now())
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) || fe.Field != "method" || fe.Value != "GET /x" {
		t.Errorf("method with a space: %v, want a FieldError naming method and the value", err)
	}
}

func TestFilterMatchFieldFilters(t *testing.T) {
	t.Parallel()
	e := &activitylog.Event{
		Kind: activitylog.KindRequest, Action: "GET", Severity: activitylog.SeverityError,
		Category: "checkout", Tool: "web",
		Request:  activitylog.Request{Method: "GET", Origin: "https://shop.example"},
		Response: activitylog.Response{Status: 503},
	}
	for _, c := range []struct {
		f    activitylog.Filter
		want bool
	}{
		{activitylog.Filter{}, true},
		{activitylog.Filter{Method: "get"}, true}, // normalized to GET
		{activitylog.Filter{Method: "POST"}, false},
		{activitylog.Filter{Status: 503}, true},
		{activitylog.Filter{Status: 500}, false},
		{activitylog.Filter{Status: 503, StatusMin: 500, StatusMax: 599}, true},
		{activitylog.Filter{Status: 503, StatusMax: 502}, false},
		{activitylog.Filter{Severity: activitylog.SeverityError}, true},
		{activitylog.Filter{Severity: activitylog.SeverityCritical}, false},
		{activitylog.Filter{Category: "checkout"}, true},
		{activitylog.Filter{Category: "Checkout"}, false}, // exact, case and all
		{activitylog.Filter{Origin: "https://shop.example"}, true},
		{activitylog.Filter{Origin: "https://shop.example/"}, false},
		{activitylog.Filter{Origin: "null"}, false},
		{activitylog.Filter{Tool: "web"}, true},
		{activitylog.Filter{Tool: "cli"}, false},
		{activitylog.Filter{Method: "GET", Status: 503, Severity: activitylog.SeverityError, Category: "checkout",
			Origin: "https://shop.example", Tool: "web", Kind: activitylog.KindRequest}, true},
		{activitylog.Filter{Method: "GET", Status: 503, Tool: "cli"}, false},
	} {
		f, err := c.f.Normalize(time.Now())
		if err != nil {
			t.Fatalf("%+v: %v", c.f, err)
		}
		if got := f.Match(e); got != c.want {
			t.Errorf("%+v.Match = %v, want %v", c.f, got, c.want)
		}
	}
	// An event without a request or response: a method, origin or status
	// filter never matches it.
	bare := &activitylog.Event{Kind: activitylog.KindCRUD, Action: "update", Severity: activitylog.SeverityInfo}
	for _, f := range []activitylog.Filter{{Method: "GET"}, {Origin: "null"}, {Status: 200}, {Tool: "web"}, {Category: "x"}} {
		if f.Match(bare) {
			t.Errorf("%+v matches an event that has no such field", f)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	c := activitylog.Cursor{Ordering: "-time", Before: true, Int: 12345, ID: activitylog.NewID(time.Now())}
	got, err := activitylog.DecodeCursor(activitylog.EncodeCursor(c))
	if err != nil || got != c {
		t.Fatalf("got %+v %v, want %+v", got, err, c)
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(activitylog.EncodeCursor(activitylog.Cursor{Ordering: "-time", ID: activitylog.NewID(time.Now())}))
	f.Add("e30")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := activitylog.DecodeCursor(s)
		if err != nil {
			var fe *activitylog.FieldError
			if !errors.As(err, &fe) || fe.Field != "cursor" {
				t.Fatalf("error %v is not a cursor FieldError", err)
			}
			return
		}
		if c.ID.IsZero() {
			t.Fatal("accepted a cursor without id")
		}
	})
}

// TestFilterNormalizeLastHoursBeforeMinTime: last hours that reach back
// before MinTime, which no event predates, begin at MinTime rather than
// being refused as a date_from the caller never gave; the bound is
// 876600 hours whatever the date.
func TestFilterNormalizeLastHoursBeforeMinTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		hours int
		want  time.Time
	}{
		{1, now.Add(-time.Hour)},
		{400_000, now.Add(-400_000 * time.Hour)}, // 1980-05-16
		{490_000, now.Add(-490_000 * time.Hour)}, // 1970-02-08
		{491_000, activitylog.MinTime},           // 1969-12-28
		{498_000, activitylog.MinTime},           // 1969-03-12
		{876_600, activitylog.MinTime},           // 1926-01-02
	} {
		f, err := activitylog.Filter{LastHours: c.hours}.Normalize(now)
		if err != nil {
			t.Errorf("last_hours %d: %v, want it accepted", c.hours, err)
			continue
		}
		if !f.From.Equal(c.want) || f.LastHours != 0 {
			t.Errorf("last_hours %d: From %v, LastHours %d; want From %v", c.hours, f.From, f.LastHours, c.want)
		}
	}
	for _, c := range []struct {
		f                   activitylog.Filter
		now                 time.Time
		field, value, words string
	}{
		{activitylog.Filter{LastHours: 876_601}, now, "last_hours", "876601", "between 1 and 876600"},
		{activitylog.Filter{LastHours: 24 * 366 * 100}, now, "last_hours", "878400", "between 1 and 876600"},
		{activitylog.Filter{LastHours: 1}, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), "last_hours", "1", "after 2200"},
		// The error names what the caller gave, and says where From came from.
		{activitylog.Filter{LastHours: 876_600, To: activitylog.MinTime}, now, "date_to", "1970-01-01T00:00:00Z",
			"must be after the start of last_hours=876600, 1970-01-01T00:00:00Z"},
		{activitylog.Filter{LastHours: 1, To: now.Add(-2 * time.Hour)}, now, "date_to", "2026-01-02T01:00:00Z",
			"must be after the start of last_hours=1, 2026-01-02T02:00:00Z"},
	} {
		_, err := c.f.Normalize(c.now)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || fe.Value != c.value || !strings.Contains(fe.Reason, c.words) {
			t.Errorf("%+v at %v: %v; want a FieldError naming %s %q, saying %q", c.f, c.now, err, c.field, c.value, c.words)
		}
	}
	// The start is MinTime: a date_to after it leaves a range to query.
	f, err := activitylog.Filter{LastHours: 876_600, To: activitylog.MinTime.Add(time.Second)}.Normalize(now)
	if err != nil || !f.From.Equal(activitylog.MinTime) {
		t.Errorf("last_hours 876600 with date_to 1970-01-01T00:00:01Z: From %v, %v", f.From, err)
	}
}
