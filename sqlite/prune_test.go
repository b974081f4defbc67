package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

// The pruning suite writes 200 events in order (seq i+1 is
// storetest.NewEvent(i), whose times increase), in batches of 20 with a
// checkpoint each, prunes, and then edits copies of the file directly.

// prunedAt is the cutoff of the suite: events 1..89 are older, so the
// cut is the checkpoint 61..80.
func prunedAt() time.Time { return storetest.NewEvent(89).Time }

type pruneTrail struct {
	sealedTrail
	priv ed25519.PrivateKey
}

func writeOrderedTrail(t *testing.T, keyed bool) *pruneTrail {
	t.Helper()
	dir := t.TempDir()
	tr := &pruneTrail{sealedTrail: sealedTrail{path: filepath.Join(dir, "trail.db")}}
	pub, priv, err := integrity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tr.pub, tr.priv = pub, priv
	// Each batch's checkpoint is signed at the time of the batch's last
	// event, which is what Prune cuts by.
	var clock time.Time
	opts := &integrity.WriterOptions{SigningKey: priv, Now: func() time.Time { return clock }}
	if keyed {
		if tr.hmac, err = integrity.GenerateHMACKey(); err != nil {
			t.Fatal(err)
		}
		opts.HMACKey = tr.hmac
	}
	s, err := sqlite.Open(tr.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range tamperEvents {
		tr.events = append(tr.events, storetest.NewEvent(i))
	}
	clock = tr.events[0].Time
	w, err := integrity.NewWriter(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	tr.chain = w.Chain().ID
	for i := 0; i < len(tr.events); i += tamperBatch {
		clock = tr.events[i+tamperBatch-1].Time
		if err := w.Write(context.Background(), tr.events[i:i+tamperBatch]); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

func (tr *pruneTrail) prune(t *testing.T, path string, before time.Time, batch int) sqlite.PruneResult {
	t.Helper()
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Prune(context.Background(), sqlite.PruneOptions{Before: before, SigningKey: tr.priv, HMACKeys: tr.hmacKeys(), Policy: "retention 90d", Actor: "retention-job", BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// hmacKeys returns the trail's HMAC key, none when it is not keyed.
func (tr *pruneTrail) hmacKeys() []*integrity.HMACKey {
	if tr.hmac == nil {
		return nil
	}
	return []*integrity.HMACKey{tr.hmac}
}

// pruneCopy copies the trail's file and opens the copy for editing.
func (tr *pruneTrail) copy(t *testing.T) (string, *sql.DB) { return tr.sealedTrail.copyDB(t) }

// record reads the stored pruning record of the chain (the last one).
func record(t *testing.T, db *sql.DB) integrity.PruneRecord {
	t.Helper()
	var b []byte
	if err := db.QueryRow(`SELECT body FROM prunes ORDER BY up_to_seq DESC LIMIT 1`).Scan(&b); err != nil {
		t.Fatal(err)
	}
	var p integrity.PruneRecord
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func storeRecord(t *testing.T, db *sql.DB, p integrity.PruneRecord) {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, `UPDATE prunes SET body = ? WHERE up_to_seq = ?`, b, int64(p.UpToSeq))
}

func TestPruneSQLite(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		t.Run(map[bool]string{false: "sha256", true: "hmac"}[keyed], func(t *testing.T) {
			t.Parallel()
			pruneCases(t, writeOrderedTrail(t, keyed))
		})
	}
}

func pruneCases(t *testing.T, tr *pruneTrail) {
	ctx := context.Background()
	// Before pruning, the trail verifies; pruning one copy.
	unpruned, _ := tr.copy(t)
	check(t, tr.verify(t, unpruned, false))
	res := tr.prune(t, tr.path, prunedAt(), 7) // small batches: 12 transactions
	if len(res.Chains) != 1 || res.Chains[0].UpToSeq != 80 || res.Chains[0].Deleted != 80 || res.Deleted != 80 || res.Chains[0].Record == nil {
		t.Fatalf("result %+v", res)
	}
	if r := res.Chains[0].Record; r.Policy != "retention 90d" || r.Actor != "retention-job" || r.Verify(tr.pub) != nil {
		t.Fatalf("record %+v", r)
	}

	t.Run("verifies", func(t *testing.T) {
		path, db := tr.copy(t)
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n); err != nil || n != 120 {
			t.Fatalf("%d events left, %v", n, err)
		}
		db.Close()
		rep := tr.verify(t, path, false)
		if !rep.OK() || rep.Total != 120 || rep.Verified != 120 {
			t.Fatalf("OK %v total %d verified %d: %v", rep.OK(), rep.Total, rep.Verified, rep.Findings)
		}
		if c := rep.Chains[0]; c.PrunedTo != 80 || c.CheckpointsPruned != 4 || c.CheckpointsVerified != 6 || c.Length != 200 {
			t.Errorf("chain %+v", c)
		}
		// Prune again: nothing more is old enough.
		again := tr.prune(t, path, prunedAt(), 0)
		if c := again.Chains[0]; c.UpToSeq != 80 || c.Deleted != 0 || c.Record != nil {
			t.Errorf("second prune %+v", again)
		}
	})
	t.Run("record deleted", func(t *testing.T) {
		path, db := tr.copy(t)
		exec(t, db, `DELETE FROM prunes`)
		check(t, tr.verify(t, path, false), want{integrity.ReasonMissing, 1, activitylog.ID{}})
	})
	t.Run("event after the cut deleted", func(t *testing.T) {
		path, db := tr.copy(t)
		exec(t, db, `DELETE FROM events WHERE chain_seq = 85`)
		check(t, tr.verify(t, path, false), want{integrity.ReasonMissing, 85, activitylog.ID{}})
	})
	t.Run("first event after the cut deleted", func(t *testing.T) {
		path, db := tr.copy(t)
		exec(t, db, `DELETE FROM events WHERE chain_seq = 81`)
		check(t, tr.verify(t, path, false), want{integrity.ReasonMissing, 81, activitylog.ID{}})
	})
	t.Run("record edited", func(t *testing.T) {
		path, db := tr.copy(t)
		p := record(t, db)
		p.Policy = "keep 1d"
		storeRecord(t, db, p)
		check(t, tr.verify(t, path, false), want{integrity.ReasonBadSignature, 1, activitylog.ID{}}, want{integrity.ReasonMissing, 1, activitylog.ID{}})
	})
	t.Run("record body broken", func(t *testing.T) {
		path, db := tr.copy(t)
		exec(t, db, `UPDATE prunes SET body = '{"version":1'`)
		check(t, tr.verify(t, path, false), want{integrity.ReasonBadSignature, 1, activitylog.ID{}}, want{integrity.ReasonMissing, 1, activitylog.ID{}})
	})
	t.Run("record re-signed with another key", func(t *testing.T) {
		path, db := tr.copy(t)
		p := record(t, db)
		_, other, _ := integrity.GenerateKey()
		if err := p.Sign(other); err != nil {
			t.Fatal(err)
		}
		storeRecord(t, db, p)
		check(t, tr.verify(t, path, false), want{integrity.ReasonBadSignature, 1, activitylog.ID{}}, want{integrity.ReasonMissing, 1, activitylog.ID{}})
	})
	t.Run("cut hash moved", func(t *testing.T) {
		// Even signed with the right key, a record whose cut hash is not
		// the one the checkpoint at the cut covers is refused.
		path, db := tr.copy(t)
		p := record(t, db)
		p.CutHash[0] ^= 1
		if err := p.Sign(tr.priv); err != nil {
			t.Fatal(err)
		}
		storeRecord(t, db, p)
		check(t, tr.verify(t, path, false), want{integrity.ReasonCheckpointMismatch, 1, activitylog.ID{}}, want{integrity.ReasonMissing, 1, activitylog.ID{}})
	})
	t.Run("interrupted", func(t *testing.T) {
		// The record stored with the first batch, only some events below
		// the cut deleted: it verifies, and the next Prune finishes.
		path, db := unprunedCopy(t, unpruned)
		p := res.Chains[0].Record
		b, _ := json.Marshal(p)
		exec(t, db, `INSERT INTO prunes (chain, up_to_seq, body, created) VALUES (?, ?, ?, 0)`, p.Chain, int64(p.UpToSeq), b)
		exec(t, db, `DELETE FROM events WHERE chain_seq <= 30`)
		db.Close()
		rep := tr.verify(t, path, false)
		if !rep.OK() || rep.Total != 170 {
			t.Fatalf("OK %v total %d: %v", rep.OK(), rep.Total, rep.Findings)
		}
		again := tr.prune(t, path, prunedAt(), 0)
		if c := again.Chains[0]; c.UpToSeq != 80 || c.Deleted != 50 || c.Record != nil {
			t.Errorf("second prune %+v", c)
		}
		if rep := tr.verify(t, path, false); !rep.OK() || rep.Total != 120 {
			t.Errorf("OK %v total %d: %v", rep.OK(), rep.Total, rep.Findings)
		}
	})
	t.Run("twice", func(t *testing.T) {
		path, _ := unprunedCopy(t, unpruned)
		if c := tr.prune(t, path, storetest.NewEvent(45).Time, 0).Chains[0]; c.UpToSeq != 40 || c.Deleted != 40 {
			t.Fatalf("first %+v", c)
		}
		if c := tr.prune(t, path, storetest.NewEvent(150).Time, 0).Chains[0]; c.UpToSeq != 140 || c.Deleted != 100 || c.Record == nil {
			t.Fatalf("second %+v", c)
		}
		s, err := sqlite.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := s.Prunes(ctx, tr.chain)
		s.Close()
		if err != nil || len(ps) != 2 {
			t.Fatalf("%d records, %v", len(ps), err)
		}
		if rep := tr.verify(t, path, false); !rep.OK() || rep.Total != 60 || rep.Chains[0].PrunedTo != 140 {
			t.Errorf("OK %v total %d chain %+v: %v", rep.OK(), rep.Total, rep.Chains[0], rep.Findings)
		}
	})
	t.Run("keeps the last event", func(t *testing.T) {
		// Everything is old: the cut stops at the last checkpoint below
		// the chain's last event, and a Writer continues the chain.
		path, _ := unprunedCopy(t, unpruned)
		if c := tr.prune(t, path, storetest.NewEvent(1000).Time, 0).Chains[0]; c.UpToSeq != 180 || c.Deleted != 180 {
			t.Fatalf("prune %+v", c)
		}
		s, err := sqlite.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		opts := &integrity.WriterOptions{SigningKey: tr.priv, Chain: tr.chain, HMACKey: tr.hmac}
		w, err := integrity.NewWriter(s, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(ctx, []activitylog.Event{storetest.NewEvent(500)}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if rep := tr.verify(t, path, false); !rep.OK() || rep.Total != 21 || rep.Chains[0].Length != 201 {
			t.Errorf("OK %v total %d chain %+v: %v", rep.OK(), rep.Total, rep.Chains[0], rep.Findings)
		}
	})
	t.Run("refuses a tampered chain", func(t *testing.T) {
		path, db := unprunedCopy(t, unpruned)
		exec(t, db, `UPDATE events SET hash = zeroblob(32) WHERE chain_seq = 33`)
		db.Close()
		s, err := sqlite.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		res, err := s.Prune(ctx, sqlite.PruneOptions{Before: prunedAt(), SigningKey: tr.priv, Policy: "p", Actor: "a"})
		if err == nil || res.Chains[0].Deleted != 0 || res.Chains[0].Err == nil {
			t.Fatalf("prune of a tampered chain: %+v, %v", res, err)
		}
		if ps, _ := s.Prunes(ctx, tr.chain); len(ps) != 0 {
			t.Errorf("%d records stored", len(ps))
		}
	})
}

// unprunedCopy copies the file at src and opens the copy for editing.
func unprunedCopy(t *testing.T, src string) (string, *sql.DB) {
	return (&sealedTrail{path: src}).copyDB(t)
}

func TestPruneUnsealed(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "u.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var es []activitylog.Event
	for i := range 30 {
		es = append(es, storetest.NewEvent(i))
	}
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	_, priv, _ := integrity.GenerateKey()
	res, err := s.Prune(ctx, sqlite.PruneOptions{Before: es[12].Time, SigningKey: priv, Policy: "p", Actor: "a", BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unsealed != 12 || res.Deleted != 12 || len(res.Chains) != 0 {
		t.Fatalf("result %+v", res)
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 18 {
		t.Fatalf("count %d, %v", n, err)
	}
	// With Chains, unsealed events are left alone.
	res, err = s.Prune(ctx, sqlite.PruneOptions{Before: es[29].Time, SigningKey: priv, Policy: "p", Actor: "a", Chains: []string{"none"}})
	if err != nil || res.Unsealed != 0 {
		t.Fatalf("result %+v, %v", res, err)
	}
}

func TestPruneOptionsInvalid(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "o.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, priv, _ := integrity.GenerateKey()
	ok := sqlite.PruneOptions{Before: time.Now(), SigningKey: priv, Policy: "p", Actor: "a"}
	for field, edit := range map[string]func(o *sqlite.PruneOptions){
		"before":      func(o *sqlite.PruneOptions) { o.Before = time.Time{} },
		"signing key": func(o *sqlite.PruneOptions) { o.SigningKey = nil },
		"policy":      func(o *sqlite.PruneOptions) { o.Policy = "" },
		"actor":       func(o *sqlite.PruneOptions) { o.Actor = "a\nb" },
		"batch size":  func(o *sqlite.PruneOptions) { o.BatchSize = -1 },
		"chain":       func(o *sqlite.PruneOptions) { o.Chains = []string{"a b"} },
		"public key":  func(o *sqlite.PruneOptions) { o.PublicKeys = []ed25519.PublicKey{{1}} },
	} {
		o := ok
		edit(&o)
		_, err := s.Prune(context.Background(), o)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v", field, err)
		}
	}
	if _, err := s.Prune(context.Background(), ok); err != nil {
		t.Errorf("valid options: %v", err)
	}
}
