package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/activitylog/activitylog/storetest"
)

// storeCaseNamed returns the storeCase of that name.
func storeCaseNamed(t *testing.T, name string) storeCase {
	t.Helper()
	for _, c := range storeCases {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no store case %s", name)
	return storeCase{}
}

// dbOf is the database that a store URL's path names.
func dbOf(u string) string {
	_, rest, _ := strings.Cut(u, "://")
	_, db, _ := strings.Cut(rest, "/")
	db, _, _ = strings.Cut(db, "?")
	return db
}

// clickhouseTables returns the tables of the database that u names.
func clickhouseTables(t *testing.T, u string) []string {
	t.Helper()
	opts, err := ch.ParseDSN(u)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ch.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(context.Background(), "SELECT name FROM system.tables WHERE database = ?", dbOf(u))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}

// mongoCollections returns the collections of the database that u
// names.
func mongoCollections(t *testing.T, u string) []string {
	t.Helper()
	client, err := mongodriver.Connect(options.Client().ApplyURI(u))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	names, err := client.Database(dbOf(u)).ListCollectionNames(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// dryRunsMakeNothing runs cleanup --dry-run and purge --dry-run with
// --store u on a database that holds no trail: each is refused naming
// the database, and made list shows that nothing was created in it.
// Then, once a store has been opened there (and its schema made),
// the dry runs open it read only, count, and make nothing more.
func dryRunsMakeNothing(t *testing.T, c storeCase, made func(t *testing.T, u string) []string) {
	u := c.url(t)
	runs := [][]string{
		{"cleanup", "--days", "30", "--dry-run"},
		{"purge", "--all", "--dry-run"},
	}
	for _, args := range runs {
		args = append(args, "--db", filepath.Join(t.TempDir(), "none.db"), "--store", u)
		r := runBin(t, nil, args...)
		if r.code == 0 || !strings.Contains(r.stderr, `invalid database "`+dbOf(u)+`"`) {
			t.Errorf("%v on an empty database: %+v; want a refusal naming the database", args, r)
		}
		if names := made(t, u); len(names) != 0 {
			t.Fatalf("%v made %v in %s", args, names, dbOf(u))
		}
	}
	s := c.open(t, u)
	if err := s.Write(context.Background(), storetest.Fixture(3)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	before := slices.Sorted(slices.Values(made(t, u)))
	for _, args := range runs {
		args = append(args, "--db", filepath.Join(t.TempDir(), "none.db"), "--store", u)
		if r := runBin(t, nil, args...); r.code != 0 || !strings.Contains(r.stdout, "would delete") {
			t.Errorf("%v on a store's database: %+v; want it opened read only and counted", args, r)
		}
	}
	if after := slices.Sorted(slices.Values(made(t, u))); !slices.Equal(after, before) {
		t.Errorf("the dry runs changed %s from %v to %v", dbOf(u), before, after)
	}
}

// TestDryRunClickHouseReadOnly: a dry run with --store clickhouse://…
// creates no table in the database it reads.
func TestDryRunClickHouseReadOnly(t *testing.T) {
	dryRunsMakeNothing(t, storeCaseNamed(t, "clickhouse"), clickhouseTables)
}

// TestDryRunMongoReadOnly: a dry run with --store mongodb://… creates
// no collection or index in the database it reads.
func TestDryRunMongoReadOnly(t *testing.T) {
	dryRunsMakeNothing(t, storeCaseNamed(t, "mongodb"), mongoCollections)
}
