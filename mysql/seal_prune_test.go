package mysql_test

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/mysql"
	"github.com/activitylog/activitylog/storetest"
)

// writeOrderedTrail writes 200 events in order (seq i+1 is
// storetest.NewEvent(i), whose times increase) in batches of 20, each
// with a checkpoint signed at the time of its last event, which is what
// Prune cuts by.
func writeOrderedTrail(t *testing.T, keyed bool) (*sealedTrail, ed25519.PrivateKey) {
	t.Helper()
	tr := &sealedTrail{s: open(t, nil)}
	pub, priv, _ := integrity.GenerateKey()
	tr.pub = pub
	var clock time.Time
	opts := &integrity.WriterOptions{SigningKey: priv, Now: func() time.Time { return clock }}
	if keyed {
		tr.hmac, _ = integrity.GenerateHMACKey()
		opts.HMACKey = tr.hmac
	}
	var es []activitylog.Event
	for i := range tamperEvents {
		es = append(es, storetest.NewEvent(i))
	}
	w, err := integrity.NewWriter(tr.s, opts)
	if err != nil {
		t.Fatal(err)
	}
	tr.chain = w.Chain().ID
	for i := 0; i < len(es); i += tamperBatch {
		clock = es[i+tamperBatch-1].Time
		if err := w.Write(ctx, es[i:i+tamperBatch]); err != nil {
			t.Fatal(err)
		}
	}
	return tr, priv
}

// hmacKeys returns the trail's HMAC key, none when it is not keyed.
func (tr *sealedTrail) hmacKeys() []*integrity.HMACKey {
	if tr.hmac == nil {
		return nil
	}
	return []*integrity.HMACKey{tr.hmac}
}

func (tr *sealedTrail) prune(t *testing.T, priv ed25519.PrivateKey, before time.Time, batch int) mysql.PruneResult {
	t.Helper()
	res, err := tr.s.Prune(ctx, mysql.PruneOptions{Before: before, SigningKey: priv, HMACKeys: tr.hmacKeys(),
		Policy: "retention 90d", Actor: "retention-job", BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Prune deletes a chain's events up to its last checkpoint older than
// the cutoff, with a signed record stored first; the pruned trail
// verifies, and its records are checked: as postgres's TestSealedPrune.
func TestSealedPrune(t *testing.T) {
	serverDSN(t)
	prunedAt := storetest.NewEvent(89).Time // events 1..89 older: the cut is the checkpoint 61..80
	for _, keyed := range []bool{false, true} {
		t.Run(map[bool]string{false: "sha256", true: "hmac"}[keyed], func(t *testing.T) {
			t.Run("prunes and verifies", func(t *testing.T) {
				t.Parallel()
				tr, priv := writeOrderedTrail(t, keyed)
				check(t, tr.verify(t, false))
				res := tr.prune(t, priv, prunedAt, 7) // small batches: 12 transactions
				if len(res.Chains) != 1 || res.Chains[0].UpToSeq != 80 || res.Chains[0].Deleted != 80 || res.Deleted != 80 || res.Chains[0].Record == nil {
					t.Fatalf("result %+v", res)
				}
				if seals, events := rowCount(t, tr.s, "seals"), rowCount(t, tr.s, "events"); seals != 120 || events != 120 {
					t.Fatalf("%d seals, %d events left; want 120", seals, events)
				}
				rep := tr.verify(t, false)
				if !rep.OK() || rep.Total != 120 || rep.Verified != 120 {
					t.Fatalf("OK %v total %d verified %d: %v", rep.OK(), rep.Total, rep.Verified, rep.Findings)
				}
				if c := rep.Chains[0]; c.PrunedTo != 80 || c.CheckpointsPruned != 4 || c.CheckpointsVerified != 6 || c.Length != 200 {
					t.Errorf("chain %+v", c)
				}
				if again := tr.prune(t, priv, prunedAt, 0); again.Chains[0].UpToSeq != 80 || again.Chains[0].Deleted != 0 || again.Chains[0].Record != nil {
					t.Errorf("second prune %+v", again)
				}
				// Purge still keeps the sealed events left.
				pr, err := tr.s.Purge(ctx, activitylog.PurgeRequest{Before: storetest.NewEvent(1000).Time, AllTenants: true})
				if err != nil || pr.Deleted != 0 || pr.KeptSealed != 120 {
					t.Errorf("purge after prune: %+v, %v", pr, err)
				}
				// The record deleted: the gap is missing.
				tr.exec(t, `DELETE FROM prunes`)
				check(t, tr.verify(t, false), want{integrity.ReasonMissing, 1, activitylog.ID{}})
			})
			t.Run("record edited", func(t *testing.T) {
				t.Parallel()
				tr, priv := writeOrderedTrail(t, keyed)
				p := *tr.prune(t, priv, prunedAt, 0).Chains[0].Record
				p.Policy = "keep 1d"
				b, _ := json.Marshal(p)
				tr.exec(t, `UPDATE prunes SET body = ?`, b)
				check(t, tr.verify(t, false), want{integrity.ReasonBadSignature, 1, activitylog.ID{}}, want{integrity.ReasonMissing, 1, activitylog.ID{}})
			})
			t.Run("keeps the last event", func(t *testing.T) {
				t.Parallel()
				tr, priv := writeOrderedTrail(t, keyed)
				if c := tr.prune(t, priv, storetest.NewEvent(1000).Time, 0).Chains[0]; c.UpToSeq != 180 || c.Deleted != 180 {
					t.Fatalf("prune %+v", c)
				}
				w, err := integrity.NewWriter(tr.s, &integrity.WriterOptions{SigningKey: priv, Chain: tr.chain, HMACKey: tr.hmac})
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Write(ctx, []activitylog.Event{storetest.NewEvent(500)}); err != nil {
					t.Fatal(err)
				}
				if rep := tr.verify(t, false); !rep.OK() || rep.Total != 21 || rep.Chains[0].Length != 201 {
					t.Errorf("OK %v total %d chain %+v: %v", rep.OK(), rep.Total, rep.Chains[0], rep.Findings)
				}
			})
			t.Run("refuses a tampered chain", func(t *testing.T) {
				t.Parallel()
				tr, priv := writeOrderedTrail(t, keyed)
				tr.exec(t, `UPDATE seals SET hash = REPEAT(X'00', 32) WHERE seq = 33`)
				res, err := tr.s.Prune(ctx, mysql.PruneOptions{Before: prunedAt, SigningKey: priv, HMACKeys: tr.hmacKeys(), Policy: "p", Actor: "a"})
				if err == nil || res.Chains[0].Deleted != 0 || res.Chains[0].Err == nil {
					t.Fatalf("prune of a tampered chain: %+v, %v", res, err)
				}
				if ps, _ := tr.s.Prunes(ctx, tr.chain); len(ps) != 0 {
					t.Errorf("%d records stored", len(ps))
				}
			})
		})
	}
}

// Prune deletes the unsealed events older than the cutoff, by their
// time column, and no sealed one.
func TestSealedPruneUnsealed(t *testing.T) {
	serverDSN(t)
	s := open(t, nil)
	_, priv, _ := integrity.GenerateKey()
	es := storetest.Fixture(30)
	if err := s.Write(ctx, es[:10]); err != nil {
		t.Fatal(err)
	}
	w, _ := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err := w.Write(ctx, es[10:]); err != nil {
		t.Fatal(err)
	}
	res, err := s.Prune(ctx, mysql.PruneOptions{Before: time.Now().Add(24 * 365 * time.Hour), SigningKey: priv, Policy: "p", Actor: "a", BatchSize: 3})
	if err != nil || res.Unsealed != 10 {
		t.Fatalf("prune: %+v, %v", res, err)
	}
	if seals, events := rowCount(t, s, "seals"), rowCount(t, s, "events"); seals != 20 || events != 20 {
		t.Fatalf("%d seals, %d events; want 20", seals, events)
	}
}
