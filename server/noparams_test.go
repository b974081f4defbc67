package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
)

// TestRoutesTakingNoParameters: a route that defines no query parameter
// refuses any, with a 400 naming it and the values sent, in the shape
// of the list's unknown parameter, before anything is read, stored,
// resolved or deleted: the destructive purge and resolve too, where a
// client's ?dry_run=1 would otherwise be ignored and the work done.
func TestRoutesTakingNoParameters(t *testing.T) {
	t.Parallel()
	seed := seedEvents()
	one := "/api/v1/events/" + seed[1].ID.String() // a crud event
	sys := seed[6].ID                              // the system error "disk full"
	unresolved := func(t *testing.T, e *env, _ []byte) {
		t.Helper()
		if r, err := e.store.Resolution(context.Background(), sys); !errors.Is(err, activitylog.ErrNotResolved) {
			t.Errorf("the refused resolve stored %+v (%v)", r, err)
		}
	}
	refused := func(name, method, url, body, field, value string) scenario {
		sc := scenario{name: name, method: method, url: url, body: body, wantStatus: 400,
			wantError:   &wantError{code: "invalid", field: field, value: value},
			wantContent: []string{"which takes none"}}
		if body != "" {
			sc.contentType = jsonCT
		}
		return sc
	}
	for _, sc := range []scenario{
		refused("purge", "POST", "/api/v1/events/purge?dry_run=1", `{"confirm":"purge all"}`, "dry_run", "1"),
		refused("resolve", "POST", "/api/v1/events/"+sys.String()+"/resolve?foo=1", `{"note":"n"}`, "foo", "1"),
		refused("ingest", "POST", "/api/v1/events?foo=1", ev("a"), "foo", "1"),
		refused("ingest, an empty value", "POST", "/api/v1/events?async=", ev("a"), "async", ""),
		refused("one event", "GET", one+"?foo=1", "", "foo", "1"),
		refused("one event of a kind", "GET", "/api/v1/crud-events/"+seed[1].ID.String()+"?foo=1", "", "foo", "1"),
		refused("a filter on one event", "GET", one+"?kind=crud", "", "kind", "crud"),
		refused("a resolution", "GET", "/api/v1/events/"+sys.String()+"/resolution?foo=1", "", "foo", "1"),
		refused("who am I", "GET", "/api/v1/me?foo=1", "", "foo", "1"),
		// The first in name order, the values sent, a name or value
		// that is not UTF-8 as Go escapes.
		refused("the first name", "GET", one+"?zz=1&aa=2", "", "aa", "2"),
		refused("repeated", "GET", one+"?foo=1&foo=2", "", "foo", "1,2"),
		refused("a value not UTF-8", "GET", one+"?foo=%ff", "", "foo", `\xff`),
		refused("a name not UTF-8", "GET", one+"?%ff=1", "", `\xff`, "1"),
		refused("no name", "GET", one+"?=1", "", "(empty name)", "1"),
		// Without parameters they work.
		{name: "one event, no parameter", url: one, wantStatus: 200, wantContent: []string{seed[1].ID.String()}},
		{name: "a bare ?", url: one + "?", wantStatus: 200, wantContent: []string{seed[1].ID.String()}},
		{name: "ingest, no parameter", method: "POST", url: "/api/v1/events", contentType: jsonCT, body: ev("a"), wantStatus: 201, wantStored: 1},
	} {
		sc.seed = seed
		sc.opts = &server.Options{Audit: &exportRecorder{}} // so that purge is offered
		if strings.Contains(sc.url, "/resolve") {
			sc.check = unresolved
		}
		t.Run(sc.name, sc.run)
	}
}
