package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/archive"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/retention"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

// Daily retention with archiving over a sealed trail, as serve wires it
// (the sealer's purge, which prunes the chain under a signed record, and
// the archiver of archive_dir): each run archives the day it deletes,
// from the chain that the run before pruned. Every run succeeds, every
// file verifies offline on its own, the trail verifies with the gap the
// records allow, and the files restore every deleted event.
func TestRetentionArchivesSealedTrailDayAfterDay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	pub, priv, err := integrity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// Four days of ten events, each day's batch checkpointed that day.
	day0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var clock time.Time
	w, err := integrity.NewWriter(store, &integrity.WriterOptions{SigningKey: priv, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	kinds := []activitylog.Kind{activitylog.KindCRUD, activitylog.KindAuth, activitylog.KindCustom}
	var all []activitylog.Event
	for d := range 4 {
		var batch []activitylog.Event
		for i := range 10 {
			at := day0.AddDate(0, 0, d).Add(time.Duration(i+1) * time.Hour)
			batch = append(batch, activitylog.Event{ID: activitylog.NewID(at), Time: at, Kind: kinds[i%3], Action: "did",
				Severity: activitylog.SeverityInfo, Message: fmt.Sprintf("day %d event %d", d, i)})
		}
		clock = batch[len(batch)-1].Time.Add(time.Minute)
		if err := w.Write(ctx, batch); err != nil {
			t.Fatal(err)
		}
		all = append(all, batch...)
	}

	s := &sealer{store: store, opts: integrity.WriterOptions{SigningKey: priv}}
	root := filepath.Join(dir, "archive")
	ar, err := archive.New(archive.Dir{Root: root}, store, &archive.Options{PublicKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	repo := store.RetentionPolicies()
	if err := repo.Create(ctx, retention.Policy{ID: retention.NewID(), Name: "all-1d", Kind: retention.AllKinds, RetainDays: 1,
		Active: true, AllTenants: true, Archive: true}); err != nil {
		t.Fatal(err)
	}
	var now time.Time
	var files []string
	audit := &storetest.Collector{}
	runner, err := retention.NewRunner(repo, s.purge, &retention.RunnerOptions{
		Audit: audit, Count: store, Now: func() time.Time { return now },
		Archive: func(ctx context.Context, r activitylog.PurgeRequest) (int64, error) {
			res, err := ar.Archive(ctx, r)
			for _, f := range res.Files {
				files = append(files, f.Name)
			}
			return res.Events, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for d := 2; d <= 4; d++ {
		// At noon on day d the cut is the start of day d-1: day d-2 goes.
		now = day0.AddDate(0, 0, d).Add(12 * time.Hour)
		rep, err := runner.Run(ctx)
		if err != nil || rep.Deleted != 10 {
			t.Fatalf("run on day %d: deleted %d, %v: %+v", d, rep.Deleted, err, rep)
		}
	}
	if n := len(audit.Events()); n < 6 {
		t.Fatalf("%d retention records for 3 runs, want a start and an end each", n)
	}
	if len(files) != 9 {
		t.Fatalf("archive files %q, want one per kind and day, 9", files)
	}
	for _, name := range files {
		b, err := integrity.OpenBundle(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := b.Verify(ctx, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}})
		if err != nil || !rep.OK() || rep.Verified == 0 {
			t.Fatalf("%s verifies as %+v, %v", name, rep, err)
		}
	}
	rep, err := integrity.NewVerifier(store, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}}).Verify(ctx)
	if err != nil || !rep.OK() || rep.Verified != 10 || rep.Chains[0].PrunedTo != 30 {
		t.Fatalf("the trail verifies as %+v, %v", rep, err)
	}
	fresh, err := sqlite.Open(filepath.Join(dir, "restored.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	for _, name := range files {
		if strings.HasSuffix(name, archive.SumSuffix) {
			continue
		}
		if _, err := archive.RestoreFile(ctx, filepath.Join(root, name), fresh, &archive.RestoreOptions{PublicKeys: []ed25519.PublicKey{pub}}); err != nil {
			t.Fatalf("restore %s: %v", name, err)
		}
	}
	for _, e := range all[:30] {
		if _, err := fresh.Get(ctx, e.ID); err != nil {
			t.Fatalf("event %q not restored: %v", e.Message, err)
		}
	}
	if n, _ := fresh.Count(ctx, activitylog.Filter{}); n != 30 {
		t.Fatalf("restored %d events, want 30", n)
	}
}

// cleanup and purge with database_config_keys delete in the tenants'
// databases as serve's retention does: a dry run counts there, a run
// deletes there, and the recent events stay.
func TestCleanupTenantDatabases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db, acmeDB := filepath.Join(dir, "control.db"), filepath.Join(dir, "acme.db")
	k1, err := dbconfig.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	keys := "--database-config-keys=" + k1.String()
	if r := runBin(t, nil, "database-configs", "create", "--db", db, keys, "--name", "acme", "--engine", "sqlite",
		"--database", acmeDB, "--tenant", "acme"); r.code != 0 {
		t.Fatalf("database-configs create: %+v", r)
	}
	// Events in each database: two old and one recent in acme's, one
	// old in the default store.
	old, recent := time.Now().UTC().AddDate(0, 0, -100), time.Now().UTC().Add(-time.Hour)
	ev := func(tenant string, at time.Time, i int) activitylog.Event {
		return activitylog.Event{ID: activitylog.NewID(at), Time: at.Add(time.Duration(i) * time.Millisecond), Kind: activitylog.KindCustom,
			Action: "did", Severity: activitylog.SeverityInfo, Tenant: tenant, Message: fmt.Sprintf("event %d", i)}
	}
	for path, es := range map[string][]activitylog.Event{
		acmeDB: {ev("acme", old, 1), ev("acme", old, 2), ev("acme", recent, 3)},
		db:     {ev("", old, 4)},
	} {
		s, err := sqlite.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(ctx, es); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if r := runBin(t, nil, "cleanup", "--db", db, keys, "--days", "30", "--dry-run", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"count": 3`) {
		t.Fatalf("cleanup --dry-run: %+v", r)
	}
	if r := runBin(t, nil, "cleanup", "--db", db, keys, "--days", "30"); r.code != 0 || !strings.Contains(r.stdout, "deleted 3 events") {
		t.Fatalf("cleanup: %+v", r)
	}
	acme, err := sqlite.Open(acmeDB, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer acme.Close()
	if n, err := acme.Count(ctx, activitylog.Filter{Kind: activitylog.KindCustom}); err != nil || n != 1 {
		t.Fatalf("acme's database holds %d custom events, %v; want the recent one", n, err)
	}
	// purge --all reaches it too.
	if r := runBin(t, nil, "purge", "--db", db, keys, "--all", "--confirm"); r.code != 0 {
		t.Fatalf("purge --all: %+v", r)
	}
	if n, err := acme.Count(ctx, activitylog.Filter{Kind: activitylog.KindCustom}); err != nil || n != 0 {
		t.Fatalf("after purge --all acme's database holds %d custom events, %v", n, err)
	}
}
