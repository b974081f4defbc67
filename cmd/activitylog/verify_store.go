package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/clickhouse"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/internal/config"
	"github.com/activitylog/activitylog/mongo"
	"github.com/activitylog/activitylog/mysql"
	"github.com/activitylog/activitylog/postgres"
	"github.com/activitylog/activitylog/sqlite"
)

// verify and export read the trail where serve and worker write it: the
// event store that the store setting names, else the SQLite database.
// What they need of it is an interface (integrity.Source,
// integrity.BundleSource), found by type assertion, so that a store
// that learns to seal is read with no change here.

// storeTypes holds a nil value of each store's type, by scheme, so that
// a store that keeps no seals is refused before it is dialled: no server
// is contacted to say that clickhouse keeps none. The assertion on the
// opened store decides in the end.
var storeTypes = map[string]activitylog.Store{
	"sqlite":      (*sqlite.Store)(nil),
	"postgres":    (*postgres.Store)(nil),
	"postgresql":  (*postgres.Store)(nil),
	"mysql":       (*mysql.Store)(nil),
	"clickhouse":  (*clickhouse.Store)(nil),
	"mongodb":     (*mongo.Store)(nil),
	"mongodb+srv": (*mongo.Store)(nil),
}

// storeFlagHelp is the help of --store on verify and export.
const storeFlagHelp = "event store `URL` to read instead of the SQLite database, as serve's store setting: " +
	"postgres://…, mysql://…, sqlite://PATH (also ACTIVITYLOG_STORE, or store in the --config file)"

// defineStoreFlag defines --store on fs unless the configuration flags
// bound it already, and returns what reads its value: the flag's, else
// the configured store (ACTIVITYLOG_STORE, the YAML file's store).
func defineStoreFlag(fs *flag.FlagSet) func(c *cli) string {
	if fs.Lookup("store") != nil {
		return func(c *cli) string { return c.cfg.Store }
	}
	v := fs.String("store", "", storeFlagHelp)
	return func(c *cli) string {
		if *v != "" {
			return *v
		}
		return c.cfg.Store
	}
}

// storeScheme is url's scheme, lower case.
func storeScheme(url string) string {
	scheme, _, _ := strings.Cut(url, ":")
	return strings.ToLower(scheme)
}

// schemesWith lists the stores whose type has what has asks for, one
// scheme per store, for messages.
func schemesWith(has func(activitylog.Store) bool) string {
	var out []string
	for _, s := range []string{"sqlite", "postgres", "mysql", "clickhouse", "mongodb"} {
		if has(storeTypes[s]) {
			out = append(out, s)
		}
	}
	switch len(out) {
	case 0:
		return "none"
	case 1:
		return out[0]
	}
	return strings.Join(out[:len(out)-1], ", ") + " or " + out[len(out)-1]
}

func isSource(s activitylog.Store) bool       { _, ok := s.(integrity.Source); return ok }
func isBundleSource(s activitylog.Store) bool { _, ok := s.(integrity.BundleSource); return ok }

// checkSource refuses a store that keeps no seals.
func checkSource(s activitylog.Store, url string) error {
	if isSource(s) {
		return nil
	}
	return usageError("--store %s: this store keeps no integrity seals; seal into %s (docs/sealing.md)",
		config.RedactStore(url), schemesWith(isSource))
}

// openTrail opens the trail that verify and export read: the event store
// at storeURL, or the SQLite database db when storeURL is empty. A store
// that check refuses (with a usage error naming its scheme) is refused
// before it is dialled when its type is known, else once opened. No
// error shows the URL's password.
//
// With readOnly, a server's store is opened as a role with no right but
// SELECT can (readOpeners): nothing migrated, nothing made; on
// PostgreSQL and MySQL every transaction read only, on ClickHouse every
// query readonly=2, on MongoDB writes refused by the store.
func openTrail(ctx context.Context, db, storeURL string, readOnly bool, check func(s activitylog.Store, url string) error) (activitylog.Store, error) {
	if storeURL == "" {
		if err := mustExist(db); err != nil {
			return nil, err
		}
		return sqlite.Open(db, &sqlite.Options{CheckpointInterval: -1})
	}
	shown := config.RedactStore(storeURL)
	if !strings.Contains(storeURL, "://") {
		return nil, usageError("--store %q: must be a URL such as postgres://user@host:5432/db", shown)
	}
	scheme := storeScheme(storeURL)
	t, known := storeTypes[scheme]
	if known {
		if err := check(t, storeURL); err != nil {
			return nil, err
		}
	}
	if scheme == "sqlite" {
		// As the opener does, but never creating the file, and with no
		// background checkpoints.
		p := sqlitePath(storeURL)
		if p == "" || p == ":memory:" {
			return nil, usageError("--store %q: names no database file", shown)
		}
		if err := mustExistAs("--store", p); err != nil {
			return nil, err
		}
		return sqlite.Open(p, &sqlite.Options{CheckpointInterval: -1})
	}
	if _, ok := openers[scheme]; !ok {
		names := make([]string, 0, len(openers))
		for n := range openers {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, usageError("--store %s: scheme %q must be one of %s", shown, scheme, strings.Join(names, ", "))
	}
	open := openStore
	if ro, ok := readOpeners[scheme]; ok && readOnly {
		open = func(ctx context.Context, url string) (activitylog.Store, error) {
			s, err := ro(ctx, url)
			if err != nil {
				return nil, fmt.Errorf("open store %s: %w", scheme, err)
			}
			return s, nil
		}
	}
	s, err := open(ctx, storeURL)
	if err != nil {
		return nil, fmt.Errorf("--store %s: %w", shown, err)
	}
	if err := check(s, storeURL); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// sealUnsealer is a store that can seal the events written before
// integrity was on (verify --fix): sqlite.Store today.
type sealUnsealer interface {
	SealUnsealed(ctx context.Context, opts *sqlite.FixOptions) (*sqlite.FixReport, error)
}

func isSealUnsealer(s activitylog.Store) bool { _, ok := s.(sealUnsealer); return ok }

// checkFixable refuses, for verify --fix, a store that keeps no seals or
// cannot seal the events written before integrity was on.
func checkFixable(s activitylog.Store, url string) error {
	if err := checkSource(s, url); err != nil || isSealUnsealer(s) {
		return err
	}
	return usageError("--fix: --store %s: this store cannot seal the events written before integrity was on (%s can); "+
		"verify without --fix, which reports them as missing_hash", config.RedactStore(url), schemesWith(isSealUnsealer))
}

// trailName says what verify and export read, for their messages.
func trailName(db, storeURL string) string {
	if storeURL == "" {
		return db
	}
	return config.RedactStore(storeURL)
}

// checkBundleSource refuses, for export, a store that keeps no seals or
// cannot give a chain's hashes for the proofs.
func checkBundleSource(s activitylog.Store, url string) error {
	if err := checkSource(s, url); err != nil || isBundleSource(s) {
		return err
	}
	return usageError("--store %s: this store keeps seals but cannot give the hashes that proofs need; export from %s",
		config.RedactStore(url), schemesWith(isBundleSource))
}
