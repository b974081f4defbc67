package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/browser"
)

// An event with its request and response captured and a location shows
// them all; and the list's XLSX export downloads a workbook.
func TestBrowserEventBodiesGeoAndExport(t *testing.T) {
	b := newBrowser(t)
	s := newStack(t, "", false)
	at := time.Now().UTC().Add(-time.Second)
	e := activitylog.Event{ID: activitylog.NewID(at), Time: at, Kind: activitylog.KindRequest, Action: "POST", Severity: activitylog.SeverityInfo,
		Actor: activitylog.Actor{ID: "user-9", Name: "Nine", Type: activitylog.ActorUser},
		Request: activitylog.Request{Method: "POST", Path: "/orders", RemoteIP: "198.51.100.7",
			Headers: map[string]string{"Content-Type": "application/json"}, Body: `{"sku":"A-1","qty":2}`,
			Geo: activitylog.Geo{Country: "Germany", CountryCode: "DE", City: "Berlin", Lat: 52.52, Lon: 13.405}},
		Response: activitylog.Response{Status: 201, Duration: 12 * time.Millisecond, Body: `{"order":"o-77"}`}}
	if err := s.rec.Commit(context.Background(), []activitylog.Event{e}); err != nil {
		t.Fatal(err)
	}
	signIn(t, b, s, "admin", "/events/"+e.ID.String(), "#ev-geo")
	if got := b.Text(t, `[aria-labelledby="ev-geo"]`); !strings.Contains(got, "Germany (DE)") || !strings.Contains(got, "Berlin") || !strings.Contains(got, "52.52, 13.405") {
		t.Errorf("location card %q", got)
	}
	if got := b.Text(t, `pre[aria-labelledby="ev-req-body"]`); !strings.Contains(got, `"sku": "A-1"`) {
		t.Errorf("request body %q, want it indented", got)
	}
	if got := b.Text(t, `pre[aria-labelledby="ev-resp-body"]`); !strings.Contains(got, `"order": "o-77"`) {
		t.Errorf("response body %q", got)
	}
	b.AssertAxe(t)

	// The XLSX link of a filtered list downloads a workbook (a zip) of
	// the filtered events, with the session.
	b.Navigate(t, s.url+"/events?remote_ip=198.51.100.7", `a[data-format="xlsx"]`)
	magic := browser.Eval[string](t, b, `(async () => {
		const r = await fetch(document.querySelector('a[data-format="xlsx"]').href, {credentials: "same-origin"});
		const b = new Uint8Array(await r.arrayBuffer());
		return r.status + " " + r.headers.get("content-type") + " " + String.fromCharCode(b[0], b[1]);
	})()`)
	if magic != "200 application/vnd.openxmlformats-officedocument.spreadsheetml.sheet PK" {
		t.Errorf("XLSX export: %q", magic)
	}
	b.NoErrors(t, expected401...)
}
