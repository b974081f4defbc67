package main

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// TestCleanupEveryStore: cleanup --store URL, with no --db, counts
// (--dry-run) and then deletes the events older than --days in every
// store the CLI opens by URL, ClickHouse and MongoDB included, and
// records its run in that store. Each store case skips, naming its
// variable, when its server is not configured.
func TestCleanupEveryStore(t *testing.T) {
	t.Parallel()
	for _, c := range storeCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u := c.url(t)
			old := time.Now().UTC().AddDate(0, 0, -40)
			var es []activitylog.Event
			for i := range 7 {
				at := old.Add(time.Duration(i) * time.Minute)
				if i >= 5 {
					at = time.Now().UTC().Add(-time.Duration(i) * time.Minute) // recent: kept
				}
				e := activitylog.Event{ID: activitylog.NewID(at), Time: at, Kind: activitylog.KindRequest, Action: "GET",
					Severity: activitylog.SeverityInfo, Actor: activitylog.Actor{ID: "u", Type: activitylog.ActorUser},
					Request: activitylog.Request{Method: "GET", Path: "/x"}}
				if i%2 == 1 {
					e.Kind, e.Action, e.Request = activitylog.KindCRUD, "update", activitylog.Request{}
					e.Object = activitylog.Object{Type: "order", ID: "1"}
				}
				es = append(es, e)
			}
			s := c.open(t, u)
			if err := s.Write(context.Background(), es); err != nil {
				t.Fatal(err)
			}
			s.Close()
			control := filepath.Join(t.TempDir(), "none.db")
			r := runBin(t, nil, "cleanup", "--db", control, "--store", u, "--days", "30", "--dry-run")
			if r.code != 0 || !strings.Contains(r.stdout, "would delete") || !hasCount(r.stdout, "request", 3) ||
				!hasCount(r.stdout, "crud", 2) || !hasCount(r.stdout, "total", 5) {
				t.Fatalf("dry run: exit %d, stdout %q, stderr %q; want 3 request and 2 crud events counted", r.code, r.stdout, r.stderr)
			}
			r = runBin(t, nil, "cleanup", "--db", control, "--store", u, "--days", "30")
			if r.code != 0 || !strings.Contains(r.stdout, "deleted 5 events") {
				t.Fatalf("cleanup: exit %d, stdout %q, stderr %q; want 5 events deleted", r.code, r.stdout, r.stderr)
			}
			s = c.open(t, u)
			defer s.Close()
			for _, tc := range []struct {
				f    activitylog.Filter
				want int64
			}{
				{activitylog.Filter{Kind: activitylog.KindRequest}, 1},
				{activitylog.Filter{Kind: activitylog.KindCRUD}, 1},
				{activitylog.Filter{Kind: activitylog.KindSystem, Category: activitylog.CategoryRetention}, 2}, // the run's records
			} {
				if n, err := s.Count(context.Background(), tc.f); err != nil || n != tc.want {
					t.Errorf("after cleanup: Count(%+v) = %d, %v, want %d", tc.f, n, err, tc.want)
				}
			}
		})
	}
}

// hasCount reports whether out, a table that printByKind wrote, has a
// line naming what with count n.
func hasCount(out, what string, n int) bool {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == what && f[1] == strconv.Itoa(n) {
			return true
		}
	}
	return false
}
