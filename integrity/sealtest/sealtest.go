// Package sealtest is the conformance suite of the stores that seal
// events (integrity.SealStore): what every such store must do, checked
// through its exported methods with an integrity.Writer and the
// verifier. A store's test calls Run with a function that opens a fresh,
// empty store:
//
//	func TestSealConformance(t *testing.T) {
//		sealtest.Run(t, func(t *testing.T) sealtest.Store { return open(t) }, &sealtest.Options{
//			TearTail: func(t *testing.T, s sealtest.Store, chain string) { … },
//		})
//	}
//
// The cases that need an edit behind the store's back (a torn tail) use
// the hooks in Options, and are skipped when a hook is nil; the
// tampering cases proper (an event edited, deleted, swapped, forged)
// stay in each store's own tamper test, which edits its tables with
// SQL.
package sealtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/storetest"
)

// Store is what a sealing store implements: an activitylog.Store that
// an integrity.Writer writes to, that the verifier and WriteBundle read,
// that purges only unsealed events and prunes by retention, and that
// gives the seals and the last checkpoint that activitylog serve reads.
type Store interface {
	activitylog.Store
	activitylog.Purger
	integrity.SealStore
	integrity.BundleSource
	integrity.PruneSource
	// Seals returns the stored seals of the events ids, by id; an event
	// not stored is not in the map.
	Seals(ctx context.Context, ids []activitylog.ID) (map[activitylog.ID]integrity.Seal, error)
	// LastCheckpoint returns chain's checkpoint with the highest ToSeq,
	// and false when it has none.
	LastCheckpoint(ctx context.Context, chain string) (integrity.Checkpoint, bool, error)
	// Prune deletes events by retention (integrity.RunPrune).
	Prune(ctx context.Context, opts integrity.PruneOptions) (integrity.PruneResult, error)
}

// Options holds the hooks of the cases that edit a store behind its
// back. A nil *Options, or a nil hook, skips the cases that need it.
type Options struct {
	// TearTail deletes the newest stored event of chain (its row and its
	// seal), leaving the chain's stored state as it is: what a torn write
	// or an edit of the tail leaves. The next write of the chain must
	// fail with integrity.ErrTornChain.
	TearTail func(t *testing.T, s Store, chain string)
}

// Run runs the suite, each case as a subtest on a store that open
// returns fresh and empty. The cases run in parallel.
func Run(t *testing.T, open func(t *testing.T) Store, opts *Options) {
	var o Options
	if opts != nil {
		o = *opts
	}
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"WriteVerify", testWriteVerify},
		{"HMAC", testHMAC},
		{"Restart", testRestart},
		{"Redelivered", testRedelivered},
		{"FailedBatch", testFailedBatch},
		{"ParallelChains", testParallelChains},
		{"OneChainTwoWriters", testOneChainTwoWriters},
		{"OddEvents", testOddEvents},
		{"Reads", testReads},
		{"Bundle", testBundle},
		{"Prune", testPrune},
		{"PurgeKeepsSealed", testPurgeKeepsSealed},
		{"OtherKey", testOtherKey},
		{"TornTail", func(t *testing.T, s Store) {
			if o.TearTail == nil {
				t.Skip("the backend gives no Options.TearTail")
			}
			testTornTail(t, s, o.TearTail)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open(t))
		})
	}
}

// keys is a checkpoint key pair.
type keys struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newKeys(t *testing.T) keys {
	t.Helper()
	pub, priv, err := integrity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return keys{pub, priv}
}

func newWriter(t *testing.T, s Store, o *integrity.WriterOptions) *integrity.Writer {
	t.Helper()
	w, err := integrity.NewWriter(s, o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// writeBatches writes events through w in batches of n.
func writeBatches(t *testing.T, w *integrity.Writer, events []activitylog.Event, n int) {
	t.Helper()
	for i := 0; i < len(events); i += n {
		if err := w.Write(context.Background(), events[i:min(i+n, len(events))]); err != nil {
			t.Fatalf("write events %d..%d: %v", i, min(i+n, len(events))-1, err)
		}
	}
}

// verify runs the verifier over s with the public key (and HMAC key).
func verify(t *testing.T, s integrity.Source, pub ed25519.PublicKey, hk *integrity.HMACKey) *integrity.Report {
	t.Helper()
	opts := &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}, MaxFindings: -1}
	if hk != nil {
		opts.HMACKeys = []*integrity.HMACKey{hk}
	}
	rep, err := integrity.NewVerifier(s, opts).Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// wantOK fails unless rep is OK with n events verified, of n in all, in
// chains chains.
func wantOK(t *testing.T, rep *integrity.Report, n, chains int) {
	t.Helper()
	if !rep.OK() || rep.Verified != n || rep.Total != n || len(rep.Chains) != chains {
		t.Fatalf("report: OK %v, verified %d, total %d, chains %d; want OK, %d, %d, %d; findings %v",
			rep.OK(), rep.Verified, rep.Total, len(rep.Chains), n, n, chains, rep.Findings)
	}
}

// count returns how many events s holds.
func count(t *testing.T, s Store) int64 {
	t.Helper()
	n, err := s.Count(context.Background(), activitylog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// seals returns the seals of events, failing unless each has one, in
// chain, and their seqs are 1..len(events) in the events' order.
func wantSeqs(t *testing.T, s Store, chain string, events []activitylog.Event) map[activitylog.ID]integrity.Seal {
	t.Helper()
	ids := make([]activitylog.ID, len(events))
	for i := range events {
		ids[i] = events[i].ID
	}
	got, err := s.Seals(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range events {
		sl, ok := got[e.ID]
		if !ok {
			t.Fatalf("event %d (%s) has no seal", i, e.ID)
		}
		if sl.Chain != chain || sl.Seq != uint64(i+1) {
			t.Fatalf("event %d (%s): seal %s seq %d, want %s seq %d", i, e.ID, sl.Chain, sl.Seq, chain, i+1)
		}
	}
	return got
}

// Events written in batches, with a checkpoint each, verify; the chain
// holds them in order, each stored once, each checkpoint verified.
func testWriteVerify(t *testing.T, s Store) {
	k := newKeys(t)
	w := newWriter(t, s, &integrity.WriterOptions{SigningKey: k.priv})
	es := storetest.Fixture(100)
	writeBatches(t, w, es, 20)
	rep := verify(t, s, k.pub, nil)
	wantOK(t, rep, 100, 1)
	if c := rep.Chains[0]; c.ID != w.Chain().ID || c.Length != 100 || c.Anchored != 100 || rep.CheckpointsVerified != 5 {
		t.Fatalf("chain %+v, %d checkpoints verified; want %s of length 100, anchored to 100, 5 checkpoints", c, rep.CheckpointsVerified, w.Chain().ID)
	}
	wantSeqs(t, s, w.Chain().ID, es)
	if n := count(t, s); n != 100 {
		t.Fatalf("%d events stored, want 100", n)
	}
	for _, e := range es[:3] {
		got, err := s.Get(context.Background(), e.ID)
		if err != nil || got.Action != e.Action {
			t.Fatalf("Get(%s): %+v, %v", e.ID, got, err)
		}
	}
}

// A chain keyed with an HMAC key verifies with the key, and not without.
func testHMAC(t *testing.T, s Store) {
	k := newKeys(t)
	hk, err := integrity.GenerateHMACKey()
	if err != nil {
		t.Fatal(err)
	}
	w := newWriter(t, s, &integrity.WriterOptions{SigningKey: k.priv, HMACKey: hk})
	writeBatches(t, w, storetest.Fixture(50), 10)
	wantOK(t, verify(t, s, k.pub, hk), 50, 1)
	if rep := verify(t, s, k.pub, nil); rep.OK() {
		t.Fatal("a keyed chain verified without its key")
	}
	chains, err := s.Chains(context.Background())
	if err != nil || len(chains) != 1 || chains[0] != w.Chain() {
		t.Fatalf("Chains: %+v, %v; want %+v", chains, err, w.Chain())
	}
}

// A new Writer of a stored chain (a restarted process) continues from
// the stored tail: seqs go on without a gap.
func testRestart(t *testing.T, s Store) {
	k := newKeys(t)
	es := storetest.Fixture(60)
	w := newWriter(t, s, &integrity.WriterOptions{SigningKey: k.priv})
	writeBatches(t, w, es[:30], 10)
	w2 := newWriter(t, s, &integrity.WriterOptions{Chain: w.Chain().ID, SigningKey: k.priv})
	writeBatches(t, w2, es[30:], 10)
	wantOK(t, verify(t, s, k.pub, nil), 60, 1)
	wantSeqs(t, s, w.Chain().ID, es)
}

// A batch delivered again (all of it, part of it, with an id twice) is
// stored and sealed once: the chain holds each event once, and an event
// stored unsealed by Write is not sealed when a Writer is given it.
func testRedelivered(t *testing.T, s Store) {
	ctx := context.Background()
	k := newKeys(t)
	w := newWriter(t, s, &integrity.WriterOptions{SigningKey: k.priv})
	es := storetest.Fixture(100)
	for _, b := range [][]activitylog.Event{
		es[:50], es[:50], append(es[40:60:60], es[59], es[45]), es[60:100], es[:100],
	} {
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// A new Writer of the same chain, which has no Chainer yet, retries.
	w2 := newWriter(t, s, &integrity.WriterOptions{Chain: w.Chain().ID, SigningKey: k.priv})
	if err := w2.Write(ctx, es[90:]); err != nil {
		t.Fatal(err)
	}
	wantOK(t, verify(t, s, k.pub, nil), 100, 1)
	wantSeqs(t, s, w.Chain().ID, es)

	extra := storetest.NewEvent(5000)
	if err := s.Write(ctx, []activitylog.Event{extra}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, []activitylog.Event{extra}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Seals(ctx, []activitylog.ID{extra.ID}); err != nil || len(got) != 0 {
		t.Fatalf("an event stored by Write, given to a Writer after: seals %v, %v; want none", got, err)
	}
	if n := count(t, s); n != 101 {
		t.Fatalf("%d events stored, want 101", n)
	}
	rep := verify(t, s, k.pub, nil)
	if rep.Verified != 100 || rep.Unsealed != 1 || len(rep.Findings) != 1 || rep.Findings[0].EventID != extra.ID {
		t.Fatalf("verified %d, unsealed %d, findings %v; want 100, 1, one for %s", rep.Verified, rep.Unsealed, rep.Findings, extra.ID)
	}
}

// A batch that fails (a cancelled context, a seal function that fails)
// stores nothing; the Writer continues from the stored tail.
func testFailedBatch(t *testing.T, s Store) {
	ctx := context.Background()
	k := newKeys(t)
	w := newWriter(t, s, &integrity.WriterOptions{SigningKey: k.priv})
	es := storetest.Fixture(30)
	if err := w.Write(ctx, es[:10]); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.Write(cctx, es[10:20]); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write: %v, want context.Canceled", err)
	}
	boom := errors.New("boom")
	err := s.WriteSealed(ctx, w.Chain(), es[10:20], func(*integrity.State, []int) (integrity.SealedBatch, error) {
		return integrity.SealedBatch{}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failing seal: %v, want boom", err)
	}
	if n := count(t, s); n != 10 {
		t.Fatalf("%d events stored after the failed batches, want 10", n)
	}
	if err := w.Write(ctx, es[20:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, es[10:20]); err != nil {
		t.Fatal(err)
	}
	rep := verify(t, s, k.pub, nil)
	wantOK(t, rep, 30, 1)
	if rep.Chains[0].Length != 30 {
		t.Fatalf("chain %+v, want length 30", rep.Chains[0])
	}
}

// Two Writers of two chains write at once; both chains verify.
func testParallelChains(t *testing.T, s Store) {
	k := newKeys(t)
	es := storetest.Fixture(200)
	ws := []*integrity.Writer{
		newWriter(t, s, &integrity.WriterOptions{SigningKey: k.priv}),
		newWriter(t, s, &integrity.WriterOptions{SigningKey: k.priv, Chain: integrity.NewChainID(time.Now()) + "-b"}),
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for i, w := range ws {
		wg.Go(func() {
			part := es[i*100 : (i+1)*100]
			for b := 0; b < len(part); b += 10 {
				if err := w.Write(context.Background(), part[b:b+10]); err != nil {
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
	wantOK(t, verify(t, s, k.pub, nil), 200, 2)
	for i, w := range ws {
		wantSeqs(t, s, w.Chain().ID, es[i*100:(i+1)*100])
	}
	chains, err := s.Chains(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []integrity.ChainInfo{ws[0].Chain(), ws[1].Chain()}
	slices.SortFunc(want, func(a, b integrity.ChainInfo) int { return cmpString(a.ID, b.ID) })
	if !slices.Equal(chains, want) {
		t.Fatalf("Chains: %+v, want %+v", chains, want)
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Two Writers of one chain, writing at once, are serialized by the
// store: the chain holds every event once, seqs 1..n without a gap, and
// verifies. (A chain should have one Writer at a time; the store keeps
// it whole all the same.)
func testOneChainTwoWriters(t *testing.T, s Store) {
	k := newKeys(t)
	chain := integrity.NewChainID(time.Now())
	const writers, batches, per = 2, 10, 10
	es := storetest.Fixture(writers * batches * per)
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		w := newWriter(t, s, &integrity.WriterOptions{Chain: chain, SigningKey: k.priv})
		wg.Go(func() {
			for b := range batches {
				j := (b*writers + i) * per
				if err := w.Write(context.Background(), es[j:j+per]); err != nil {
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
	rep := verify(t, s, k.pub, nil)
	wantOK(t, rep, len(es), 1)
	if c := rep.Chains[0]; c.Length != uint64(len(es)) || c.Anchored != uint64(len(es)) {
		t.Fatalf("chain %+v, want length and anchored %d", c, len(es))
	}
}

// Events as Go code builds them (invalid UTF-8, NUL, integers beyond
// 2^53, structs in extra, other time zones) verify once stored: the
// store's columns agree with its document.
func testOddEvents(t *testing.T, s Store) {
	k := newKeys(t)
	w := newWriter(t, s, &integrity.WriterOptions{SigningKey: k.priv})
	es := storetest.Fixture(20)
	for i := range es {
		es[i].Actor.ID = "u\xff\xed\xa0\x80" + es[i].Actor.ID
		es[i].Message = "m\xe6\x97 \x00 \u2028 😀 Ünïcode"
		es[i].Kind = activitylog.Kind("k\xff")
		es[i].Request.Geo.Country = "C\x00"
		es[i].Object.ID = string(bytes.Repeat([]byte("é"), 700)) // longer than a column may keep whole
		es[i].Extra = map[string]any{"big": uint64(1<<63 + 1), "pt": struct{ X int }{i}, "f": float32(0.1), "nul": "a\x00b"}
		es[i].Time = es[i].Time.In(time.FixedZone("x", 5*3600+1800))
	}
	if err := w.Write(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	wantOK(t, verify(t, s, k.pub, nil), len(es), 1)
}

// Hashes, Checkpoints, Seals and LastCheckpoint agree with what the
// Writer wrote.
func testReads(t *testing.T, s Store) {
	ctx := context.Background()
	k := newKeys(t)
	var cps []integrity.Checkpoint
	w := newWriter(t, s, &integrity.WriterOptions{SigningKey: k.priv, Witness: witnessFunc(func(cp integrity.Checkpoint) {
		cps = append(cps, cp)
	})})
	chain := w.Chain().ID
	if _, ok, err := s.LastCheckpoint(ctx, chain); err != nil || ok {
		t.Fatalf("LastCheckpoint of a chain not written: %v, %v; want none", ok, err)
	}
	es := storetest.Fixture(40)
	writeBatches(t, w, es, 10)
	sl := wantSeqs(t, s, chain, es)

	// Each seal links to the one before, and Hashes gives their hashes.
	hs, err := s.Hashes(ctx, chain, 1, 40)
	if err != nil || len(hs) != 40 {
		t.Fatalf("Hashes 1..40: %d, %v", len(hs), err)
	}
	for i, e := range es {
		if sl[e.ID].Hash != hs[i] || i > 0 && sl[e.ID].Prev != hs[i-1] {
			t.Fatalf("seq %d: seal %+v, Hashes %v", i+1, sl[e.ID], hs[max(i-1, 0):i+1])
		}
	}
	if part, err := s.Hashes(ctx, chain, 5, 12); err != nil || !slices.Equal(part, hs[4:12]) {
		t.Fatalf("Hashes 5..12: %v, %v", part, err)
	}
	for _, r := range [][2]uint64{{1, 41}, {41, 41}, {0, 3}, {5, 4}} {
		if _, err := s.Hashes(ctx, chain, r[0], r[1]); err == nil {
			t.Errorf("Hashes %d..%d of a chain of 40: no error", r[0], r[1])
		}
	}
	if got, err := s.Seals(ctx, []activitylog.ID{storetest.NewEvent(999).ID}); err != nil || len(got) != 0 {
		t.Errorf("Seals of an event not stored: %v, %v", got, err)
	}
	if got, err := s.Seals(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("Seals of no ids: %v, %v", got, err)
	}

	// The checkpoints are those the Writer made, by ToSeq, each signed.
	stored, err := s.Checkpoints(ctx, chain)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 4 || len(cps) != 4 {
		t.Fatalf("%d checkpoints stored, %d witnessed; want 4", len(stored), len(cps))
	}
	for i, cp := range stored {
		if !sameCheckpoint(cp, cps[i]) || cp.ToSeq != uint64(10*(i+1)) || cp.Verify(k.pub) != nil {
			t.Fatalf("checkpoint %d: %+v, witnessed %+v", i, cp, cps[i])
		}
	}
	last, ok, err := s.LastCheckpoint(ctx, chain)
	if err != nil || !ok || !sameCheckpoint(last, cps[3]) {
		t.Fatalf("LastCheckpoint: %+v, %v, %v; want %+v", last, ok, err, cps[3])
	}
	if got, err := s.Checkpoints(ctx, "no-such-chain"); err != nil || len(got) != 0 {
		t.Fatalf("Checkpoints of no chain: %v, %v", got, err)
	}
	if got, err := s.Prunes(ctx, chain); err != nil || len(got) != 0 {
		t.Fatalf("Prunes of a chain never pruned: %v, %v", got, err)
	}
}

// sameCheckpoint compares checkpoints by their JSON, signature included.
func sameCheckpoint(a, b integrity.Checkpoint) bool {
	ja, err1 := a.MarshalJSON()
	jb, err2 := b.MarshalJSON()
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// witnessFunc is an integrity.Witness that calls a function.
type witnessFunc func(integrity.Checkpoint)

func (f witnessFunc) Write(_ context.Context, cp integrity.Checkpoint) error {
	f(cp)
	return nil
}

// A bundle written from the store verifies offline, whole (unsealed
// events reported) and filtered (with inclusion proofs from Hashes).
func testBundle(t *testing.T, s Store) {
	ctx := context.Background()
	k := newKeys(t)
	w := newWriter(t, s, &integrity.WriterOptions{SigningKey: k.priv})
	es := storetest.Fixture(120)
	writeBatches(t, w, es[:100], 20)
	if err := s.Write(ctx, es[100:]); err != nil { // unsealed
		t.Fatal(err)
	}
	for _, o := range []*integrity.ExportOptions{
		{PublicKeys: []ed25519.PublicKey{k.pub}},
		{PublicKeys: []ed25519.PublicKey{k.pub}, Chains: []string{w.Chain().ID}, Kinds: []activitylog.Kind{activitylog.KindAuth}},
	} {
		t.Run(fmt.Sprintf("filtered=%v", o.Filtered()), func(t *testing.T) {
			st, rep := bundle(t, s, o, k.pub, nil)
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
}

// bundle writes a bundle of s with o and verifies it offline.
func bundle(t *testing.T, s Store, o *integrity.ExportOptions, pub ed25519.PublicKey, hk []*integrity.HMACKey) (*integrity.ExportStats, *integrity.Report) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.ndjson.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := integrity.WriteBundle(ctx, s, f, o)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := integrity.OpenBundle(path)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := b.Verify(ctx, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}, HMACKeys: hk, MaxFindings: -1})
	if err != nil {
		t.Fatal(err)
	}
	return st, rep
}

// Prune cuts a chain at its last checkpoint older than the cutoff,
// storing a signed record first; the pruned chain verifies with the gap
// accepted, in the store and in a bundle, and a second Prune does
// nothing more. The unsealed events older than the cutoff go too. A
// bundle of selected events after the cut verifies too.
func testPrune(t *testing.T, s Store) {
	ctx := context.Background()
	k := newKeys(t)
	hk, err := integrity.GenerateHMACKey()
	if err != nil {
		t.Fatal(err)
	}
	// Event i is storetest.NewEvent(i), whose times increase; each batch
	// of 10 is checkpointed at the time of its last event.
	var clock time.Time
	w := newWriter(t, s, &integrity.WriterOptions{SigningKey: k.priv, HMACKey: hk, Now: func() time.Time { return clock }})
	var es []activitylog.Event
	for i := range 100 {
		es = append(es, storetest.NewEvent(i))
	}
	for i := 0; i < len(es); i += 10 {
		clock = es[i+9].Time
		if err := w.Write(ctx, es[i:i+10]); err != nil {
			t.Fatal(err)
		}
	}
	old := []activitylog.Event{storetest.NewEvent(1000), storetest.NewEvent(1001)}
	old[0].Time, old[1].Time = es[0].Time.Add(-time.Hour), es[99].Time.Add(time.Hour) // one older than the cutoff, one not
	if err := s.Write(ctx, old); err != nil {
		t.Fatal(err)
	}
	before := es[44].Time // events 0..43 older: the cut is the checkpoint 31..40
	opts := integrity.PruneOptions{Before: before, SigningKey: k.priv, HMACKeys: []*integrity.HMACKey{hk},
		Policy: "retention 90d", Actor: "sealtest", BatchSize: 7}
	res, err := s.Prune(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Chains) != 1 || res.Chains[0].UpToSeq != 40 || res.Chains[0].Deleted != 40 || res.Unsealed != 1 || res.Deleted != 41 ||
		res.Chains[0].Record == nil {
		t.Fatalf("result %+v; want the chain cut at 40, 40 sealed and 1 unsealed events deleted, a record", res)
	}
	if r := res.Chains[0].Record; r.Policy != "retention 90d" || r.Actor != "sealtest" || r.Verify(k.pub) != nil {
		t.Fatalf("record %+v", r)
	}
	if recs, err := s.Prunes(ctx, w.Chain().ID); err != nil || len(recs) != 1 || recs[0].UpToSeq != 40 || recs[0].Verify(k.pub) != nil {
		t.Fatalf("Prunes: %+v, %v", recs, err)
	}
	if n := count(t, s); n != 61 {
		t.Fatalf("%d events left, want 61", n)
	}
	if got, err := s.Seals(ctx, []activitylog.ID{es[39].ID, es[40].ID}); err != nil || len(got) != 1 || got[es[40].ID].Seq != 41 {
		t.Fatalf("Seals of seq 40 (pruned) and 41: %v, %v", got, err)
	}
	rep := verify(t, s, k.pub, hk)
	if rep.Verified != 60 || rep.Unsealed != 1 || len(rep.Findings) != 1 || rep.Findings[0].EventID != old[1].ID {
		t.Fatalf("after prune: verified %d, unsealed %d, findings %v; want 60, 1, one for %s", rep.Verified, rep.Unsealed, rep.Findings, old[1].ID)
	}
	if c := rep.Chains[0]; c.PrunedTo != 40 || c.Length != 100 || c.CheckpointsPruned != 4 {
		t.Fatalf("chain %+v; want pruned to 40, length 100, 4 checkpoints pruned", c)
	}
	if again, err := s.Prune(ctx, opts); err != nil || again.Chains[0].UpToSeq != 40 || again.Deleted != 0 || again.Chains[0].Record != nil {
		t.Fatalf("second prune: %+v, %v", again, err)
	}
	// A bundle of the pruned chain carries the record and verifies.
	st, brep := bundle(t, s, &integrity.ExportOptions{PublicKeys: []ed25519.PublicKey{k.pub}, Chains: []string{w.Chain().ID}},
		k.pub, []*integrity.HMACKey{hk})
	if st.Prunes != 1 || st.Events != 60 || !brep.OK() || brep.Verified != 60 {
		t.Fatalf("bundle %+v: OK %v verified %d findings %v", st, brep.OK(), brep.Verified, brep.Findings)
	}
	// So does a bundle of selected events: it begins at the cut, with
	// the record, and proves each event from the hashes after it.
	st, brep = bundle(t, s, &integrity.ExportOptions{PublicKeys: []ed25519.PublicKey{k.pub}, Chains: []string{w.Chain().ID}, From: es[50].Time},
		k.pub, []*integrity.HMACKey{hk})
	if st.Prunes != 1 || st.Checkpoints != 7 || st.Proofs != 50 || st.Uncovered != 0 || !brep.OK() || brep.Verified != 50 || brep.Chains[0].PrunedTo != 40 {
		t.Fatalf("bundle of selected events %+v: OK %v verified %d findings %v", st, brep.OK(), brep.Verified, brep.Findings)
	}
	// The chain goes on after the cut.
	if err := w.Write(ctx, []activitylog.Event{storetest.NewEvent(100)}); err != nil {
		t.Fatal(err)
	}
	if rep := verify(t, s, k.pub, hk); rep.Verified != 61 || len(rep.Findings) != 1 {
		t.Fatalf("after a write: verified %d, findings %v", rep.Verified, rep.Findings)
	}
}

// A chain refuses a Writer with another HMAC key (or none) with an
// error naming the key, and stores nothing.
func testOtherKey(t *testing.T, s Store) {
	ctx := context.Background()
	w := newWriter(t, s, nil)
	es := storetest.Fixture(20)
	if err := w.Write(ctx, es[:10]); err != nil {
		t.Fatal(err)
	}
	hk, err := integrity.GenerateHMACKey()
	if err != nil {
		t.Fatal(err)
	}
	wk := newWriter(t, s, &integrity.WriterOptions{Chain: w.Chain().ID, HMACKey: hk})
	var fe *activitylog.FieldError
	if err := wk.Write(ctx, es[10:]); !errors.As(err, &fe) || !errors.Is(err, activitylog.ErrInvalid) {
		t.Fatalf("write with another HMAC key: %v, want a FieldError", err)
	}
	if n := count(t, s); n != 10 {
		t.Fatalf("%d events stored, want 10", n)
	}
}

// A chain whose stored state is not that of its last stored event is
// refused with ErrTornChain, by its Writer and by a new one, and
// stores nothing; a new chain writes on.
func testTornTail(t *testing.T, s Store, tear func(t *testing.T, s Store, chain string)) {
	ctx := context.Background()
	k := newKeys(t)
	w := newWriter(t, s, &integrity.WriterOptions{SigningKey: k.priv})
	es := storetest.Fixture(30)
	if err := w.Write(ctx, es[:10]); err != nil {
		t.Fatal(err)
	}
	tear(t, s, w.Chain().ID)
	before := count(t, s)
	if err := w.Write(ctx, es[10:20]); !errors.Is(err, integrity.ErrTornChain) {
		t.Fatalf("write after the tail was torn: %v, want ErrTornChain", err)
	}
	w2 := newWriter(t, s, &integrity.WriterOptions{Chain: w.Chain().ID, SigningKey: k.priv})
	if err := w2.Write(ctx, es[10:20]); !errors.Is(err, integrity.ErrTornChain) {
		t.Fatalf("new Writer after the tail was torn: %v, want ErrTornChain", err)
	}
	if n := count(t, s); n != before {
		t.Fatalf("%d events stored after refused writes, want %d", n, before)
	}
	w3 := newWriter(t, s, &integrity.WriterOptions{SigningKey: k.priv})
	if err := w3.Write(ctx, es[20:]); err != nil {
		t.Fatalf("a new chain after a torn one: %v", err)
	}
	wantSeqs(t, s, w3.Chain().ID, es[20:])
}

// Purge deletes the unsealed events it selects and keeps the sealed
// ones, counted in KeptSealed: the chain still verifies.
func testPurgeKeepsSealed(t *testing.T, s Store) {
	ctx := context.Background()
	k := newKeys(t)
	w := newWriter(t, s, &integrity.WriterOptions{SigningKey: k.priv})
	es := storetest.Fixture(60)
	if err := w.Write(ctx, es[:40]); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, es[40:]); err != nil {
		t.Fatal(err)
	}
	before := es[59].Time.Add(time.Hour) // everything
	res, err := s.Purge(ctx, activitylog.PurgeRequest{Before: before, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 20 || res.KeptSealed != 40 {
		t.Fatalf("purge: %+v, want 20 deleted, 40 sealed kept", res)
	}
	wantOK(t, verify(t, s, k.pub, nil), 40, 1)
	res, err = s.Purge(ctx, activitylog.PurgeRequest{Before: before, Tenant: es[0].Tenant, Kinds: []activitylog.Kind{es[0].Kind}})
	if err != nil || res.Deleted != 0 || res.KeptSealed == 0 {
		t.Fatalf("purge of one tenant and kind: %+v, %v; want nothing deleted, some sealed kept", res, err)
	}
	if n := count(t, s); n != 40 {
		t.Fatalf("%d events left, want 40", n)
	}
}
