package mongo_test

import (
	"errors"
	"slices"
	"testing"

	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/mongo"
	"github.com/activitylog/activitylog/storetest"
)

// rawDatabase returns db on the test server through the driver alone,
// dropped when t ends.
func rawDatabase(t *testing.T, uri, db string) *mongodriver.Database {
	t.Helper()
	client, err := mongodriver.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Database(db).Drop(ctx)
		client.Disconnect(ctx)
	})
	return client.Database(db)
}

// collections returns the names of db's collections.
func collections(t *testing.T, db *mongodriver.Database) []string {
	t.Helper()
	names, err := db.ListCollectionNames(ctx, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// wantFieldError fails t unless err is an *activitylog.FieldError for
// field and value.
func wantFieldError(t *testing.T, what string, err error, field, value string) {
	t.Helper()
	fe, ok := errors.AsType[*activitylog.FieldError](err)
	if !ok || !errors.Is(err, activitylog.ErrInvalid) || fe.Field != field || fe.Value != value {
		t.Fatalf("%s = %v, want a *FieldError for %s %q", what, err, field, value)
	}
}

// TestOpenReadOnlyEmpty: ReadOnly on a database without the events
// collection is refused naming the database, and creates nothing.
func TestOpenReadOnlyEmpty(t *testing.T) {
	uri := serverURI(t)
	db := randomName()
	raw := rawDatabase(t, uri, db)
	s, err := mongo.Open(ctx, uri, &mongo.Options{Database: db, ReadOnly: true})
	if err == nil {
		s.Close()
	}
	wantFieldError(t, "ReadOnly Open of an empty database", err, "database", db)
	if names := collections(t, raw); len(names) != 0 {
		t.Fatalf("ReadOnly Open made collections %v in %s", names, db)
	}
}

// TestOpenReadOnly: ReadOnly on a store's database reads, creates no
// index that is missing, and refuses every write naming read_only.
func TestOpenReadOnly(t *testing.T) {
	uri := serverURI(t)
	db := randomName()
	raw := rawDatabase(t, uri, db)
	w, err := mongo.Open(ctx, uri, &mongo.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(5)
	if err := w.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	w.Close()
	dropped := mongo.Indexes[1].Name
	if err := raw.Collection(mongo.DefaultCollection).Indexes().DropOne(ctx, dropped); err != nil {
		t.Fatalf("drop index %s: %v", dropped, err)
	}
	before := collections(t, raw)

	r, err := mongo.Open(ctx, uri, &mongo.Options{Database: db, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if names, err := r.IndexNames(ctx); err != nil || slices.Contains(names, dropped) {
		t.Fatalf("after a ReadOnly Open the indexes are %v, %v; want %s still missing", names, err, dropped)
	}
	if n, err := r.Count(ctx, activitylog.Filter{}); err != nil || n != 5 {
		t.Fatalf("Count = %d, %v; want 5", n, err)
	}
	if p, err := r.Query(ctx, activitylog.Filter{}); err != nil || len(p.Events) != 5 {
		t.Fatalf("Query = %d events, %v; want 5", len(p.Events), err)
	}
	if got, err := r.Get(ctx, es[2].ID); err != nil || got.ID != es[2].ID {
		t.Fatalf("Get = %v, %v", got.ID, err)
	}
	wantFieldError(t, "Write through a read-only store", r.Write(ctx, storetest.Fixture(1)), "read_only", "true")
	wantFieldError(t, "Resolve through a read-only store",
		r.Resolve(ctx, activitylog.Resolution{EventID: es[0].ID, ResolvedBy: "auditor"}), "read_only", "true")
	wantFieldError(t, "Drop through a read-only store", r.Drop(ctx), "read_only", "true")
	if n, err := r.Count(ctx, activitylog.Filter{}); err != nil || n != 5 {
		t.Fatalf("Count after the refused writes = %d, %v; want 5", n, err)
	}
	if after := collections(t, raw); !slices.Equal(before, after) {
		t.Fatalf("collections %v became %v", before, after)
	}
}
