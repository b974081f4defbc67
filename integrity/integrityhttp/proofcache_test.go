package integrityhttp_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"fmt"
	"github.com/activitylog/activitylog/internal/racebuild"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/integrity/integrityhttp"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

// hashCounter counts the event hashes the Service reads.
type hashCounter struct {
	*sqlite.Store
	calls, reads atomic.Int64
}

func (s *hashCounter) Hashes(ctx context.Context, chain string, from, to uint64) ([]integrity.Hash, error) {
	s.calls.Add(1)
	hs, err := s.Store.Hashes(ctx, chain, from, to)
	s.reads.Add(int64(len(hs)))
	return hs, err
}

// take returns the calls and hashes read since the last take.
func (s *hashCounter) take() (calls, reads int64) { return s.calls.Swap(0), s.reads.Swap(0) }

// trail is one sealed chain of n events in a SQLite file, written in
// batches with a checkpoint each (checkpoint times a minute apart from
// t0), served with the subtree cache's blocks of 8 events.
type trail struct {
	path   string
	store  *hashCounter
	priv   ed25519.PrivateKey
	pub    ed25519.PublicKey
	chain  string
	events []activitylog.Event // by seq
	cps    []uint64            // the checkpoints' to_seqs
	t0     time.Time
	svc    *integrityhttp.Service
	h      http.Handler
}

func newTrail(t testing.TB, n, batch int) *trail {
	t.Helper()
	tr := &trail{path: filepath.Join(t.TempDir(), "audit.db"), t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, err := sqlite.Open(tr.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tr.store = &hashCounter{Store: s}
	if tr.pub, tr.priv, err = integrity.GenerateKey(); err != nil {
		t.Fatal(err)
	}
	var now time.Time
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: tr.priv, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tr.chain = w.Chain().ID
	tr.events = storetest.Fixture(n)
	for i := 0; i < n; i += batch {
		now = tr.t0.Add(time.Duration(i/batch) * time.Minute)
		j := min(n, i+batch)
		if err := w.Write(context.Background(), tr.events[i:j]); err != nil {
			t.Fatal(err)
		}
		tr.cps = append(tr.cps, uint64(j))
	}
	tr.svc, tr.h = tr.serve(t)
	return tr
}

// serve returns a new Service over the trail (an empty cache), and its
// handler.
func (tr *trail) serve(t testing.TB) (*integrityhttp.Service, http.Handler) {
	t.Helper()
	svc, err := integrityhttp.New(tr.store, &integrityhttp.Options{
		PublicKeys: []ed25519.PublicKey{tr.pub},
		ProofCache: &integrity.SubtreeOptions{Shift: 3},
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc, server.New(tr.store.Store, nil, &server.Options{Authenticate: auth, Logger: slog.New(slog.DiscardHandler), Routes: svc.Routes()})
}

func (tr *trail) get(t testing.TB, h http.Handler, url string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", url, nil)
	r.Header.Set("Authorization", "Bearer root")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// proof answers the proof of the event of seq to the checkpoint to_seq
// size (0: the default), wanting status.
func (tr *trail) proof(t testing.TB, seq, size uint64, status int) proofBody {
	t.Helper()
	url := "/api/v1/events/" + tr.events[seq-1].ID.String() + "/proof"
	if size != 0 {
		url += fmt.Sprintf("?checkpoint=%d", size)
	}
	var p proofBody
	w := tr.get(t, tr.h, url)
	if w.Code != status {
		t.Fatalf("proof of seq %d to %d: %d %s", seq, size, w.Code, w.Body)
	}
	if status == 200 {
		decode(t, w, &p)
		if p.Seal.Seq != seq {
			t.Fatalf("proof of seq %d: the event is seq %d", seq, p.Seal.Seq)
		}
	}
	return p
}

func (tr *trail) consistency(t testing.TB, from, to uint64, status int) []integrity.Hash {
	t.Helper()
	w := tr.get(t, tr.h, fmt.Sprintf("/api/v1/integrity/consistency?chain=%s&from=%d&to=%d", tr.chain, from, to))
	if w.Code != status {
		t.Fatalf("consistency %d to %d: %d %s", from, to, w.Code, w.Body)
	}
	var c struct {
		Proof []integrity.Hash `json:"proof"`
	}
	if status == 200 {
		decode(t, w, &c)
	}
	return c.Proof
}

func decode(t testing.TB, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("%v: %s", err, w.Body)
	}
}

// hashes reads the chain's stored hashes, uncounted.
func (tr *trail) hashes(t testing.TB) integrity.HashesFunc {
	t.Helper()
	all, err := tr.store.Store.Hashes(context.Background(), tr.chain, 1, uint64(len(tr.events)))
	if err != nil {
		t.Fatal(err)
	}
	return func(from, to uint64) ([]integrity.Hash, error) { return slices.Clone(all[from-1 : to]), nil }
}

func (tr *trail) setHash(t testing.TB, seq uint64, h []byte) {
	t.Helper()
	db, err := sql.Open("sqlite", tr.path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE events SET hash = ? WHERE chain = ? AND chain_seq = ?`, h, tr.chain, seq)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("seq %d: %d rows", seq, n)
	}
}

// Every proof the API answers from the cache is integrity's, byte for
// byte, to every checkpoint (each batch of 37 ends at an odd to_seq,
// and the last one, 1201, is not a multiple of the block of 8); once
// the first proof has read the blocks, each proof reads at most two
// blocks' worth of hashes, where InclusionProof reads every hash up to
// its checkpoint.
func TestProofsFromCache(t *testing.T) {
	const n = 1201
	tr := newTrail(t, n, 37)
	hashes := tr.hashes(t)
	last := tr.cps[len(tr.cps)-1]

	if _, err := integrity.InclusionProof(1, last, func(f, to uint64) ([]integrity.Hash, error) {
		return tr.store.Hashes(context.Background(), tr.chain, f, to)
	}); err != nil {
		t.Fatal(err)
	}
	if _, reads := tr.store.take(); reads != n-1 {
		t.Fatalf("InclusionProof read %d hashes, want %d", reads, n-1)
	}
	tr.proof(t, 1, 0, 200) // reads the blocks
	if _, reads := tr.store.take(); reads > n+16 {
		t.Fatalf("the first proof read %d hashes, want at most %d (the blocks, then its own nodes)", reads, n+16)
	}
	var most int64
	// Every seq without the race detector; under it (where this loop took
	// 40 s) every 7th and the last, which still reach every checkpoint.
	step := uint64(1)
	if racebuild.Enabled {
		step = 7
	}
	for seq := uint64(1); seq <= n; seq = nextSeq(seq, step, n) {
		first := tr.cps[slices.IndexFunc(tr.cps, func(to uint64) bool { return to >= seq })]
		for _, size := range []uint64{0, first} {
			p := tr.proof(t, seq, size, 200)
			calls, reads := tr.store.take()
			if reads > 16 || calls > 3 {
				t.Fatalf("proof of seq %d to %d: %d reads of %d hashes, want at most 3 of 16", seq, size, calls, reads)
			}
			most = max(most, reads)
			want, err := integrity.InclusionProof(seq, p.TreeSize, hashes)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Proof, want) {
				t.Fatalf("proof of seq %d to %d:\n got %x\nwant %x", seq, p.TreeSize, p.Proof, want)
			}
		}
	}
	for i, from := range tr.cps {
		for _, to := range tr.cps[i:] {
			got := tr.consistency(t, from, to, 200)
			calls, reads := tr.store.take()
			if reads > 16 || calls > 3 {
				t.Fatalf("consistency %d to %d: %d reads of %d hashes, want at most 3 of 16", from, to, calls, reads)
			}
			want, err := integrity.ConsistencyProof(from, to, hashes)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("consistency %d to %d:\n got %x\nwant %x", from, to, got, want)
			}
		}
	}
	t.Logf("at most %d hashes read per proof in a chain of %d (InclusionProof: %d)", most, n, n-1)
}

// A hash altered before the blocks are read makes them disagree with
// the signed root: 409 proof_failed, as without the cache, and the
// cache forgets the chain, so that once the hash is put back the proofs
// are answered again. A hash altered under a proof's own nodes smaller
// than a block, or an event's own hash, is read by every proof: 409.
// A hash altered after its block was read is no longer read: the proof
// the cache answers is still the one of the signed tree, and the
// verifier finds the alteration.
func TestProofOfAlteredCachedChain(t *testing.T) {
	tr := newTrail(t, 333, 37)
	ctx := context.Background()
	good, err := tr.store.Store.Hashes(ctx, tr.chain, 1, 333)
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 32)

	tr.setHash(t, 20, zero) // in the block of seqs 17 to 24
	for _, seq := range []uint64{1, 200, 333} {
		w := tr.get(t, tr.h, "/api/v1/events/"+tr.events[seq-1].ID.String()+"/proof")
		if w.Code != 409 || decodeErr(t, w).Error.Code != "proof_failed" {
			t.Fatalf("seq %d, with seq 20 altered: %d %s", seq, w.Code, w.Body)
		}
	}
	w := tr.get(t, tr.h, fmt.Sprintf("/api/v1/integrity/consistency?chain=%s&from=37&to=333", tr.chain))
	if w.Code != 409 || decodeErr(t, w).Error.Code != "proof_failed" {
		t.Fatalf("consistency with seq 20 altered: %d %s", w.Code, w.Body)
	}
	if st := tr.svc.ProofCacheStats(); st.Chains != 0 {
		t.Fatalf("the cache kept the chain whose proof failed: %+v", st)
	}

	tr.setHash(t, 20, good[19][:]) // put back
	tr.proof(t, 200, 0, 200)
	tr.consistency(t, 37, 333, 200)

	// Altered after the blocks were read.
	tr.setHash(t, 20, zero)
	if w := tr.get(t, tr.h, "/api/v1/events/"+tr.events[199].ID.String()+"/proof"); w.Code != 200 {
		t.Fatalf("seq 200 after seq 20 was altered, with its block held: %d %s", w.Code, w.Body)
	}
	var rep verifyBody
	if w := tr.get(t, tr.h, "/api/v1/integrity/verify"); w.Code != 200 {
		t.Fatalf("verify: %d %s", w.Code, w.Body)
	} else if decode(t, w, &rep); rep.OK {
		t.Fatal("verify: ok, with seq 20 altered")
	}
	tr.setHash(t, 20, good[19][:])

	for _, c := range []struct {
		altered, proved uint64
	}{
		{197, 200}, // a sibling of seq 200 within its block (193 to 200)
		{200, 200}, // the event's own hash
		{331, 200}, // in the last, partial block (329 to 333)
	} {
		tr.setHash(t, c.altered, zero)
		w := tr.get(t, tr.h, "/api/v1/events/"+tr.events[c.proved-1].ID.String()+"/proof")
		if w.Code != 409 || decodeErr(t, w).Error.Code != "proof_failed" {
			t.Fatalf("seq %d with seq %d altered: %d %s", c.proved, c.altered, w.Code, w.Body)
		}
		tr.setHash(t, c.altered, good[c.altered-1][:])
		tr.proof(t, c.proved, 0, 200)
	}
}

// A chain pruned by retention: the answers are those of a server that
// never held its blocks (the events before the cut are gone), though
// this one read them before the prune.
func TestProofOfPrunedCachedChain(t *testing.T) {
	tr := newTrail(t, 370, 37)
	for _, seq := range []uint64{1, 100, 250, 370} {
		tr.proof(t, seq, 0, 200)
	}
	tr.consistency(t, 37, 370, 200)
	tr.consistency(t, 222, 370, 200)
	if st := tr.svc.ProofCacheStats(); st.Blocks == 0 {
		t.Fatalf("no blocks held: %+v", st)
	}
	res, err := tr.store.Prune(context.Background(), sqlite.PruneOptions{
		Before: tr.t0.Add(4*time.Minute + time.Second), SigningKey: tr.priv, Policy: "test", Actor: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Chains) != 1 || res.Chains[0].UpToSeq != 185 {
		t.Fatalf("pruned %+v, want chain to seq 185", res)
	}
	_, cold := tr.serve(t)
	for _, url := range []string{
		"/api/v1/events/" + tr.events[249].ID.String() + "/proof",
		"/api/v1/events/" + tr.events[369].ID.String() + "/proof?checkpoint=370",
		fmt.Sprintf("/api/v1/integrity/consistency?chain=%s&from=222&to=370", tr.chain),
		fmt.Sprintf("/api/v1/integrity/consistency?chain=%s&from=37&to=370", tr.chain),
	} {
		got, want := tr.get(t, tr.h, url), tr.get(t, cold, url)
		if got.Code != want.Code || got.Body.String() != want.Body.String() {
			t.Fatalf("%s after the prune:\n got %d %s\nwant %d %s", url, got.Code, got.Body, want.Code, want.Body)
		}
		t.Logf("%s: %d", url, got.Code)
	}
	if st := tr.svc.ProofCacheStats(); st.Chains != 0 {
		t.Fatalf("the pruned chain is still held: %+v", st)
	}
}

// nextSeq is seq+step, or n when that passes n and seq has not reached it.
func nextSeq(seq, step, n uint64) uint64 {
	if seq < n && seq+step > n {
		return n
	}
	return seq + step
}
