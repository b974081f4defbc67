package integrity_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/activitylog/activitylog/internal/racebuild"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// counted is a chain's event hashes behind a HashesFunc that counts
// its calls and the hashes it returns.
type counted struct {
	hs           []integrity.Hash
	calls, reads atomic.Int64
}

func newCounted(n int, salt string) *counted {
	c := &counted{hs: make([]integrity.Hash, n)}
	for i := range c.hs {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		c.hs[i] = sha256.Sum256(append([]byte(salt), b[:]...))
	}
	return c
}

func (c *counted) read(from, to uint64) ([]integrity.Hash, error) {
	if from < 1 || to < from || to > uint64(len(c.hs)) {
		return nil, fmt.Errorf("seqs %d to %d: not stored", from, to)
	}
	c.calls.Add(1)
	c.reads.Add(int64(to - from + 1))
	return slices.Clone(c.hs[from-1 : to]), nil
}

// plain reads without counting.
func (c *counted) plain(from, to uint64) ([]integrity.Hash, error) {
	if from < 1 || to < from || to > uint64(len(c.hs)) {
		return nil, fmt.Errorf("seqs %d to %d: not stored", from, to)
	}
	return slices.Clone(c.hs[from-1 : to]), nil
}

// take returns the calls and reads since the last take.
func (c *counted) take() (calls, reads int64) { return c.calls.Swap(0), c.reads.Swap(0) }

func newCache(t testing.TB, o *integrity.SubtreeOptions) *integrity.SubtreeCache {
	t.Helper()
	c, err := integrity.NewSubtreeCache(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testSizes are tree sizes to 3000: every size to 300, then sizes that
// are and are not multiples of the test's block of 8, odd ones, and
// each side of powers of two.
func testSizes() []uint64 {
	var out []uint64
	for n := uint64(1); n <= 300; n++ {
		out = append(out, n)
	}
	step := uint64(97)
	if racebuild.Enabled {
		step = 397 // a quarter of the sizes: 20 s under the detector otherwise
	}
	for n := uint64(301); n <= 3000; n += step {
		out = append(out, n, n+1, n|7, (n|7)+1)
	}
	for p := uint64(512); p <= 2048; p *= 2 {
		out = append(out, p-1, p, p+1)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// testSeqs are the seqs a test proves in a tree of size leaves: every
// one up to 160 leaves, else the block edges near each end and the
// middle, and some at random.
func testSeqs(size uint64, r *rand.Rand) []uint64 {
	if size <= 160 {
		out := make([]uint64, size)
		for i := range out {
			out[i] = uint64(i) + 1
		}
		return out
	}
	var out []uint64
	for _, s := range []uint64{1, 2, 7, 8, 9, 16, 17, size / 2, size/2 + 1, size &^ 7, size&^7 + 1, size - 9, size - 8, size - 1, size} {
		if s >= 1 && s <= size {
			out = append(out, s)
		}
	}
	for range 4 {
		out = append(out, 1+r.Uint64N(size))
	}
	return out
}

// The cache's proofs are InclusionProof's and ConsistencyProof's byte
// for byte: for every tree size to 300 and every seq, and for sizes to
// 3000 that are not multiples of the block, with the blocks extended as
// the sizes grow (asc), filled at once for a big tree first (desc), and
// made bigger as the chain outgrows a budget of 64 nodes (asc/budget).
func TestSubtreeCacheMatchesProofs(t *testing.T) {
	const n = 3000
	ch := newCounted(n, "match")
	type proofCase struct {
		consistency bool
		a, size     uint64 // seq or size1, and the tree size
		want        []integrity.Hash
	}
	var cases []proofCase
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range testSizes() {
		for _, seq := range testSeqs(size, r) {
			want, err := integrity.InclusionProof(seq, size, ch.read)
			if err != nil {
				t.Fatal(err)
			}
			cases = append(cases, proofCase{false, seq, size, want})
		}
		size1s := []uint64{0, 1, 2, 8, 9, size / 3, size/3 | 7, size - 1, size}
		if size <= 64 {
			size1s = size1s[:0]
			for s := range size + 1 {
				size1s = append(size1s, s)
			}
		}
		for _, size1 := range size1s {
			if size1 <= size {
				want, err := integrity.ConsistencyProof(size1, size, ch.read)
				if err != nil {
					t.Fatal(err)
				}
				cases = append(cases, proofCase{true, size1, size, want})
			}
		}
	}
	desc := slices.Clone(cases)
	slices.Reverse(desc)
	for _, order := range []struct {
		name     string
		cases    []proofCase
		maxBytes int64
	}{{"asc", cases, 0}, {"desc", desc, 0}, {"asc/budget", cases, 2048}} {
		t.Run(order.name, func(t *testing.T) {
			c := newCache(t, &integrity.SubtreeOptions{Shift: 3, MaxBytes: order.maxBytes})
			ctx := context.Background()
			var most uint64
			for _, pc := range order.cases {
				most = max(most, pc.size)
				var got []integrity.Hash
				var err error
				if pc.consistency {
					got, err = c.ConsistencyProof(ctx, "A", pc.a, pc.size, ch.read)
				} else {
					got, err = c.InclusionProof(ctx, "A", pc.a, pc.size, ch.read)
				}
				if err != nil || !slices.Equal(got, pc.want) || (got == nil) != (pc.want == nil) {
					t.Fatalf("consistency %v, %d in %d: %v\n got %x\nwant %x", pc.consistency, pc.a, pc.size, err, got, pc.want)
				}
			}
			if st := c.Stats(); order.maxBytes != 0 {
				if st.Bytes > order.maxBytes || st.Blocks == 0 {
					t.Fatalf("stats %+v, want some blocks in at most %d bytes", st, order.maxBytes)
				}
			} else if st.Chains != 1 || st.Blocks != most/8 {
				t.Fatalf("stats %+v, want 1 chain of %d blocks", st, most/8)
			}
			t.Logf("%d proofs, trees up to %d", len(order.cases), most)
		})
	}
	// The errors are InclusionProof's and ConsistencyProof's too.
	c := newCache(t, &integrity.SubtreeOptions{Shift: 3})
	for _, p := range [][2]uint64{{0, 5}, {6, 5}, {1, 0}} {
		_, want := integrity.InclusionProof(p[0], p[1], ch.read)
		_, got := c.InclusionProof(context.Background(), "A", p[0], p[1], ch.read)
		if want == nil || got == nil || got.Error() != want.Error() {
			t.Fatalf("inclusion %v: got %v, want %v", p, got, want)
		}
	}
	_, want := integrity.ConsistencyProof(6, 5, ch.read)
	_, got := c.ConsistencyProof(context.Background(), "A", 6, 5, ch.read)
	if want == nil || got == nil || got.Error() != want.Error() {
		t.Fatalf("consistency 6 to 5: got %v, want %v", got, want)
	}
}

// Once the blocks are held, a proof reads at most two blocks' worth of
// hashes (the one of its leaf and the partial one at the tree's end),
// in at most 3 reads, whatever the tree's size; a growing chain reads
// only its new blocks. InclusionProof reads the whole tree each time.
func TestSubtreeCacheReads(t *testing.T) {
	const n, shift = 5003, 3
	const block = 1 << shift
	ch := newCounted(n+200, "reads")
	c := newCache(t, &integrity.SubtreeOptions{Shift: shift})
	ctx := context.Background()

	if _, err := integrity.InclusionProof(1, n, ch.read); err != nil {
		t.Fatal(err)
	}
	if _, reads := ch.take(); reads != n-1 {
		t.Fatalf("InclusionProof read %d hashes, want %d", reads, n-1)
	}
	// The first proof reads every complete block, then its own nodes.
	if _, err := c.InclusionProof(ctx, "A", 1, n, ch.read); err != nil {
		t.Fatal(err)
	}
	if _, reads := ch.take(); reads > n/block*block+2*block {
		t.Fatalf("first proof read %d hashes, want at most %d", reads, n/block*block+2*block)
	}
	var most int64
	for seq := uint64(1); seq <= n; seq++ {
		if _, err := c.InclusionProof(ctx, "A", seq, n, ch.read); err != nil {
			t.Fatal(err)
		}
		calls, reads := ch.take()
		if reads > 2*block || calls > 3 {
			t.Fatalf("proof of seq %d in %d: %d reads of %d hashes, want at most 3 reads of %d", seq, n, calls, reads, 2*block)
		}
		most = max(most, reads)
	}
	for size1 := uint64(1); size1 <= n; size1 += 7 {
		if _, err := c.ConsistencyProof(ctx, "A", size1, n, ch.read); err != nil {
			t.Fatal(err)
		}
		calls, reads := ch.take()
		if reads > 2*block || calls > 3 {
			t.Fatalf("consistency %d to %d: %d reads of %d hashes, want at most 3 reads of %d", size1, n, calls, reads, 2*block)
		}
	}
	// The chain grows by 200: each proof to the new size reads its own
	// nodes and the blocks completed since the last one.
	for size := uint64(n + 1); size <= n+200; size++ {
		if _, err := c.InclusionProof(ctx, "A", 1+size/2, size, ch.read); err != nil {
			t.Fatal(err)
		}
		calls, reads := ch.take()
		if reads > 3*block || calls > 4 {
			t.Fatalf("proof in the grown tree of %d: %d reads of %d hashes", size, calls, reads)
		}
	}
	t.Logf("at most %d hashes read per proof in a tree of %d (InclusionProof: %d)", most, n, n-1)
}

// Within MaxBytes: a chain bigger than the budget holds bigger blocks,
// another chain takes room from the one used least recently, MaxChains
// evicts; the proofs stay the same throughout.
func TestSubtreeCacheBounded(t *testing.T) {
	const n = 2000
	ctx := context.Background()
	chains := map[string]*counted{"A": newCounted(n, "a"), "B": newCounted(n, "b"), "C": newCounted(n, "c")}
	check := func(c *integrity.SubtreeCache, id string, seq, size uint64) {
		t.Helper()
		want, err := integrity.InclusionProof(seq, size, chains[id].plain)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.InclusionProof(ctx, id, seq, size, chains[id].read)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("chain %s, seq %d of %d: %v\n got %x\nwant %x", id, seq, size, err, got, want)
		}
	}

	// The budget of 4 KB holds 128 nodes: 480 leaves in blocks of 8 (60
	// blocks, 116 nodes), but 2000 leaves only in blocks of 32 (62
	// blocks, 119 nodes; of 8, they would take 497).
	const budget = 4096
	c := newCache(t, &integrity.SubtreeOptions{Shift: 3, MaxBytes: budget})
	for _, seq := range []uint64{1, 300, 479, 480} {
		check(c, "A", seq, 480)
	}
	if st := c.Stats(); st.Bytes > budget || st.Blocks != 60 {
		t.Fatalf("a chain of 480 within budget: %+v, want 60 blocks of 8 in at most %d bytes", st, budget)
	}
	for _, seq := range []uint64{1, 500, 799, 800, 1999} {
		check(c, "A", seq, n)
	}
	if st := c.Stats(); st.Bytes > budget || st.Blocks != n/32 {
		t.Fatalf("a chain of %d over budget: %+v, want %d blocks (of 32) in at most %d bytes", n, st, n/32, budget)
	}
	chains["A"].take()
	for _, seq := range []uint64{1, 3, 1000, 1999, 2000} {
		check(c, "A", seq, n)
		if _, reads := chains["A"].take(); reads > 2*32 {
			t.Fatalf("a proof in a chain of bigger blocks read %d hashes, want at most %d", reads, 2*32)
		}
	}
	check(c, "B", 10, 1200) // takes A's room
	if st := c.Stats(); st.Bytes > budget || st.Chains != 1 || st.Blocks != 1200/32 {
		t.Fatalf("after chain B: %+v, want B alone, in %d blocks of 32, within %d bytes", st, 1200/32, budget)
	}

	// MaxChains 2: the third chain evicts the one used least recently.
	c = newCache(t, &integrity.SubtreeOptions{Shift: 3, MaxChains: 2})
	check(c, "A", 5, 300)
	check(c, "B", 5, 300)
	check(c, "A", 6, 300) // B is now the least recent
	check(c, "C", 5, 300)
	if st := c.Stats(); st.Chains != 2 {
		t.Fatalf("%+v, want 2 chains", st)
	}
	chains["A"].take()
	check(c, "A", 7, 300)
	if _, reads := chains["A"].take(); reads > 16 {
		t.Fatalf("chain A was evicted: its proof read %d hashes", reads)
	}
	chains["B"].take()
	check(c, "B", 7, 300)
	if _, reads := chains["B"].take(); reads < 290 {
		t.Fatalf("chain B was kept (%d hashes read), though it was the least recent of 3 in a cache of 2", reads)
	}

	// Forget drops a chain.
	c.Forget("A")
	if st := c.Stats(); st.Chains != 1 {
		t.Fatalf("after Forget: %+v", st)
	}
}

// Many proofs at once read the blocks once: the others wait for the
// one reading them; one whose context ends while it waits gives up.
func TestSubtreeCacheConcurrent(t *testing.T) {
	const n, g = 4000, 8
	ch := newCounted(n, "conc")
	c := newCache(t, &integrity.SubtreeOptions{Shift: 3})
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	gated := func(from, to uint64) ([]integrity.Hash, error) {
		if to-from >= 64 { // the reading of the blocks
			once.Do(func() { close(started); <-release })
		}
		return ch.read(from, to)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, g+1)
	prove := func(seq uint64) {
		defer wg.Done()
		want, _ := integrity.InclusionProof(seq, n, ch.plain)
		got, err := c.InclusionProof(ctx, "A", seq, n, gated)
		if err == nil && !slices.Equal(got, want) {
			err = fmt.Errorf("seq %d: wrong proof", seq)
		}
		errs <- err
	}
	wg.Add(1)
	go prove(1)
	<-started // the first proof holds the chain, reading its blocks
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		_, err := c.InclusionProof(cctx, "A", 2, n, gated)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("a proof whose context ended while it waited: %v", err)
	}
	for i := range g {
		wg.Add(1)
		go prove(uint64(i*400 + 3))
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, reads := ch.take(); reads > n+(g+1)*16 {
		t.Fatalf("%d proofs read %d hashes: the blocks (%d) were read more than once", g+1, reads, n)
	}
}

// Bad options name the field.
func TestSubtreeOptions(t *testing.T) {
	for _, o := range []integrity.SubtreeOptions{{Shift: -1}, {Shift: 17}, {MaxChains: -1}, {MaxBytes: -1}} {
		_, err := integrity.NewSubtreeCache(&o)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, activitylog.ErrInvalid) {
			t.Fatalf("%+v: %v", o, err)
		}
	}
	if _, err := integrity.NewSubtreeCache(nil); err != nil {
		t.Fatal(err)
	}
}

// A gap in the hashes is an error, as InclusionProof's is; the blocks
// before it are kept.
func TestSubtreeCacheGap(t *testing.T) {
	ch := newCounted(1000, "gap")
	gap := func(from, to uint64) ([]integrity.Hash, error) {
		if from <= 500 && 500 <= to {
			return nil, errors.New("seq 500 has no stored event with a hash")
		}
		return ch.read(from, to)
	}
	c := newCache(t, &integrity.SubtreeOptions{Shift: 3})
	if _, err := c.InclusionProof(context.Background(), "A", 1, 1000, gap); err == nil {
		t.Fatal("no error over a gap")
	}
	if _, err := integrity.InclusionProof(1, 1000, gap); err == nil {
		t.Fatal("InclusionProof: no error over a gap")
	}
	// Seq 1 to 256 needs no hash beyond 256.
	if _, err := c.InclusionProof(context.Background(), "A", 1, 256, gap); err != nil {
		t.Fatal(err)
	}
}

// A budget too small for any block of a big chain: the blocks grow
// past 2^16 leaves (nodes under them are folded as their leaves are
// read, 65536 at a time), or to nothing held at all; the proofs stay
// InclusionProof's.
func TestSubtreeCacheTinyBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("reads trees of 200,000 leaves")
	}
	const n = 200_000
	ch := newCounted(n, "tiny")
	for _, maxBytes := range []int64{32, 1} {
		c := newCache(t, &integrity.SubtreeOptions{Shift: 3, MaxBytes: maxBytes})
		for _, seq := range []uint64{1, 70_000, n} {
			want, err := integrity.InclusionProof(seq, n, ch.plain)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.InclusionProof(context.Background(), "A", seq, n, ch.read)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("budget %d, seq %d: %v\n got %x\nwant %x", maxBytes, seq, err, got, want)
			}
			if _, reads := ch.take(); seq != 1 && reads > n {
				t.Fatalf("budget %d, seq %d: %d hashes read, more than the tree", maxBytes, seq, reads)
			}
		}
		if st := c.Stats(); st.Bytes > maxBytes {
			t.Fatalf("budget %d: %+v", maxBytes, st)
		}
	}
}
