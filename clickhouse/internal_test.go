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

// TestColumnsRoundTrip checks that the columns Write fills, the data
// column's document (appendRest) and the others, give each event back
// as Query reads it (eventRow.event), without a server.
func TestColumnsRoundTrip(t *testing.T) {
	now := time.Now()
	var es []activitylog.Event
	for i := range 30 {
		es = append(es, storetest.NewEvent(i), storetest.AnalyticsEvent(i), storetest.TrailEvent(i*37, now))
	}
	es = append(es, activitylog.Event{ID: activitylog.NewID(now), Time: now, Kind: "custom", Action: "x",
		Severity: "debug", Message: "\x00\xff<&>\u2028", Request: activitylog.Request{Geo: activitylog.Geo{Lat: -0.0}}})
	b := &batch{seen: map[activitylog.ID]struct{}{}}
	if err := b.collect(es); err != nil {
		t.Fatal(err)
	}
	if err := b.encode(); err != nil {
		t.Fatal(err)
	}
	b.fill(nil)
	if len(b.dataCol) != len(es) {
		t.Fatalf("%d rows, want %d", len(b.dataCol), len(es))
	}
	for i := range es {
		r := eventRow{id: string(b.idCol[i]), time: b.timeCol[i], kind: b.strCols[0][i], tenant: b.strCols[1][i],
			action: b.strCols[2][i], actorID: b.strCols[3][i], objectType: b.strCols[4][i], status: b.status[i],
			duration: b.duration[i], attrs: b.attrs[i], data: []byte(b.dataCol[i])}
		got, err := r.event()
		if err != nil {
			t.Fatalf("event %d: %v (data %s)", i, err, r.data)
		}
		e := es[i]
		e.Time = e.Time.UTC()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(e)
		if string(g) != string(w) {
			t.Errorf("event %d:\n got %s\nwant %s\ndata %s", i, g, w, r.data)
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
