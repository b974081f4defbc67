package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/storetest"
)

// TestQueryPlans holds the queries to the indexes the migration made
// for them: a filter with an index of its own searches it, and every
// time-ordered query reads in time order and stops at the LIMIT (at
// most a sort of the rows that share one timestamp, for the id
// tiebreak), never sorting the whole match.
func TestQueryPlans(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "plans.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	es := make([]activitylog.Event, 600)
	for i := range es {
		es[i] = storetest.NewEvent(i)
	}
	if err := s.Write(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	timeCursor := activitylog.EncodeCursor(activitylog.Cursor{Ordering: "-time", Int: es[9].Time.UnixNano(), ID: es[9].ID})
	beforeCursor := activitylog.EncodeCursor(activitylog.Cursor{Ordering: "-time", Before: true, Int: es[9].Time.UnixNano(), ID: es[9].ID})
	const partialSort = "USE TEMP B-TREE FOR LAST TERM OF ORDER BY"
	for _, c := range []struct {
		f    activitylog.Filter
		want string // the plan's first step
	}{
		{activitylog.Filter{}, "SCAN events USING INDEX events_time"},
		{activitylog.Filter{Ordering: "time"}, "SCAN events USING INDEX events_time"},
		{activitylog.Filter{Cursor: timeCursor}, "SEARCH events USING INDEX events_time (time<?)"},
		{activitylog.Filter{Cursor: beforeCursor}, "SEARCH events USING INDEX events_time (time>?)"},
		{activitylog.Filter{LastHours: 1}, "SEARCH events USING INDEX events_time (time>?)"},
		{activitylog.Filter{From: es[3].Time, To: es[90].Time}, "SEARCH events USING INDEX events_time (time>? AND time<?)"},
		{activitylog.Filter{Kind: activitylog.KindAuth}, "SEARCH events USING INDEX events_kind_time (kind=?)"},
		{activitylog.Filter{Kind: activitylog.KindAuth, Cursor: timeCursor}, "SEARCH events USING INDEX events_kind_time (kind=? AND time<?)"},
		{activitylog.Filter{Kind: activitylog.KindAuth, LastHours: 1}, "SEARCH events USING INDEX events_kind_time (kind=? AND time>?)"},
		{activitylog.Filter{ActorID: "u1"}, "SEARCH events USING INDEX events_actor_time (actor_id=?)"},
		{activitylog.Filter{ActorID: "u1", Kind: activitylog.KindCRUD}, "SEARCH events USING INDEX events_actor_time (actor_id=?)"},
		{activitylog.Filter{ActorID: "u1", Cursor: timeCursor}, "SEARCH events USING INDEX events_actor_time (actor_id=? AND time<?)"},
		{activitylog.Filter{Tenant: "acme"}, "SEARCH events USING INDEX events_tenant_time (tenant=?)"},
		{activitylog.Filter{RemoteIP: "10.0.0.1"}, "SEARCH events USING INDEX events_ip_time (remote_ip=?)"},
		{activitylog.Filter{ObjectType: "order", ObjectID: "1"}, "SEARCH events USING INDEX events_object_time (object_type=? AND object_id=?)"},
		// Filters without an index of their own walk the time index.
		{activitylog.Filter{Action: "login"}, "SCAN events USING INDEX events_time"},
		{activitylog.Filter{ObjectID: "1"}, "SCAN events USING INDEX events_time"},
		{activitylog.Filter{StatusMin: 500}, "SCAN events USING INDEX events_time"},
		{activitylog.Filter{Search: "order"}, "SCAN events USING INDEX events_time"},
		{activitylog.Filter{Page: 3}, "SCAN events USING INDEX events_time"},
		// The field filters (0003) have no index: alone they walk the
		// time index, with a kind the kind's.
		{activitylog.Filter{Method: "GET"}, "SCAN events USING INDEX events_time"},
		{activitylog.Filter{Status: 500}, "SCAN events USING INDEX events_time"},
		{activitylog.Filter{Severity: activitylog.SeverityCritical}, "SCAN events USING INDEX events_time"},
		{activitylog.Filter{Category: "orders"}, "SCAN events USING INDEX events_time"},
		{activitylog.Filter{Origin: "https://shop.test"}, "SCAN events USING INDEX events_time"},
		{activitylog.Filter{Tool: "cli"}, "SCAN events USING INDEX events_time"},
		{activitylog.Filter{Kind: activitylog.KindRequest, Method: "POST", Status: 500}, "SEARCH events USING INDEX events_kind_time (kind=?)"},
		{activitylog.Filter{Kind: activitylog.KindRequest, StatusMin: 500}, "SEARCH events USING INDEX events_kind_time (kind=?)"},
		{activitylog.Filter{Kind: activitylog.KindCORS, Origin: "null", Cursor: timeCursor}, "SEARCH events USING INDEX events_kind_time (kind=? AND time<?)"},
		{activitylog.Filter{Kind: activitylog.KindSystem, Severity: activitylog.SeverityCritical, Category: "panic"}, "SEARCH events USING INDEX events_kind_time (kind=?)"},
		{activitylog.Filter{Kind: activitylog.KindExternal, Tool: "grpc", LastHours: 1}, "SEARCH events USING INDEX events_kind_time (kind=? AND time>?)"},
		{activitylog.Filter{Kind: activitylog.KindRequest, ActorID: "u1", Method: "GET"}, "SEARCH events USING INDEX events_actor_time (actor_id=?)"},
		{activitylog.Filter{Kind: activitylog.KindCRUD, Tenant: "acme", Tool: "web"}, "SEARCH events USING INDEX events_tenant_time (tenant=?)"},
	} {
		f, err := c.f.Normalize(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var cur activitylog.Cursor
		if f.Cursor != "" {
			cur, _ = activitylog.DecodeCursor(f.Cursor)
		}
		sqlText, args := selectPage(f, cur)
		plan := explain(t, s, sqlText, args)
		if len(plan) == 0 || plan[0] != c.want {
			t.Errorf("%+v:\n%s\nplan %q, want it to start with %q", c.f, sqlText, plan, c.want)
			continue
		}
		for _, step := range plan[1:] {
			if step != partialSort {
				t.Errorf("%+v: plan %q sorts more than ties", c.f, plan)
			}
		}
	}
}

func explain(t *testing.T, s *Store, sqlText string, args []any) []string {
	t.Helper()
	rows, err := s.r.Query("EXPLAIN QUERY PLAN "+sqlText, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, strings.TrimSpace(detail))
	}
	return plan
}

// TestCountUpToPlans holds CountUpTo's statement to the indexes the
// page of the same filter uses: it reads them, or the table, in a scan
// that the LIMIT stops, and never sorts or builds a temporary table.
func TestCountUpToPlans(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "plans.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Write(context.Background(), storetest.Fixture(100)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    activitylog.Filter
		want string // a step of the plan
	}{
		{activitylog.Filter{}, "SCAN events USING COVERING INDEX"},
		{activitylog.Filter{Kind: activitylog.KindRequest}, "SEARCH events USING COVERING INDEX events_kind_time (kind=?)"},
		{activitylog.Filter{Kind: activitylog.KindRequest, StatusMin: 500}, "SEARCH events USING INDEX events_kind_time (kind=?)"},
		{activitylog.Filter{Kind: activitylog.KindRequest, Method: "POST", Status: 500}, "SEARCH events USING INDEX events_kind_time (kind=?)"},
		{activitylog.Filter{Kind: activitylog.KindSystem, Severity: activitylog.SeverityCritical}, "SEARCH events USING INDEX events_kind_time (kind=?)"},
		{activitylog.Filter{ActorID: "u1"}, "SEARCH events USING COVERING INDEX events_actor_time (actor_id=?)"},
		{activitylog.Filter{Tenant: "acme", Kind: activitylog.KindExternal, Tool: "grpc"}, "SEARCH events USING INDEX events_tenant_time (tenant=?)"},
		{activitylog.Filter{LastHours: 1}, "SEARCH events USING COVERING INDEX events_time (time>?)"},
	} {
		f, err := c.f.Normalize(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		sqlText, args := selectCountUpTo(f, 501)
		plan := explain(t, s, sqlText, args)
		found := false
		for _, step := range plan {
			if strings.HasPrefix(step, c.want) {
				found = true
			}
			if strings.Contains(step, "TEMP B-TREE") || strings.HasPrefix(step, "SCAN events") && !strings.Contains(step, "INDEX") {
				t.Errorf("%+v: plan %q sorts or reads the whole table", c.f, plan)
			}
		}
		if !found {
			t.Errorf("%+v:\n%s\nplan %q, want a step %q", c.f, sqlText, plan, c.want)
		}
	}
}
