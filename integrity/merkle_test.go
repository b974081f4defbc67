package integrity

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
)

func hx(s string) Hash {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		panic(s)
	}
	return Hash(b)
}

// vectorLeaves returns the RFC 6962 leaf hashes of the test inputs that
// transparency-dev/merkle carries (the inputs of Certificate
// Transparency's reference tests).
func vectorLeaves() []Hash {
	var ls []Hash
	for _, in := range testonly.LeafInputs() {
		ls = append(ls, Hash(rfc6962.DefaultHasher.HashLeaf(in)))
	}
	return ls
}

func leavesFrom(ls []Hash) leavesFunc {
	return func(begin, end uint64) ([]Hash, error) { return ls[begin:end], nil }
}

func TestTreeRootVectors(t *testing.T) {
	ls := vectorLeaves()
	for size, want := range testonly.RootHashes() {
		tr := newTree()
		for _, l := range ls[:size] {
			tr.appendLeaf(l)
		}
		if got := tr.root(); got != Hash(want) {
			t.Errorf("root of %d leaves = %s, want %x", size, got, want)
		}
	}
	if got := TreeRoot(nil); got != hx("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") {
		t.Errorf("empty root = %s", got)
	}
}

// The published proofs of RFC 6962's reference tests, as
// transparency-dev/merkle's proof/verify_test.go carries them. Leaves
// are numbered from 1, as seqs are.
func TestProofVectors(t *testing.T) {
	ls := vectorLeaves()
	roots := testonly.RootHashes()
	inclusion := []struct {
		leaf, size uint64
		proof      []string
	}{
		{1, 1, nil},
		{1, 8, []string{
			"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
		{6, 8, []string{
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
		{3, 3, []string{"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
		{2, 5, []string{
			"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
	}
	for _, v := range inclusion {
		nodes, err := proof.Inclusion(v.leaf-1, v.size)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rehash(nodes, leavesFrom(ls))
		if err != nil {
			t.Fatal(err)
		}
		if want := hexes(v.proof); !slices.Equal(got, want) {
			t.Errorf("inclusion %d in %d:\n got %v\nwant %v", v.leaf, v.size, got, want)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, v.leaf-1, v.size, ls[v.leaf-1][:], hashesToBytes(got), roots[v.size]); err != nil {
			t.Errorf("inclusion %d in %d: %v", v.leaf, v.size, err)
		}
	}
	consistency := []struct {
		size1, size2 uint64
		proof        []string
	}{
		{1, 1, nil},
		{1, 8, []string{
			"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
		{6, 8, []string{
			"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
		{2, 5, []string{
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
		{6, 7, []string{
			"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			"b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
	}
	for _, v := range consistency {
		nodes, err := proof.Consistency(v.size1, v.size2)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rehash(nodes, leavesFrom(ls))
		if err != nil {
			t.Fatal(err)
		}
		if want := hexes(v.proof); !slices.Equal(got, want) {
			t.Errorf("consistency %d to %d:\n got %v\nwant %v", v.size1, v.size2, got, want)
		}
		if err := VerifyConsistency(v.size1, v.size2, got, Hash(roots[v.size1]), Hash(roots[v.size2])); err != nil {
			t.Errorf("consistency %d to %d: %v", v.size1, v.size2, err)
		}
	}
}

func hexes(ss []string) []Hash {
	out := []Hash{}
	for _, s := range ss {
		out = append(out, hx(s))
	}
	return out
}

// The public proofs, over event hashes, agree with the library's
// reference tree for every leaf and every pair of sizes up to 70, and
// verify; a proof with any change does not.
func TestProofsAgainstReference(t *testing.T) {
	const n = 70
	var events []Hash
	ref := testonly.New(rfc6962.DefaultHasher)
	for i := range n {
		h := ChainHash(nil, Hash{byte(i)}, []byte(fmt.Sprint(i)))
		events = append(events, h)
		l := LeafHash(h)
		ref.Append(l[:])
	}
	reads := 0
	hashes := func(from, to uint64) ([]Hash, error) {
		reads++
		if from < 1 || to > n || from > to {
			return nil, fmt.Errorf("read %d..%d", from, to)
		}
		return events[from-1 : to], nil
	}
	for size := uint64(1); size <= n; size++ {
		root := Hash(ref.HashAt(size))
		if got := TreeRoot(events[:size]); got != root {
			t.Fatalf("TreeRoot(%d) = %s, want %s", size, got, root)
		}
		for seq := uint64(1); seq <= size; seq++ {
			got, err := InclusionProof(seq, size, hashes)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ref.InclusionProof(seq-1, size)
			if w, _ := bytesToHashes(want); !slices.Equal(got, w) {
				t.Fatalf("inclusion %d in %d differs from the reference", seq, size)
			}
			if err := VerifyInclusion(seq, size, events[seq-1], got, root); err != nil {
				t.Fatalf("inclusion %d in %d: %v", seq, size, err)
			}
			if err := VerifyInclusion(seq, size, events[(seq)%size], got, root); size > 1 && !errors.Is(err, ErrProof) {
				t.Fatalf("inclusion of another event's hash at %d in %d: %v", seq, size, err)
			}
			for k := range got {
				bad := slices.Clone(got)
				bad[k][k%32] ^= 1
				if err := VerifyInclusion(seq, size, events[seq-1], bad, root); !errors.Is(err, ErrProof) {
					t.Fatalf("changed inclusion proof verified: %v", err)
				}
			}
		}
		for size1 := uint64(0); size1 <= size; size1++ {
			got, err := ConsistencyProof(size1, size, hashes)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ref.ConsistencyProof(size1, size)
			if w, _ := bytesToHashes(want); !slices.Equal(got, w) {
				t.Fatalf("consistency %d to %d differs from the reference", size1, size)
			}
			root1 := Hash(ref.HashAt(size1))
			if err := VerifyConsistency(size1, size, got, root1, root); err != nil {
				t.Fatalf("consistency %d to %d: %v", size1, size, err)
			}
			if size1 > 0 && size1 < size {
				bad := slices.Clone(got)
				bad[0][3] ^= 8
				if err := VerifyConsistency(size1, size, bad, root1, root); !errors.Is(err, ErrProof) {
					t.Fatalf("changed consistency proof %d to %d verified: %v", size1, size, err)
				}
			}
		}
	}
	if _, err := InclusionProof(0, 5, hashes); err == nil {
		t.Error("InclusionProof(0, 5) did not fail")
	}
	if _, err := InclusionProof(6, 5, hashes); err == nil {
		t.Error("InclusionProof(6, 5) did not fail")
	}
	short := func(from, to uint64) ([]Hash, error) { return events[from-1 : to-1], nil }
	if _, err := InclusionProof(1, 8, short); err == nil {
		t.Error("a HashesFunc that returns too few hashes was not caught")
	}
}

// The proofs of a chain lead to the roots its checkpoints sign.
func TestProofsToCheckpoints(t *testing.T) {
	tr := buildTrail(t, 100, 20, 0, false)
	var hs []Hash
	for _, e := range tr.entries() {
		hs = append(hs, e.Seal.Hash)
	}
	hashes := func(from, to uint64) ([]Hash, error) { return hs[from-1 : to], nil }
	cps := tr.src.cps[tr.chain]
	for _, cp := range cps {
		for seq := uint64(1); seq <= cp.ToSeq; seq += 7 {
			p, err := InclusionProof(seq, cp.ToSeq, hashes)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(seq, cp.ToSeq, hs[seq-1], p, cp.TreeRoot); err != nil {
				t.Errorf("seq %d in checkpoint %d..%d: %v", seq, cp.FromSeq, cp.ToSeq, err)
			}
		}
		if got := TreeRoot(hs[cp.FromSeq-1 : cp.ToSeq]); got != cp.RangeRoot {
			t.Errorf("range root of %d..%d = %s, checkpoint has %s", cp.FromSeq, cp.ToSeq, got, cp.RangeRoot)
		}
	}
	for i := range cps {
		for j := i; j < len(cps); j++ {
			p, err := ConsistencyProof(cps[i].ToSeq, cps[j].ToSeq, hashes)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyConsistency(cps[i].ToSeq, cps[j].ToSeq, p, cps[i].TreeRoot, cps[j].TreeRoot); err != nil {
				t.Errorf("consistency %d to %d: %v", cps[i].ToSeq, cps[j].ToSeq, err)
			}
		}
	}
}

// TestCheckpointRootsAtEveryAlignment: the batch's tree takes the chain
// tree's nodes where both make the same merge (tree.appendLeafWith), so
// its roots must hold for batches that start at every offset and end at
// every length, across a Restore, as the roots of trees built alone.
func TestCheckpointRootsAtEveryAlignment(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	c, err := NewChainer(&Options{Chain: testChain, SigningKey: testPriv})
	if err != nil {
		t.Fatal(err)
	}
	var hs []Hash
	now := time.Unix(1700000000, 0)
	for round := range 400 {
		// Batches of 1 to 70 events, and now and then one of 128 to 300,
		// so that batches start at odd seqs, at multiples of 2, 4 … 256.
		n := 1 + r.IntN(70)
		if round%25 == 0 {
			n = 128 + r.IntN(173)
		}
		for range n {
			s := c.Next([]byte(fmt.Sprint("event ", len(hs))))
			hs = append(hs, s.Hash)
		}
		cp, err := c.Checkpoint(now)
		if err != nil {
			t.Fatal(err)
		}
		if want := TreeRoot(hs[cp.FromSeq-1 : cp.ToSeq]); cp.RangeRoot != want {
			t.Fatalf("range root of %d..%d = %s, want %s", cp.FromSeq, cp.ToSeq, cp.RangeRoot, want)
		}
		if want := TreeRoot(hs); cp.TreeRoot != want {
			t.Fatalf("tree root at %d = %s, want %s", cp.ToSeq, cp.TreeRoot, want)
		}
		if round%7 == 3 { // as after a restart, mid-batch included
			for range r.IntN(5) {
				hs = append(hs, c.Next([]byte(fmt.Sprint("event ", len(hs)))).Hash)
			}
			if c, err = Restore(c.State(), &Options{SigningKey: testPriv}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestRestoreRefusesRangesThatDisagree: where the chain's and the
// batch's compact ranges cover the same leaves they must hold the same
// node (Next shares it between them); a state where they differ is torn
// or edited, and Restore says so. Elsewhere the two are independent, and
// a wrong node shows only as a wrong root, for the verifier to find.
func TestRestoreRefusesRangesThatDisagree(t *testing.T) {
	c, err := NewChainer(&Options{Chain: testChain, SigningKey: testPriv})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 13 {
		c.Next([]byte(fmt.Sprint("event ", i)))
		if i == 7 {
			if _, err := c.Checkpoint(time.Unix(1700000000, 0)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// seq 13 = 1101b: subtrees of 8, 4 and 1 leaves; the batch since seq
	// 8 has 5 = 101b: subtrees of 4 and 1, the same leaves as the tree's.
	for _, tc := range []struct {
		name    string
		edit    func(*State)
		refused bool
	}{
		{"untouched", func(*State) {}, false},
		{"tree, subtree of 1", func(st *State) { st.Tree[2][0] ^= 1 }, true},
		{"tree, subtree of 4", func(st *State) { st.Tree[1][0] ^= 1 }, true},
		{"batch, subtree of 1", func(st *State) { st.Batch[1][0] ^= 1 }, true},
		{"batch, subtree of 4", func(st *State) { st.Batch[0][0] ^= 1 }, true},
		{"tree, subtree of 8 (the batch has none)", func(st *State) { st.Tree[0][0] ^= 1 }, false},
	} {
		st := c.State()
		tc.edit(&st)
		_, err := Restore(st, &Options{SigningKey: testPriv})
		if refused := err != nil; refused != tc.refused {
			t.Errorf("%s: Restore error %v, want refused %v", tc.name, err, tc.refused)
		}
		if err != nil && !strings.Contains(err.Error(), "differs from tree") {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
