package sqlite_test

import (
	"context"
	"strings"
	"testing"

	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
)

// Attacks on retention by someone with write access to the database
// file but no key: Prune, run later with the real signing key, must not
// be turned into a tool that deletes recent events or launders edited
// ones under a signed pruning record.

// Backdating the time column of recent events does not move the cut:
// Prune cuts at the last checkpoint whose signed time is before Before.
// The time is part of each event's sealed bytes, so the edit itself is
// a finding: above the cut it stays for the verifier to report, at or
// below it Prune refuses the cut.
func TestPruneIgnoresBackdatedTimeColumn(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		t.Run(map[bool]string{false: "sha256", true: "hmac"}[keyed], func(t *testing.T) {
			t.Parallel()
			tr := writeOrderedTrail(t, keyed)
			// Without the edit, retention cuts at 80 (prunedAt is event 89).
			path, db := tr.copy(t)
			exec(t, db, `UPDATE events SET time = 1 WHERE chain_seq BETWEEN 90 AND 180`)
			db.Close()
			res := tr.prune(t, path, prunedAt(), 0)
			if c := res.Chains[0]; c.UpToSeq != 80 || c.Deleted != 80 {
				t.Fatalf("prune after backdating 90..180: cut %d, deleted %d; want 80, 80 (only events 1..89 are older than the cutoff)", c.UpToSeq, c.Deleted)
			}
			rep := tr.verify(t, path, false)
			if rep.Total != 120 || rep.Chains[0].PrunedTo != 80 || rep.Counts[integrity.ReasonModified] != 91 || len(rep.Counts) != 1 {
				t.Errorf("verify: total %d pruned_to %d counts %v; want 120, 80, 91 modified", rep.Total, rep.Chains[0].PrunedTo, rep.Counts)
			}

			// Backdated down to seq 1: the cut is refused, nothing deleted.
			path2, db2 := tr.copy(t)
			exec(t, db2, `UPDATE events SET time = 1 WHERE chain_seq <= 180`)
			db2.Close()
			s, err := sqlite.Open(path2, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			res, err = s.Prune(context.Background(), sqlite.PruneOptions{Before: prunedAt(), SigningKey: tr.priv, HMACKeys: tr.hmacKeys(), Policy: "p", Actor: "a"})
			if err == nil || !strings.Contains(err.Error(), "chain "+tr.chain) || !strings.Contains(err.Error(), "modified") || res.Deleted != 0 {
				t.Fatalf("prune after backdating 1..180: %+v, %v; want a refusal naming the chain and nothing deleted", res, err)
			}
		})
	}
}

// An event edited below the cut (its hash and the checkpoint left
// alone) makes Prune refuse the cut, naming the chain and the finding,
// and delete nothing of the chain: the record would otherwise sign
// away the evidence.
func TestPruneRefusesTamperedEventsBelowCut(t *testing.T) {
	tr := writeOrderedTrail(t, true)
	path, db := tr.copy(t)
	exec(t, db, `UPDATE events SET message = 'nothing happened' WHERE chain_seq = 70`)
	db.Close()
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Prune(context.Background(), sqlite.PruneOptions{Before: prunedAt(), SigningKey: tr.priv, HMACKeys: tr.hmacKeys(), Policy: "p", Actor: "a"})
	if err == nil || !strings.Contains(err.Error(), "chain "+tr.chain) || !strings.Contains(err.Error(), "modified") || !strings.Contains(err.Error(), "seq 70") {
		t.Fatalf("prune of a chain edited at seq 70: %v; want an error naming the chain and the modified event", err)
	}
	if c := res.Chains[0]; c.UpToSeq != 0 || c.Deleted != 0 || c.Record != nil || res.Deleted != 0 {
		t.Fatalf("result %+v; want nothing pruned", res)
	}
	if n, _ := s.Prunes(context.Background(), tr.chain); len(n) != 0 {
		t.Errorf("%d pruning records stored", len(n))
	}
	// Edits above the cut do not stop it: the verifier reports them.
	path2, db2 := tr.copy(t)
	exec(t, db2, `UPDATE events SET message = 'nothing happened' WHERE chain_seq = 150`)
	db2.Close()
	if c := tr.prune(t, path2, prunedAt(), 0).Chains[0]; c.UpToSeq != 80 {
		t.Errorf("an edit at seq 150 moved the cut to %d", c.UpToSeq)
	}
}

// A keyed chain whose HMAC key Prune is not given cannot be verified,
// so it is not pruned.
func TestPruneKeyedChainWithoutKey(t *testing.T) {
	tr := writeOrderedTrail(t, true)
	path, _ := tr.copy(t)
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Prune(context.Background(), sqlite.PruneOptions{Before: prunedAt(), SigningKey: tr.priv, Policy: "p", Actor: "a"})
	if err == nil || !strings.Contains(err.Error(), string(integrity.ReasonBadSignature)) || res.Deleted != 0 {
		t.Fatalf("prune without the HMAC key: %+v, %v; want a bad_signature refusal and nothing deleted", res, err)
	}
}
