package integrity

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The Merkle tree of a chain is the RFC 6962 (section 2.1) tree whose
// leaf number seq-1 has as its data the 32-byte event hash of seq:
//
//	leaf hash = SHA-256(0x00 || event hash)
//	node hash = SHA-256(0x01 || left || right)
//	empty tree = SHA-256("")
//
// Compact ranges (transparency-dev/merkle/compact) keep it as it grows;
// the proof package builds and checks proofs.

// ErrProof is wrapped by the errors of VerifyInclusion and
// VerifyConsistency when a proof does not lead to the root.
var ErrProof = errors.New("merkle proof does not verify")

// HashesFunc returns the event hashes (Seal.Hash) of one chain's seqs
// from to to, both included, in seq order: exactly to-from+1 of them.
// A store implements it with one range read. Proofs call it O(log n)
// times, for ranges that together cover the tree once at most.
type HashesFunc func(from, to uint64) ([]Hash, error)

// LeafHash returns the RFC 6962 leaf hash of an event hash:
// SHA-256(0x00 || eventHash).
func LeafHash(eventHash Hash) Hash {
	var b [33]byte
	copy(b[1:], eventHash[:])
	return sha256.Sum256(b[:])
}

// emptyRoot is the root of the empty tree, SHA-256("").
var emptyRoot = Hash(sha256.Sum256(nil))

// nodeHash is RFC 6962's interior node hash, SHA-256(0x01 || l || r).
func nodeHash(l, r []byte) []byte {
	var b [65]byte
	b[0] = 1
	copy(b[1:33], l)
	copy(b[33:], r)
	s := sha256.Sum256(b[:])
	return s[:]
}

// factory makes the compact ranges of the proofs.
var factory = &compact.RangeFactory{Hash: nodeHash}

// node returns SHA-256(0x01 || l || r), as nodeHash does, without
// allocating.
func node(l, r *Hash) Hash {
	var b [65]byte
	b[0] = 1
	copy(b[1:33], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// tree is an RFC 6962 tree that grows one leaf at a time: its compact
// range from 0, the roots of its perfect subtrees, largest (leftmost)
// first, one for each bit set in its size, as compact.Range keeps it
// (the merkle tests hold the two to each other). Appending a leaf
// merges the subtrees of equal size at the right end, like carrying in
// a binary counter: one node hash per leaf on average, and no
// allocation once the slice has room for log2(size) hashes. tree is a
// handle: copies share one range.
type tree struct{ c *compactTree }

type compactTree struct {
	n      uint64
	hashes []Hash
}

func newTree() tree { return tree{&compactTree{hashes: make([]Hash, 0, 8)}} }

// treeFrom restores a tree of size leaves from its compact range hashes.
func treeFrom(size uint64, hashes []Hash) (tree, error) {
	if got, want := len(hashes), bits.OnesCount64(size); got != want {
		return tree{}, fmt.Errorf("compact range of %d leaves has %d hashes, want %d", size, got, want)
	}
	hs := make([]Hash, len(hashes), max(8, len(hashes)+1))
	copy(hs, hashes)
	return tree{&compactTree{n: size, hashes: hs}}, nil
}

func (t tree) size() uint64 { return t.c.n }

// appendLeaf appends a leaf hash (not an event hash).
func (t tree) appendLeaf(leaf Hash) { t.appendLeafWith(leaf, nil, nil) }

// appendLeafWith appends a leaf hash as appendLeaf does. It stores the
// node that its k-th merge makes (the root of the perfect subtree of
// 2^k leaves that now ends the tree) in made[k-1], when made is not nil,
// and returns how many merges it made; and it takes the k-th merge's
// node from known[k-1], without hashing, where known has one.
//
// Chainer.Next appends each leaf to the chain's tree and then to the
// batch's, whose leaves are the chain's last ones. When both trees make
// a k-th merge on the same leaf, each makes the perfect subtree of the
// same 2^k leaves (those that end both trees), so the hash is the same,
// and the batch's tree takes the chain's. With a checkpoint every 500
// events (so a batch starts at a multiple of 4) that is three batch
// merges in four; with no checkpoint, all of them.
func (t tree) appendLeafWith(leaf Hash, made *[64]Hash, known []Hash) int {
	c := t.c
	h := leaf
	k := 0
	for n := c.n; n&1 == 1; n >>= 1 {
		last := len(c.hashes) - 1
		if k < len(known) {
			h = known[k]
		} else {
			h = node(&c.hashes[last], &h)
		}
		if made != nil {
			made[k] = h
		}
		k++
		c.hashes = c.hashes[:last]
	}
	c.hashes = append(c.hashes, h)
	c.n++
	return k
}

// root returns the tree's root: its subtrees' roots folded from the
// right, emptyRoot for no leaf.
func (t tree) root() Hash {
	hs := t.c.hashes
	if len(hs) == 0 {
		return emptyRoot
	}
	r := hs[len(hs)-1]
	for i := len(hs) - 2; i >= 0; i-- {
		r = node(&hs[i], &r)
	}
	return r
}

// state returns the compact range hashes, which treeFrom takes back.
func (t tree) state() []Hash {
	out := make([]Hash, len(t.c.hashes))
	copy(out, t.c.hashes)
	return out
}

// TreeRoot returns the RFC 6962 root of the tree whose leaves are the
// given event hashes, in order; SHA-256("") when there are none.
func TreeRoot(eventHashes []Hash) Hash {
	t := newTree()
	for _, h := range eventHashes {
		t.appendLeaf(LeafHash(h))
	}
	return t.root()
}

// InclusionProof returns the RFC 6962 inclusion proof (audit path) of
// the event at seq in the chain's tree of treeSize leaves, that is in
// the tree whose root a checkpoint with ToSeq = treeSize signs. It
// needs 1 <= seq <= treeSize; seq is 1-based, the RFC's leaf index is
// seq-1. It reads the hashes it needs through hashes.
func InclusionProof(seq, treeSize uint64, hashes HashesFunc) ([]Hash, error) {
	if seq < 1 || seq > treeSize {
		return nil, fmt.Errorf("inclusion proof: seq %d is not in a tree of %d", seq, treeSize)
	}
	nodes, err := proof.Inclusion(seq-1, treeSize)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	return rehash(nodes, leavesOf(hashes))
}

// ConsistencyProof returns the RFC 6962 consistency proof between the
// chain's trees of size1 and size2 leaves (size1 <= size2): what shows
// that the tree a checkpoint with ToSeq = size2 signs extends the one a
// checkpoint with ToSeq = size1 signs.
func ConsistencyProof(size1, size2 uint64, hashes HashesFunc) ([]Hash, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	return rehash(nodes, leavesOf(hashes))
}

// VerifyInclusion checks an inclusion proof of the event hash at seq in
// the tree of treeSize leaves with root root. Its error wraps ErrProof
// when the proof does not lead to root.
func VerifyInclusion(seq, treeSize uint64, eventHash Hash, p []Hash, root Hash) error {
	if seq < 1 || seq > treeSize {
		return fmt.Errorf("verify inclusion: seq %d is not in a tree of %d: %w", seq, treeSize, ErrProof)
	}
	leaf := LeafHash(eventHash)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, seq-1, treeSize, leaf[:], hashesToBytes(p), root[:]); err != nil {
		return fmt.Errorf("verify inclusion: %w: %w", ErrProof, err)
	}
	return nil
}

// VerifyConsistency checks a consistency proof between the trees of
// size1 and size2 leaves with roots root1 and root2. Its error wraps
// ErrProof when the proof does not hold.
func VerifyConsistency(size1, size2 uint64, p []Hash, root1, root2 Hash) error {
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, hashesToBytes(p), root1[:], root2[:]); err != nil {
		return fmt.Errorf("verify consistency: %w: %w", ErrProof, err)
	}
	return nil
}

// leavesFunc returns the leaf hashes of 0-based leaf indexes [begin,
// end), exactly end-begin of them.
type leavesFunc func(begin, end uint64) ([]Hash, error)

func leavesOf(hashes HashesFunc) leavesFunc {
	return func(begin, end uint64) ([]Hash, error) {
		hs, err := hashes(begin+1, end)
		if err != nil {
			return nil, err
		}
		if uint64(len(hs)) != end-begin {
			return nil, fmt.Errorf("read hashes of seqs %d to %d: got %d, want %d", begin+1, end, len(hs), end-begin)
		}
		out := make([]Hash, len(hs))
		for i, h := range hs {
			out[i] = LeafHash(h)
		}
		return out, nil
	}
}

// readChunk bounds the leaves read at once for one proof node.
const readChunk = 1 << 16

// rehash computes the hashes of the proof's nodes from the leaves under
// each, and folds them into the proof.
func rehash(nodes proof.Nodes, leaves leavesFunc) ([]Hash, error) {
	hs := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		begin, end := id.Coverage()
		r := factory.NewEmptyRange(0)
		for b := begin; b < end; {
			e := min(end, b+readChunk)
			ls, err := leaves(b, e)
			if err != nil {
				return nil, fmt.Errorf("build proof: %w", err)
			}
			for _, l := range ls {
				if err := r.Append(append([]byte(nil), l[:]...), nil); err != nil {
					return nil, err
				}
			}
			b = e
		}
		root, err := r.GetRootHash(nil)
		if err != nil {
			return nil, err
		}
		hs[i] = root
	}
	out, err := nodes.Rehash(hs, nodeHash)
	if err != nil {
		return nil, fmt.Errorf("build proof: %w", err)
	}
	return bytesToHashes(out)
}
