package mysql_test

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/mysql"
	"github.com/activitylog/activitylog/storetest"
)

// What the MySQL store does beyond integrity/sealtest: the cases that
// depend on how it builds its statements and takes its locks.

func verifyMySQL(t *testing.T, s *mysql.Store, pub ed25519.PublicKey) *integrity.Report {
	t.Helper()
	rep, err := integrity.NewVerifier(s, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}, MaxFindings: -1}).Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// rowCount returns the number of rows of table.
func rowCount(t *testing.T, s *mysql.Store, table string) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A batch larger than one statement (Options.BatchBytes) is sealed in
// one transaction of several INSERTs; one whose last statement holds ids
// stored already is rolled back whole (its first statements too), then
// looked up and stored once.
func TestSealedSmallStatements(t *testing.T) {
	serverDSN(t)
	s := open(t, &mysql.Options{BatchBytes: 64 << 10})
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(900)
	for i := range es {
		es[i].Message = strings.Repeat("m", 500) // some 1 KB a row: a batch of 300 is several statements
	}
	for _, b := range [][]activitylog.Event{es[:300], es[300:600], append(es[600:700:700], es[100:110]...), es[550:]} {
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	rep := verifyMySQL(t, s, pub)
	if !rep.OK() || rep.Verified != 900 || rep.Chains[0].Length != 900 {
		t.Fatalf("OK %v verified %d chains %+v findings %v", rep.OK(), rep.Verified, rep.Chains, rep.Findings)
	}
	if n := rowCount(t, s, "seals"); n != 900 {
		t.Fatalf("%d seals, want 900", n)
	}
}

// An event the store cannot hold is refused, as Write refuses it, with
// a FieldError, and nothing of its batch is stored: not even the
// chain's row, which WriteSealed inserts to lock the chain.
func TestSealedRefused(t *testing.T) {
	serverDSN(t)
	s := open(t, nil)
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(20)
	bad := es[5]
	bad.Kind = activitylog.Kind(strings.Repeat("k", 2000))
	batch := append(append([]activitylog.Event{}, es[:5]...), bad)
	var fe *activitylog.FieldError
	if err := w.Write(ctx, batch); !errors.As(err, &fe) || fe.Field != "kind" {
		t.Fatalf("write with a kind of 2000 bytes: %v, want a FieldError naming kind", err)
	}
	if n := rowCount(t, s, "events") + rowCount(t, s, "seals") + rowCount(t, s, "chains"); n != 0 {
		t.Fatalf("%d rows stored by a refused batch", n)
	}
	if err := w.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	if rep := verifyMySQL(t, s, pub); !rep.OK() || rep.Verified != 20 {
		t.Fatalf("OK %v verified %d findings %v", rep.OK(), rep.Verified, rep.Findings)
	}
}

// A batch whose events are all stored already, by a Writer without a
// signing key, stores nothing: the chain's lock row is rolled back,
// and no chain is listed.
func TestSealedNothingToStore(t *testing.T) {
	serverDSN(t)
	s := open(t, nil)
	es := storetest.Fixture(10)
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	w, err := integrity.NewWriter(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	chains, err := s.Chains(ctx)
	if err != nil || len(chains) != 0 || rowCount(t, s, "chains") != 0 || rowCount(t, s, "seals") != 0 {
		t.Fatalf("Chains after a batch of stored events: %v, %v", chains, err)
	}
}

// Plain Writes and a Writer given overlapping events at once store each
// event once; those the Writer stored first are sealed, the others not,
// and the chain verifies.
func TestSealedBesidePlainWrites(t *testing.T) {
	serverDSN(t)
	s := open(t, nil)
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(400)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() {
		for i := 0; i < len(es) && errs[0] == nil; i += 20 {
			errs[0] = w.Write(ctx, es[i:i+20])
		}
	})
	wg.Go(func() {
		for i := 0; i < len(es) && errs[1] == nil; i += 25 {
			errs[1] = s.Write(ctx, es[i:i+25])
		}
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 400 {
		t.Fatalf("%d events, %v; want 400", n, err)
	}
	rep := verifyMySQL(t, s, pub)
	sealed := rowCount(t, s, "seals")
	if rep.Verified != sealed || rep.Unsealed != 400-sealed || len(rep.Findings) != 400-sealed {
		t.Fatalf("%d sealed: verified %d, unsealed %d, findings %v", sealed, rep.Verified, rep.Unsealed, rep.Findings)
	}
	for _, f := range rep.Findings {
		if f.Reason != integrity.ReasonMissingHash || f.Seq != 0 {
			t.Fatalf("finding %s, want only unsealed events", f)
		}
	}
}

// After Close every sealing method fails with ErrUnavailable.
func TestSealedClosed(t *testing.T) {
	serverDSN(t)
	s := open(t, nil)
	s.Close()
	seal := func(*integrity.State, []int) (integrity.SealedBatch, error) { return integrity.SealedBatch{}, nil }
	_, _, lastErr := s.LastCheckpoint(ctx, "c")
	_, sealsErr := s.Seals(ctx, nil)
	_, chainsErr := s.Chains(ctx)
	_, cpErr := s.Checkpoints(ctx, "c")
	_, hashErr := s.Hashes(ctx, "c", 1, 1)
	_, prunesErr := s.Prunes(ctx, "c")
	_, pruneErr := s.Prune(ctx, mysql.PruneOptions{})
	for name, err := range map[string]error{
		"WriteSealed":    s.WriteSealed(ctx, integrity.ChainInfo{ID: "c"}, storetest.Fixture(1), seal),
		"Entries":        s.Entries(ctx, "c", func(integrity.Entry) error { return nil }),
		"Unsealed":       s.Unsealed(ctx, func(integrity.Entry) error { return nil }),
		"LastCheckpoint": lastErr, "Seals": sealsErr, "Chains": chainsErr, "Checkpoints": cpErr,
		"Hashes": hashErr, "Prunes": prunesErr, "Prune": pruneErr,
	} {
		if !errors.Is(err, activitylog.ErrUnavailable) {
			t.Errorf("%s after Close: %v, want ErrUnavailable", name, err)
		}
	}
}

// Four Writers of one chain, each with a connection pool of its own
// (as four processes would be), write at once: the chain's row lock
// serializes them, each transaction sees the tail the last one
// committed, and the chain holds every event once, seqs 1..n.
func TestSealedManyWritersOneChain(t *testing.T) {
	dsn := newDatabase(t)
	const writers, batches, per = 4, 10, 5
	es := storetest.Fixture(writers * batches * per)
	pub, priv, _ := integrity.GenerateKey()
	chain := integrity.NewChainID(time.Now())
	var wg sync.WaitGroup
	errs := make([]error, writers)
	var s *mysql.Store
	for i := range writers {
		st, err := mysql.Open(ctx, dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s = st
		w, err := integrity.NewWriter(st, &integrity.WriterOptions{Chain: chain, SigningKey: priv})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for b := range batches {
				j := (b*writers + i) * per
				if err := w.Write(ctx, es[j:j+per]); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var n, lo, hi int
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*), MIN(seq), MAX(seq) FROM seals WHERE chain = ?`, chain).Scan(&n, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if n != len(es) || lo != 1 || hi != n {
		t.Fatalf("%d seals, seqs %d..%d; want %d, 1..%d", n, lo, hi, len(es), len(es))
	}
	rep := verifyMySQL(t, s, pub)
	if !rep.OK() || rep.Verified != len(es) || rep.Chains[0].Anchored != uint64(len(es)) {
		t.Fatalf("OK %v verified %d chains %+v findings %v", rep.OK(), rep.Verified, rep.Chains, rep.Findings)
	}
}
