package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
)

// Batches of more than one INSERT (512 rows each), with padding, and a
// retried batch of which only the second part is new, are sealed whole:
// each statement derives its rows' seqs and prevs from its first row's,
// so every seam between statements and batches must link.
func TestSealedChunkSeams(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour)
	all := benchEvents(0, 2000, t0)
	for _, r := range [][2]int{{0, 1100}, {1100, 1101}, {1000, 1700}, {1700, 1730}, {1650, 2000}} {
		if err := w.Write(ctx, all[r[0]:r[1]]); err != nil {
			t.Fatalf("write %v: %v", r, err)
		}
	}
	rep := verifyStore(t, s, pub)
	if !rep.OK() || rep.Verified != len(all) || len(rep.Chains) != 1 || rep.Chains[0].Anchored != uint64(len(all)) {
		t.Fatalf("OK %v verified %d chains %+v findings %v", rep.OK(), rep.Verified, rep.Chains, rep.Findings)
	}
	hs, err := s.Hashes(ctx, w.Chain().ID, 1, uint64(len(all)))
	if err != nil || len(hs) != len(all) {
		t.Fatalf("hashes: %d, %v", len(hs), err)
	}
	ids := make([]activitylog.ID, len(all))
	for i := range all {
		ids[i] = all[i].ID
	}
	seals, err := s.Seals(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for i := range all {
		sl := seals[all[i].ID]
		if sl.Seq != uint64(i+1) || sl.Hash != hs[i] || i > 0 && sl.Prev != hs[i-1] || i == 0 && sl.Prev != integrity.Genesis(w.Chain().ID) {
			t.Fatalf("event %d: seal %+v", i, sl)
		}
	}
}
