package clickhouse

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/storetest"
)

// TestAttrs holds the elements Write puts in attrs to the a* constants
// that the queries read them by.
func TestAttrs(t *testing.T) {
	e := storetest.NewEvent(1)
	e.Extra["username"] = "ann"
	b := &batch{seen: map[activitylog.ID]struct{}{}}
	if err := b.collect([]activitylog.Event{e}); err != nil {
		t.Fatal(err)
	}
	if err := b.encode(); err != nil {
		t.Fatal(err)
	}
	b.fill(nil)
	if len(b.attrs) != 1 || len(b.attrs[0]) != numAttrs {
		t.Fatalf("attrs = %q, want one row of %d", b.attrs, numAttrs)
	}
	for i, want := range map[int]string{
		aSeverity: string(e.Severity), aObjectID: e.Object.ID, aRemoteIP: e.Request.RemoteIP, aMethod: e.Request.Method,
		aOrigin: e.Request.Origin, aCategory: e.Category, aTool: e.Tool, aRoute: e.Request.Route,
		aCountryCode: e.Request.Geo.CountryCode, aCountry: e.Request.Geo.Country, aUsername: "ann",
		aActorName: e.Actor.Name, aMessage: e.Message, aPath: e.Request.Path, aObjectRepr: e.Object.Repr,
	} {
		if got := b.attrs[0][i-1]; got != want {
			t.Errorf("%s = %q, want %q", attr(i), got, want)
		}
	}
	if cols := b.columns(); len(cols) != 11 {
		t.Errorf("%d columns, want the 11 of eventColumns", len(cols))
	}
}

// TestEncodeMatchesJSON holds the data column's documents to what
// encoding/json makes of the same events.
func TestEncodeMatchesJSON(t *testing.T) {
	var es []activitylog.Event
	for i := range 30 {
		es = append(es, storetest.NewEvent(i), storetest.AnalyticsEvent(i), storetest.TrailEvent(i*37, time.Now()))
	}
	es = append(es, activitylog.Event{ID: activitylog.NewID(time.Now()), Time: time.Now(), Kind: "custom", Action: "x",
		Severity: "debug", Message: "\x00\xff<&>\u2028", Request: activitylog.Request{Geo: activitylog.Geo{Lat: -0.0}}})
	for _, e := range es {
		got, err := appendEvent(nil, &e)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("appendEvent:\n got %s\nwant %s", got, want)
		}
	}
}

// TestTimeRanges checks that the ranges cover every time, in order,
// and cut at the widest gaps.
func TestTimeRanges(t *testing.T) {
	var times []int64
	for i := range 100 {
		times = append(times, int64(i)*1000)
	}
	times = append(times, 1e15)
	rs := timeRanges(times)
	if len(rs) != maxRanges {
		t.Fatalf("%d ranges, want %d", len(rs), maxRanges)
	}
	if last := rs[len(rs)-1]; last != [2]int64{1e15, 1e15} {
		t.Errorf("the far time is not a range of its own: %v", last)
	}
	for _, x := range times {
		in := 0
		for _, r := range rs {
			if r[0] <= x && x <= r[1] {
				in++
			}
		}
		if in != 1 {
			t.Errorf("time %d is in %d ranges", x, in)
		}
	}
	if got := timeRanges([]int64{5, 5, 5}); len(got) != 1 || got[0] != [2]int64{5, 5} {
		t.Errorf("equal times: %v", got)
	}
}
