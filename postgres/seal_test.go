package postgres

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/storetest"
)

// openSchema opens a store in schema (made by randomSchema), closed when
// t ends.
func openSchema(t testing.TB, schema string) *Store {
	t.Helper()
	s, err := Open(context.Background(), testDSN(t), &Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func verifyPG(t *testing.T, src integrity.Source, pub ed25519.PublicKey, hk *integrity.HMACKey) *integrity.Report {
	t.Helper()
	opts := &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}, MaxFindings: -1}
	if hk != nil {
		opts.HMACKeys = []*integrity.HMACKey{hk}
	}
	rep, err := integrity.NewVerifier(src, opts).Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// sealCount returns how many seals, events and ids the store holds.
func sealCount(t *testing.T, s *Store) (seals, events, ids int) {
	t.Helper()
	err := s.pool.QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM seals), (SELECT count(*) FROM events), (SELECT count(*) FROM event_ids)`).Scan(&seals, &events, &ids)
	if err != nil {
		t.Fatal(err)
	}
	return
}

// Sealed batches, plain and keyed, verify end to end; a Writer given
// the chain id continues it after the store is opened anew; plain Write
// beside it stores unsealed events, reported as missing_hash.
func TestSealedVerify(t *testing.T) {
	ctx := context.Background()
	dsn := testDSN(t)
	schema := randomSchema(t, dsn)
	s := openSchema(t, schema)
	pub, priv, _ := integrity.GenerateKey()
	hk, _ := integrity.GenerateHMACKey()
	es := storetest.Fixture(230)

	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	chain := w.Chain().ID
	for i := 0; i < 100; i += 25 {
		if err := w.Write(ctx, es[i:i+25]); err != nil {
			t.Fatal(err)
		}
	}
	wk, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv, HMACKey: hk})
	if err != nil {
		t.Fatal(err)
	}
	if err := wk.Write(ctx, es[100:200]); err != nil { // one batch, above minSplit
		t.Fatal(err)
	}
	rep := verifyPG(t, s, pub, hk)
	if !rep.OK() || rep.Total != 200 || rep.Verified != 200 || len(rep.Chains) != 2 {
		t.Fatalf("OK %v total %d verified %d chains %+v findings %v", rep.OK(), rep.Total, rep.Verified, rep.Chains, rep.Findings)
	}
	// Without the HMAC key, the keyed chain cannot be checked.
	if rep := verifyPG(t, s, pub, nil); rep.OK() || rep.Counts[integrity.ReasonBadSignature] == 0 {
		t.Fatalf("keyed chain without its key: %v", rep.Findings)
	}

	// Opened anew: the chain goes on from its stored tail.
	s.Close()
	s = openSchema(t, schema)
	w, err = integrity.NewWriter(s, &integrity.WriterOptions{Chain: chain, SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, es[200:220]); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, es[220:]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, es[210].ID); err != nil {
		t.Fatal(err)
	}
	rep = verifyPG(t, s, pub, hk)
	if rep.Total != 230 || rep.Verified != 220 || rep.Unsealed != 10 || rep.Counts[integrity.ReasonMissingHash] != 10 || len(rep.Findings) != 10 {
		t.Fatalf("total %d verified %d unsealed %d findings %v", rep.Total, rep.Verified, rep.Unsealed, rep.Findings)
	}
	for _, c := range rep.Chains {
		if c.ID == chain && (c.Length != 120 || c.Anchored != 120) {
			t.Fatalf("chain %+v, want 120 events, all anchored", c)
		}
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 230 {
		t.Fatalf("Count = %d, %v", n, err)
	}
}

// A retried batch, and one that overlaps it with an id twice, are
// stored and sealed once: the chain has no gap and no event twice.
func TestSealedRetry(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, nil)
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(100)
	for _, b := range [][]activitylog.Event{
		es[:50], es[:50], append(es[40:60:60], es[59], es[45]), es[60:100], es[:100],
	} {
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// A new Writer of the same chain, which has no Chainer yet, retries.
	w2, err := integrity.NewWriter(s, &integrity.WriterOptions{Chain: w.Chain().ID, SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Write(ctx, es[90:]); err != nil {
		t.Fatal(err)
	}
	// An event stored by plain Write is not sealed again.
	extra := storetest.NewEvent(5000)
	if err := s.Write(ctx, []activitylog.Event{extra}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, []activitylog.Event{extra}); err != nil {
		t.Fatal(err)
	}
	if seals, events, ids := sealCount(t, s); seals != 100 || events != 101 || ids != 101 {
		t.Fatalf("%d seals, %d events, %d ids; want 100, 101, 101", seals, events, ids)
	}
	rep := verifyPG(t, s, pub, nil)
	if rep.Verified != 100 || rep.Unsealed != 1 || len(rep.Findings) != 1 || rep.Chains[0].Length != 100 {
		t.Fatalf("verified %d unsealed %d chains %+v findings %v", rep.Verified, rep.Unsealed, rep.Chains, rep.Findings)
	}
}

// Two Writers of one chain, writing at once, are serialized by the
// chain's lock: the chain holds every event once, seqs 1..n without a
// gap, and verifies. Each Writer finds the other's batches at the tail
// and restores from it.
func TestSealedConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, nil)
	pub, priv, _ := integrity.GenerateKey()
	chain := integrity.NewChainID(time.Now())
	const writers, batches, per = 2, 15, 20
	es := storetest.Fixture(writers * batches * per)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for k := range writers {
		w, err := integrity.NewWriter(s, &integrity.WriterOptions{Chain: chain, SigningKey: priv})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for b := range batches {
				i := (b*writers + k) * per
				if err := w.Write(ctx, es[i:i+per]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var n, lo, hi int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*), min(seq), max(seq) FROM seals WHERE chain = $1`, chain).Scan(&n, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if n != int64(len(es)) || lo != 1 || hi != n {
		t.Fatalf("%d seals, seqs %d..%d; want %d, 1..%d", n, lo, hi, len(es), len(es))
	}
	rep := verifyPG(t, s, pub, nil)
	if !rep.OK() || rep.Verified != len(es) || len(rep.Chains) != 1 || rep.Chains[0].Anchored != uint64(len(es)) {
		t.Fatalf("OK %v verified %d chains %+v findings %v", rep.OK(), rep.Verified, rep.Chains, rep.Findings)
	}
}

// A batch whose transaction fails leaves the chain as it was; the
// Writer restores from the stored tail and the chain has no gap.
func TestSealedFailedBatch(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, nil)
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(30)
	if err := w.Write(ctx, es[:10]); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.Write(cctx, es[10:20]); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write: %v", err)
	}
	// A seal func that fails stores nothing.
	boom := errors.New("boom")
	err = s.WriteSealed(ctx, w.Chain(), es[10:20], func(*integrity.State, []int) (integrity.SealedBatch, error) { return integrity.SealedBatch{}, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("failing seal: %v", err)
	}
	if err := w.Write(ctx, es[20:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, es[10:20]); err != nil {
		t.Fatal(err)
	}
	if rep := verifyPG(t, s, pub, nil); !rep.OK() || rep.Total != 30 || rep.Chains[0].Length != 30 {
		t.Fatalf("OK %v total %d chains %+v findings %v", rep.OK(), rep.Total, rep.Chains, rep.Findings)
	}
}

// A stored state that is not that of the chain's last seal is refused
// with ErrTornChain, and so is a different HMAC key.
func TestSealedTornTail(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, nil)
	w, err := integrity.NewWriter(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(20)
	if err := w.Write(ctx, es[:10]); err != nil {
		t.Fatal(err)
	}
	hk, _ := integrity.GenerateHMACKey()
	wk, _ := integrity.NewWriter(s, &integrity.WriterOptions{Chain: w.Chain().ID, HMACKey: hk})
	var fe *activitylog.FieldError
	if err := wk.Write(ctx, es[10:]); !errors.As(err, &fe) {
		t.Fatalf("write with another HMAC key: %v", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM seals WHERE seq = 10`); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, es[10:]); !errors.Is(err, integrity.ErrTornChain) {
		t.Fatalf("write after the tail was cut: %v, want ErrTornChain", err)
	}
}

// Events as Go code builds them (invalid UTF-8, NUL, integers beyond
// 2^53, structs in extra, other time zones) verify once stored: the
// columns, repaired as Write repairs them, agree with the document.
func TestSealedOddEvents(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, nil)
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(20)
	for i := range es {
		es[i].Actor.ID = "u\xff\xed\xa0\x80" + es[i].Actor.ID
		es[i].Message = "m\xe6\x97 \x00 \u2028 😀"
		es[i].Kind = activitylog.Kind("k\xff")
		es[i].Request.Geo.Country = "C\x00"
		es[i].Extra = map[string]any{"big": uint64(1<<63 + 1), "pt": struct{ X int }{i}, "f": float32(0.1), "nul": "a\x00b"}
		es[i].Time = es[i].Time.In(time.FixedZone("x", 5*3600+1800))
	}
	if err := w.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	if rep := verifyPG(t, s, pub, nil); !rep.OK() || rep.Verified != len(es) {
		t.Fatalf("OK %v verified %d findings %v", rep.OK(), rep.Verified, rep.Findings)
	}
}

// A bundle written from the store verifies offline, whole and filtered
// (the filtered one with inclusion proofs made from Hashes).
func TestSealedBundle(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, nil)
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(120)
	for i := 0; i < 100; i += 20 {
		if err := w.Write(ctx, es[i:i+20]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Write(ctx, es[100:]); err != nil { // unsealed
		t.Fatal(err)
	}
	for _, o := range []*integrity.ExportOptions{
		{PublicKeys: []ed25519.PublicKey{pub}},
		{PublicKeys: []ed25519.PublicKey{pub}, Chains: []string{w.Chain().ID}, Kinds: []activitylog.Kind{activitylog.KindAuth}},
	} {
		t.Run(fmt.Sprintf("filtered=%v", o.Filtered()), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "b.ndjson.gz")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			st, err := integrity.WriteBundle(ctx, s, f, o)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			b, err := integrity.OpenBundle(path)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := b.Verify(ctx, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}})
			if err != nil {
				t.Fatal(err)
			}
			if o.Filtered() {
				if !rep.OK() || st.Events == 0 || st.Events >= 100 || st.Proofs != st.Events || rep.Verified != st.Events {
					t.Fatalf("stats %+v: OK %v verified %d findings %v", st, rep.OK(), rep.Verified, rep.Findings)
				}
				return
			}
			if st.Events != 100 || st.Unsealed != 20 || rep.Verified != 100 || rep.Unsealed != 20 || len(rep.Findings) != 20 {
				t.Fatalf("stats %+v: verified %d unsealed %d findings %v", st, rep.Verified, rep.Unsealed, rep.Findings)
			}
		})
	}
	if _, err := s.Hashes(ctx, w.Chain().ID, 1, 101); err == nil {
		t.Fatal("Hashes past the chain's end: no error")
	}
	if hs, err := s.Hashes(ctx, w.Chain().ID, 5, 100); err != nil || len(hs) != 96 {
		t.Fatalf("Hashes 5..100: %d, %v", len(hs), err)
	}
}

// Purge deletes the unsealed events it selects and keeps the sealed
// ones, counted in KeptSealed: the chains still verify. A partition
// that holds a sealed event is not dropped whole.
func TestSealedPurgeKeeps(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, nil)
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(60)
	if err := w.Write(ctx, es[:40]); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, es[40:]); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(24 * 365 * time.Hour) // everything
	res, err := s.Purge(ctx, activitylog.PurgeRequest{Before: before, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 20 || res.KeptSealed != 40 {
		t.Fatalf("purge: %+v, want 20 deleted, 40 sealed kept", res)
	}
	rep := verifyPG(t, s, pub, nil)
	if !rep.OK() || rep.Total != 40 || rep.Verified != 40 {
		t.Fatalf("after purge: OK %v total %d verified %d findings %v", rep.OK(), rep.Total, rep.Verified, rep.Findings)
	}
	res, err = s.Purge(ctx, activitylog.PurgeRequest{Before: before, Tenant: es[0].Tenant, Kinds: []activitylog.Kind{es[0].Kind}})
	if err != nil || res.Deleted != 0 || res.KeptSealed == 0 {
		t.Fatalf("purge of one tenant and kind: %+v, %v", res, err)
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 40 {
		t.Fatalf("Count = %d, %v", n, err)
	}
}

// Flush stores a checkpoint of the events not yet covered by one, in a
// transaction with no events; with none left to cover it stores
// nothing.
func TestSealedFlush(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, nil)
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(40)
	for i := 0; i < 40; i += 10 {
		if err := w.Write(ctx, es[i:i+10]); err != nil {
			t.Fatal(err)
		}
	}
	if rep := verifyPG(t, s, pub, nil); !rep.OK() || rep.Chains[0].Length != 40 || rep.Chains[0].Anchored != 10 {
		t.Fatalf("before Flush: OK %v chains %+v", rep.OK(), rep.Chains)
	}
	for range 2 {
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM checkpoints`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d checkpoints, %v; want 2", n, err)
	}
	if rep := verifyPG(t, s, pub, nil); !rep.OK() || rep.Chains[0].Anchored != 40 {
		t.Fatalf("after Flush: OK %v chains %+v", rep.OK(), rep.Chains)
	}
}

// writeOrderedTrail writes 200 events in order (seq i+1 is
// storetest.NewEvent(i), whose times increase) in batches of 20, each
// with a checkpoint signed at the time of its last event, which is what
// Prune cuts by.
func writeOrderedTrail(t *testing.T, keyed bool) (*sealedTrail, ed25519.PrivateKey) {
	t.Helper()
	tr := &sealedTrail{s: openTest(t, nil)}
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
		if err := w.Write(context.Background(), es[i:i+tamperBatch]); err != nil {
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

func (tr *sealedTrail) prune(t *testing.T, priv ed25519.PrivateKey, before time.Time, batch int) PruneResult {
	t.Helper()
	res, err := tr.s.Prune(context.Background(), PruneOptions{Before: before, SigningKey: priv, HMACKeys: tr.hmacKeys(),
		Policy: "retention 90d", Actor: "retention-job", BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Prune deletes a chain's events up to its last checkpoint older than
// the cutoff, with a signed record stored first; the pruned trail
// verifies, and its records are checked: as sqlite/prune_test.go.
func TestSealedPrune(t *testing.T) {
	testDSN(t)
	ctx := context.Background()
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
				if r := res.Chains[0].Record; r.Policy != "retention 90d" || r.Actor != "retention-job" || r.Verify(tr.pub) != nil {
					t.Fatalf("record %+v", r)
				}
				if seals, events, ids := sealCount(t, tr.s); seals != 120 || events != 120 || ids != 120 {
					t.Fatalf("%d seals, %d events, %d ids left; want 120", seals, events, ids)
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
				// A bundle of the pruned trail carries the record and verifies.
				path := filepath.Join(t.TempDir(), "b.ndjson.gz")
				f, err := os.Create(path)
				if err != nil {
					t.Fatal(err)
				}
				st, err := integrity.WriteBundle(ctx, tr.s, f, &integrity.ExportOptions{PublicKeys: []ed25519.PublicKey{tr.pub}})
				if err != nil || f.Close() != nil || st.Prunes != 1 || st.Events != 120 {
					t.Fatalf("bundle: %+v, %v", st, err)
				}
				b, err := integrity.OpenBundle(path)
				if err != nil {
					t.Fatal(err)
				}
				if rep, err := b.Verify(ctx, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{tr.pub}, HMACKeys: tr.hmacKeys()}); err != nil || !rep.OK() || rep.Verified != 120 {
					t.Fatalf("bundle verify: %v %+v", err, rep)
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
				tr.exec(t, `UPDATE prunes SET body = $1`, b)
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
				tr.exec(t, `UPDATE seals SET hash = '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea WHERE seq = 33`)
				res, err := tr.s.Prune(ctx, PruneOptions{Before: prunedAt, SigningKey: priv, HMACKeys: tr.hmacKeys(), Policy: "p", Actor: "a"})
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
	ctx := context.Background()
	s := openTest(t, nil)
	_, priv, _ := integrity.GenerateKey()
	es := storetest.Fixture(30)
	if err := s.Write(ctx, es[:10]); err != nil {
		t.Fatal(err)
	}
	w, _ := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err := w.Write(ctx, es[10:]); err != nil {
		t.Fatal(err)
	}
	res, err := s.Prune(ctx, PruneOptions{Before: time.Now().Add(24 * 365 * time.Hour), SigningKey: priv, Policy: "p", Actor: "a", BatchSize: 3})
	if err != nil || res.Unsealed != 10 {
		t.Fatalf("prune: %+v, %v", res, err)
	}
	if seals, events, ids := sealCount(t, s); seals != 20 || events != 20 || ids != 20 {
		t.Fatalf("%d seals, %d events, %d ids; want 20", seals, events, ids)
	}
}
