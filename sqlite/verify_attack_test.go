package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

// Attacks on the verifier by someone with write access to the database
// file and no key.

// A fabricated keyless chain, with its own genesis, seals and no
// checkpoint, in a keyed and witnessed deployment: nothing signed
// vouches for it, so it is a finding.
func TestVerifyForgedKeylessChain(t *testing.T) {
	tr := writeSealedTrail(t, true) // keyed + witness
	path, db := tr.copyDB(t)
	db.Close()
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	const forged = "01900000-0000-7000-8000-000000000bad"
	c, err := integrity.NewChainer(&integrity.Options{Chain: forged}) // keyless, no signing key
	if err != nil {
		t.Fatal(err)
	}
	var evs []activitylog.Event
	for i := range 3 {
		ev := storetest.NewEvent(9990 + i)
		ev.Message = "FORGED: admin granted superuser to mallory"
		evs = append(evs, ev)
	}
	err = s.WriteSealed(context.Background(), c.Info(), evs, func(tail *integrity.State, fresh []int) (integrity.SealedBatch, error) {
		var b integrity.SealedBatch
		for i := range evs {
			canon, err := activitylog.AppendCanonical(nil, &evs[i])
			if err != nil {
				return b, err
			}
			b.Seals = append(b.Seals, c.Next(canon))
		}
		b.State = c.State()
		return b, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	rep := tr.verify(t, path, true)
	var found bool
	for _, f := range rep.Findings {
		if f.Reason == integrity.ReasonInserted && f.Chain == forged && f.Seq == 1 && f.EndSeq == 3 {
			found = true
		} else {
			t.Errorf("other finding: %v", f)
		}
	}
	if rep.OK() || !found {
		t.Fatalf("forged keyless chain: OK=%v findings %v; want inserted chain %s seq 1..3", rep.OK(), rep.Findings, forged)
	}
	// The legitimate chain still verifies.
	for _, cr := range rep.Chains {
		if cr.ID == tr.chain && (cr.Verified != tamperEvents || cr.CheckpointsVerified == 0) {
			t.Errorf("legitimate chain %+v", cr)
		}
	}
}

func verifyKinds(t *testing.T, tr *sealedTrail, path string, kinds []activitylog.Kind) *integrity.Report {
	t.Helper()
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o := &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{tr.pub}, HMACKeys: []*integrity.HMACKey{tr.hmac}, MaxFindings: -1, Kinds: kinds}
	rep, err := integrity.NewVerifier(s, o).Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// With --kind K, deleting the newest K events (not the chain's last
// event), or rewriting the kind column of a K event, is reported: the
// filters narrow the counts, never the findings.
func TestVerifyKindFilterShowsTampering(t *testing.T) {
	tr := writeSealedTrail(t, true)
	k := tr.events[149].Kind
	var seqs []int
	for i, e := range tr.events {
		if e.Kind == k {
			seqs = append(seqs, i+1)
		}
	}
	// The first of the K events to delete is not next to the K event
	// before it, so the gap does not touch a remaining K event.
	last := -1
	for j := len(seqs) - 1; j > 0; j-- {
		if seqs[j]-seqs[j-1] > 2 && seqs[j] < tamperEvents {
			last = j
			break
		}
	}
	if last < 0 {
		t.Fatalf("fixture: no K event of kind %s apart from the one before it: %v", k, seqs)
	}
	path, db := tr.copyDB(t)
	var deleted int
	for _, s := range seqs[last:] {
		if s != tamperEvents {
			exec(t, db, `DELETE FROM events WHERE chain_seq = ?`, s)
			deleted++
		}
	}
	db.Close()
	full := tr.verify(t, path, false)
	rep := verifyKinds(t, tr, path, []activitylog.Kind{k})
	if full.OK() || rep.OK() || rep.Counts[integrity.ReasonMissing] != full.Counts[integrity.ReasonMissing] {
		t.Errorf("kind %s at %v, deleted %v: unfiltered OK=%v %v; --kind OK=%v %v; want the same missing findings", k, seqs, seqs[last:], full.OK(), full.Counts, rep.OK(), rep.Counts)
	}
	if rep.Total != len(seqs)-deleted {
		t.Errorf("--kind total %d; want the %d K events left", rep.Total, len(seqs)-deleted)
	}

	// The kind column of a K event rewritten: it no longer shows in K
	// lists, and its bytes no longer match its seal.
	at := seqs[len(seqs)/2]
	path2, db2 := tr.copyDB(t)
	exec(t, db2, `UPDATE events SET kind = 'custom' WHERE chain_seq = ?`, at)
	db2.Close()
	rep2 := verifyKinds(t, tr, path2, []activitylog.Kind{k})
	if rep2.OK() || len(rep2.Findings) != 1 || rep2.Findings[0].Reason != integrity.ReasonModified || rep2.Findings[0].Seq != uint64(at) {
		t.Errorf("kind column of seq %d rewritten: --kind OK=%v findings %v; want modified seq %d", at, rep2.OK(), rep2.Findings, at)
	}
}
