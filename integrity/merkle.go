package integrity

import (
	"crypto/sha256"
	"errors"
	"fmt"

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

// factory makes the compact ranges that need no allocator of their own.
var factory = &compact.RangeFactory{Hash: nodeHash}

// tree is an RFC 6962 tree that grows one leaf at a time. Its hashes
// are cut from 2 KiB blocks of its own rather than allocated one by
// one, so that Chainer.Next allocates once per 32 events instead of 3
// or 4 times per event; the compact range holds about log2(size)
// hashes, so a tree keeps few blocks alive.
type tree struct {
	r    *compact.Range
	slab *slab
}

type slab struct{ buf []byte }

// next returns 32 bytes of its own.
func (s *slab) next() []byte {
	if len(s.buf) < 32 {
		s.buf = make([]byte, 32*64)
	}
	b := s.buf[:32:32]
	s.buf = s.buf[32:]
	return b
}

func (s *slab) factory() *compact.RangeFactory {
	return &compact.RangeFactory{Hash: func(l, r []byte) []byte {
		var in [65]byte
		in[0] = 1
		copy(in[1:33], l)
		copy(in[33:], r)
		out := s.next()
		sum := sha256.Sum256(in[:])
		copy(out, sum[:])
		return out
	}}
}

func newTree() tree {
	s := &slab{}
	return tree{s.factory().NewEmptyRange(0), s}
}

// treeFrom restores a tree of size leaves from its compact range hashes.
func treeFrom(size uint64, hashes []Hash) (tree, error) {
	if got, want := len(hashes), compact.RangeSize(0, size); got != want {
		return tree{}, fmt.Errorf("compact range of %d leaves has %d hashes, want %d", size, got, want)
	}
	s := &slab{}
	r, err := s.factory().NewRange(0, size, hashesToBytes(hashes))
	if err != nil {
		return tree{}, err
	}
	return tree{r, s}, nil
}

func (t tree) size() uint64 { return t.r.End() }

// appendLeaf appends a leaf hash (not an event hash).
func (t tree) appendLeaf(leaf Hash) {
	b := t.slab.next()
	copy(b, leaf[:])
	if err := t.r.Append(b, nil); err != nil {
		panic(err) // Append fails only for a hash of another size.
	}
}

func (t tree) root() Hash {
	if t.r.End() == 0 {
		return emptyRoot
	}
	h, err := t.r.GetRootHash(nil)
	if err != nil {
		panic(err) // the range starts at 0 by construction
	}
	return Hash(h)
}

// state returns the compact range hashes, which treeFrom takes back.
func (t tree) state() []Hash {
	hs, _ := bytesToHashes(t.r.Hashes())
	return hs
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
