package archive_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/archive"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
)

// A sealed store's archive files carry seals, checkpoints and proofs:
// each verifies offline, as an integrity bundle, against the signer's
// key; an edited event in a file is found; a restore with the key
// verifies first.
func TestArchiveSealed(t *testing.T) { backends(t, testArchiveSealed) }

func testArchiveSealed(t *testing.T, openStore func(t *testing.T) testStore) {
	ctx := context.Background()
	s := openStore(t)
	pub, priv, err := integrity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	selected, other := fixture(5)
	// Three batches, so three checkpoints and proofs of consistency
	// between them; the newest events are written after the archived
	// ones.
	all := append(slices.Clone(selected), other...)
	for _, part := range [][]activitylog.Event{all[:7], all[7:20], all[20:]} {
		if err := w.Write(ctx, part); err != nil {
			t.Fatal(err)
		}
	}
	// An unsealed event beside them, in an archived day.
	plain := event(500, activitylog.KindCRUD, day0.Add(23*3600e9))
	if err := s.Write(ctx, []activitylog.Event{plain}); err != nil {
		t.Fatal(err)
	}

	root := t.TempDir()
	ar, err := archive.New(archive.Dir{Root: root}, s, &archive.Options{PublicKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ar.Archive(ctx, request())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 6 || res.Events != 31 {
		t.Fatalf("%d files of %d events, want 6 of 31", len(res.Files), res.Events)
	}
	for _, f := range res.Files {
		wantSealed := 5
		if f.Events != wantSealed+boolInt(f.Name == "crud/2026/03/01/crud-2026-03-01.ndjson.gz") || f.Sealed != wantSealed {
			t.Errorf("file %s: %d events, %d sealed", f.Name, f.Events, f.Sealed)
		}
		path := filepath.Join(root, f.Name)
		b, err := integrity.OpenBundle(path)
		if err != nil {
			t.Fatal(err)
		}
		if b.Header.WholeChains || len(b.Keys) != 1 {
			t.Errorf("file %s: header %+v with %d keys", f.Name, b.Header, len(b.Keys))
		}
		rep, err := b.Verify(ctx, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Verified != 5 {
			t.Errorf("file %s: %d events verified, want 5; findings %v", f.Name, rep.Verified, rep.Findings)
		}
		for _, fnd := range rep.Findings {
			if fnd.Reason != integrity.ReasonMissingHash || fnd.EventID != plain.ID {
				t.Errorf("file %s: finding %v", f.Name, fnd)
			}
		}
	}

	// Edit an event's message in a file, and keep its checksum right:
	// the seals find it.
	name := res.Files[1].Name
	path := filepath.Join(root, name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	plainText, err := io.ReadAll(must(gzip.NewReader(bytes.NewReader(data))))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(plainText), `"message":"event `, `"message":"EVENT `, 1)
	if edited == string(plainText) {
		t.Fatal("nothing to edit")
	}
	forged := filepath.Join(t.TempDir(), filepath.Base(name))
	put(t, forged, gzipRaw(edited))
	b, err := integrity.OpenBundle(forged)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := b.Verify(ctx, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts[integrity.ReasonModified] != 1 {
		t.Errorf("edited file: findings %v, want one modified", rep.Findings)
	}
	fresh := openStore(t)
	keys := &archive.RestoreOptions{PublicKeys: []ed25519.PublicKey{pub}}
	if _, err := archive.RestoreFile(ctx, forged, fresh, keys); !errors.Is(err, archive.ErrDamaged) || !strings.Contains(err.Error(), "does not verify: modified") {
		t.Fatalf("restore of the edited file = %v, want it refused as modified", err)
	}
	if n := count(t, fresh); n != 0 {
		t.Fatalf("%d events written from a refused file", n)
	}
	// Another key: the checkpoints do not verify.
	other2, _, _ := integrity.GenerateKey()
	if _, err := archive.RestoreFile(ctx, path, fresh, &archive.RestoreOptions{PublicKeys: []ed25519.PublicKey{other2}}); !errors.Is(err, archive.ErrDamaged) {
		t.Fatalf("restore with another key = %v, want it refused", err)
	}
	r, err := archive.RestoreFile(ctx, path, fresh, keys)
	if err != nil || !r.Verified || r.Events != 5 || r.Sealed != 5 {
		t.Fatalf("restore = %+v, %v", r, err)
	}
}

// Sealed events that no checkpoint covers yet cannot be proven: the
// archive refuses them, and stores nothing.
func TestArchiveSealedUncovered(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	w, err := integrity.NewWriter(s, nil) // no signing key: no checkpoints
	if err != nil {
		t.Fatal(err)
	}
	selected, _ := fixture(2)
	if err := w.Write(ctx, selected); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	ar, err := archive.New(archive.Dir{Root: root}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ar.Archive(ctx, request()); err == nil || !strings.Contains(err.Error(), "no signed checkpoint covers seq") {
		t.Fatalf("Archive = %v, want it refused for want of a checkpoint", err)
	}
	if names, err := (archive.Dir{Root: root}).List(ctx, ""); err != nil || len(names) != 0 {
		t.Fatalf("files left: %q, %v", names, err)
	}
	// Unsealed, it archives from the Querier.
	ar, err = archive.New(archive.Dir{Root: root}, s, &archive.Options{Unsealed: true})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := ar.Archive(ctx, request()); err != nil || res.Events != 12 {
		t.Fatalf("Archive(Unsealed) = %+v, %v", res, err)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A chain that was pruned is archived from its last cut, day after
// day as daily retention runs do: each file carries the pruning record
// and the checkpoint at the cut, its events' proofs are made from the
// hashes after the cut, and it verifies offline on its own; restored,
// the files give back every archived event.
func TestArchiveSealedPruned(t *testing.T) {
	ctx := context.Background()
	s := openStore(t).(*sqlite.Store)
	pub, priv, _ := integrity.GenerateKey()
	// Checkpoints made at their events' times, as in production.
	var clock time.Time
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	selected, _ := fixture(3) // 6 events a day, days 0 to 2: seqs 1-6, 7-12, 13-18
	for _, part := range [][]activitylog.Event{selected[:6], selected[6:12], selected[12:]} {
		clock = part[len(part)-1].Time.Add(time.Second)
		if err := w.Write(ctx, part); err != nil {
			t.Fatal(err)
		}
	}
	root := t.TempDir()
	ar, err := archive.New(archive.Dir{Root: root}, s, &archive.Options{PublicKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	kinds := []activitylog.Kind{activitylog.KindCRUD, activitylog.KindAuth}
	for day := 1; day <= 2; day++ {
		// Retention deletes the day before, then archives this one.
		res, err := s.Prune(ctx, sqlite.PruneOptions{Before: day0.AddDate(0, 0, day), SigningKey: priv, Policy: "retention 1d", Actor: "test"})
		if err != nil || res.Deleted != 6 {
			t.Fatalf("day %d: Prune = %+v, %v", day, res, err)
		}
		got, err := ar.Archive(ctx, activitylog.PurgeRequest{Before: day0.AddDate(0, 0, day+1), Kinds: kinds, AllTenants: true})
		if err != nil || got.Events != 6 || len(got.Files) != 2 {
			t.Fatalf("day %d: Archive of a pruned chain = %+v, %v", day, got, err)
		}
		for _, f := range got.Files {
			b, err := integrity.OpenBundle(filepath.Join(root, f.Name))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := b.Verify(ctx, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}})
			if err != nil || !rep.OK() || rep.Verified != 3 || rep.Chains[0].PrunedTo != uint64(6*day) {
				t.Fatalf("day %d: %s verifies as %+v, %v", day, f.Name, rep, err)
			}
			cps, _ := b.Checkpoints(ctx, w.Chain().ID)
			if len(cps) == 0 || cps[0].ToSeq != uint64(6*day) {
				t.Fatalf("day %d: %s carries checkpoints %+v, want them from the cut at %d", day, f.Name, cps, 6*day)
			}
		}
	}
	fresh := openStore(t)
	names, err := (archive.Dir{Root: root}).List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	restored := 0
	for _, name := range names {
		if strings.HasSuffix(name, archive.SumSuffix) {
			continue
		}
		r, err := archive.RestoreFile(ctx, filepath.Join(root, name), fresh, nil)
		if err != nil {
			t.Fatalf("restore %s: %v", name, err)
		}
		restored += r.Events
	}
	if restored != 12 {
		t.Fatalf("restored %d events, want 12", restored)
	}
	sameEvents(t, fresh, selected[6:])
}

// A prune that stopped half way (its record stored, seqs 1..3 of 1..6
// deleted) does not block the archive: the events left at or below the
// cut, whose proofs would need the deleted hashes, are left out and
// counted as released, for the purge to finish; the events after the
// cut are archived with proofs and verify.
func TestArchiveSealedHalfPruned(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, copyPath := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := integrity.GenerateKey()
	var clock time.Time
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	selected, _ := fixture(3) // day 0: seqs 1-3 crud, 4-6 auth; day 1: 7-12
	for _, part := range [][]activitylog.Event{selected[:6], selected[6:12], selected[12:]} {
		clock = part[len(part)-1].Time.Add(time.Second)
		if err := w.Write(ctx, part); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The record, made by a whole prune of a copy.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := sqlite.Open(copyPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Prune(ctx, sqlite.PruneOptions{Before: day0.AddDate(0, 0, 1), SigningKey: priv, Policy: "retention 1d", Actor: "test"})
	c.Close()
	if err != nil || len(res.Chains) != 1 || res.Chains[0].UpToSeq != 6 || res.Chains[0].Record == nil {
		t.Fatalf("Prune of the copy = %+v, %v", res, err)
	}
	// Stored in the original with only 1..3 deleted, as a prune stopped
	// after its first batch leaves it.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(res.Chains[0].Record)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO prunes (chain, up_to_seq, body, created) VALUES (?, 6, ?, 0)`, []any{w.Chain().ID, body}},
		{`DELETE FROM events WHERE chain_seq <= 3`, nil},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err = sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	root := t.TempDir()
	ar, err := archive.New(archive.Dir{Root: root}, s, &archive.Options{PublicKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ar.Archive(ctx, activitylog.PurgeRequest{Before: day0.AddDate(0, 0, 2), Kinds: []activitylog.Kind{activitylog.KindCRUD, activitylog.KindAuth}, AllTenants: true})
	if err != nil || got.Events != 6 || got.Released != 3 {
		t.Fatalf("Archive of a half-pruned chain = %+v, %v; want 6 archived (day 1) and 3 released (day 0's auth)", got, err)
	}
	for _, f := range got.Files {
		b, err := integrity.OpenBundle(filepath.Join(root, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := b.Verify(ctx, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}})
		if err != nil || !rep.OK() || rep.Verified != f.Events {
			t.Fatalf("%s (%d events, %d released) verifies as %+v, %v", f.Name, f.Events, f.Released, rep, err)
		}
	}
}
