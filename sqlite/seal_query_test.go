package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

// Seals and Hashes read back what the Writer stored: proofs made over
// Hashes verify against the checkpoint the Writer signed, and a range
// with a gap is an error, not a short answer.
func TestSealsAndHashes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	pub, priv, _ := integrity.GenerateKey()
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(37)
	if err := w.Write(ctx, es[:30]); err != nil {
		t.Fatal(err)
	}
	unsealed := es[30:]
	if err := s.Write(ctx, unsealed); err != nil {
		t.Fatal(err)
	}
	ids := make([]activitylog.ID, 0, len(es)+1)
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	ids = append(ids, activitylog.NewID(es[0].Time))
	seals, err := s.Seals(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(seals) != 30 {
		t.Fatalf("%d seals, want 30", len(seals))
	}
	chain := w.Chain().ID
	hs, err := s.Hashes(ctx, chain, 1, 30)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es[:30] {
		sl, ok := seals[e.ID]
		if !ok || sl.Chain != chain || hs[sl.Seq-1] != sl.Hash {
			t.Fatalf("seal of %s: %+v, ok %v", e.ID, sl, ok)
		}
	}
	cps, err := s.Checkpoints(ctx, chain)
	if err != nil || len(cps) != 1 || cps[0].Verify(pub) != nil {
		t.Fatalf("checkpoints %+v, %v", cps, err)
	}
	cp := cps[0]
	hf := func(from, to uint64) ([]integrity.Hash, error) { return s.Hashes(ctx, chain, from, to) }
	for seq := uint64(1); seq <= cp.ToSeq; seq++ {
		p, err := integrity.InclusionProof(seq, cp.ToSeq, hf)
		if err != nil {
			t.Fatal(err)
		}
		if err := integrity.VerifyInclusion(seq, cp.ToSeq, hs[seq-1], p, cp.TreeRoot); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
	}
	for _, r := range [][2]uint64{{1, 31}, {0, 3}, {5, 4}, {29, 40}} {
		if _, err := s.Hashes(ctx, chain, r[0], r[1]); err == nil || !strings.Contains(err.Error(), "seq") {
			t.Errorf("Hashes %v: %v, want an error naming the seq", r, err)
		}
	}
}
