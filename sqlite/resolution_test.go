package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
	"github.com/activitylog/activitylog/storetest"
)

// TestResolutionPlans holds the resolution statements to the indexes:
// each looks up one event by id and its resolutions by event id, reads
// no table whole, and sorts nothing.
func TestResolutionPlans(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "plans.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	es := storetest.Fixture(50)
	if err := s.Write(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	for _, e := range es[:20] {
		for range 3 {
			if err := s.Resolve(context.Background(), activitylog.Resolution{EventID: e.ID, ResolvedBy: "ann"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	id := es[3].ID[:]
	for _, c := range []struct {
		name, sql string
		args      []any
		want      []string // the plan's steps, in order
	}{
		{"insert", insertResolution, []any{id, "ann", int64(1), ""}, []string{
			"SEARCH events EXISTS USING COVERING INDEX events_id (id=?)",
		}},
		{"select", selectResolution, []any{id}, []string{
			// No sort: the index ends in seq, read backwards.
			"SEARCH e USING COVERING INDEX events_id (id=?)", "SEARCH r USING INDEX resolutions_event (event_id=?) LEFT-JOIN",
		}},
	} {
		if got := explain(t, s, c.sql, c.args); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: plan %q, want %q", c.name, got, c.want)
		}
	}
}

// TestResolveAfterUpgrade opens a database made before resolutions
// existed: Open applies 0002, the old events can be resolved, and they
// read back unchanged.
func TestResolveAfterUpgrade(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := Open(path, &Options{SkipMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.apply(ctx, ms[0]); err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(5)
	writeSchema1(t, s, es) // Write itself needs the columns of later migrations
	before, err := s.Get(ctx, es[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v < 2 {
		t.Fatalf("SchemaVersion = %d, %v; want at least 2", v, err)
	}
	if _, err := s.Resolution(ctx, es[2].ID); !errors.Is(err, activitylog.ErrNotResolved) {
		t.Fatalf("Resolution of an old event: %v, want ErrNotResolved", err)
	}
	want := activitylog.Resolution{EventID: es[2].ID, ResolvedBy: "ann", ResolvedAt: storetest.Base, Note: "old news"}
	if err := s.Resolve(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Resolution(ctx, es[2].ID); err != nil || got != want {
		t.Errorf("Resolution = %+v, %v; want %+v", got, err, want)
	}
	if after, err := s.Get(ctx, es[2].ID); err != nil || !reflect.DeepEqual(after, before) {
		t.Errorf("the resolved event changed: %v\nbefore %+v\n after %+v", err, before, after)
	}
}

// writeSchema1 stores es as Write did when 0001 was the last migration:
// its columns only.
func writeSchema1(t *testing.T, s *Store, es []activitylog.Event) {
	t.Helper()
	for i := range es {
		e := &es[i]
		data, err := eventjson.Append(nil, e, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.w.Exec(`INSERT INTO events (id, time, kind, action, severity, tenant, actor_id, actor_name,
			object_type, object_id, object_repr, message, path, remote_ip, status, duration, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID[:], e.Time.UnixNano(), string(e.Kind), e.Action, string(e.Severity), e.Tenant, e.Actor.ID, e.Actor.Name,
			e.Object.Type, e.Object.ID, e.Object.Repr, e.Message, e.Request.Path, e.Request.RemoteIP,
			int64(e.Response.Status), int64(e.Response.Duration), data); err != nil {
			t.Fatal(err)
		}
	}
}

func TestResolveClosed(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	id := activitylog.NewID(time.Now())
	_, rerr := s.Resolution(context.Background(), id)
	for name, err := range map[string]error{
		"Resolve":    s.Resolve(context.Background(), activitylog.Resolution{EventID: id, ResolvedBy: "ann"}),
		"Resolution": rerr,
	} {
		if !errors.Is(err, activitylog.ErrUnavailable) {
			t.Errorf("%s after Close: %v, want ErrUnavailable", name, err)
		}
	}
}
