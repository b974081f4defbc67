package integrity

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"sync"

	"github.com/activitylog/activitylog"
	"github.com/transparency-dev/merkle/proof"
)

// Defaults and bounds of SubtreeOptions.
const (
	// DefaultSubtreeShift makes blocks of 2^8 = 256 events: 64 bytes
	// held per 256 events (256 KB per million), and at most 512 event
	// hashes read per proof.
	DefaultSubtreeShift = 8
	// MaxSubtreeShift bounds SubtreeOptions.Shift: blocks of 65536.
	MaxSubtreeShift = 16
	// DefaultSubtreeChains is the default of SubtreeOptions.MaxChains.
	DefaultSubtreeChains = 256
	// DefaultSubtreeBytes is the default of SubtreeOptions.MaxBytes,
	// 16 MiB: the blocks of about 67 million events at the default
	// shift.
	DefaultSubtreeBytes = 16 << 20
)

// SubtreeOptions configures a SubtreeCache. The zero value, or nil,
// means the defaults written beside each field.
type SubtreeOptions struct {
	// Shift sets the block size, 2^Shift events: the cache holds the
	// root of each complete, aligned block of a chain's tree and of
	// every node above the blocks, about 64 bytes per block; a proof
	// then reads the event hashes under its nodes smaller than a block,
	// at most about 2·2^Shift, and looks the others up. 1 to
	// MaxSubtreeShift. Default: DefaultSubtreeShift (8: 256 events).
	Shift int
	// MaxChains bounds the chains held; the one used least recently
	// makes room for a new one. Default: DefaultSubtreeChains (256).
	MaxChains int
	// MaxBytes bounds the bytes of roots held over all chains (the
	// capacity reserved for them: 32 bytes a node, about 2 nodes a
	// block). A chain that needs room takes it from the chains used
	// least recently (and not in use); a chain that does not fit even
	// then holds bigger blocks, doubling their size until it fits, so
	// that its proofs read more hashes (2·2^shift) but never the whole
	// chain. Default: DefaultSubtreeBytes (16 MiB).
	MaxBytes int64
}

// SubtreeCache makes RFC 6962 proofs over long chains in O(2^Shift +
// log n) event hashes read: it keeps, per chain, the roots of the
// complete aligned perfect subtrees of 2^Shift leaves (blocks) and of
// every node above them, filled the first time a proof needs them by
// reading the chain's hashes once, and extended as the chain grows (a
// chain only appends). Its proofs are those of InclusionProof and
// ConsistencyProof, byte for byte, as long as the store's hashes are
// the ones the blocks were built from.
//
// It trusts what it read: a block built from altered hashes gives a
// proof that does not verify against the signed tree root, and a hash
// altered after its block was built is no longer read. So check each
// proof against its checkpoint's tree root (VerifyInclusion,
// VerifyConsistency) before handing it out, and when one does not
// verify, Forget the chain and build the proof again with
// InclusionProof or ConsistencyProof, which read every hash.
//
// It is safe for concurrent use; the blocks of one chain are read by
// one proof at a time, while the others wait (or give up when their
// context ends), then use them.
type SubtreeCache struct {
	shift     uint
	maxChains int
	maxBytes  int64

	mu     sync.Mutex
	chains map[string]*subtrees
	tick   uint64 // counts uses, for least recently used
	bytes  int64  // Σ subtrees.bytes of the chains held
}

// subtrees are the roots held for one chain: its blocks and the nodes
// above them in post order (a node after its children, as a Merkle
// mountain range lays them out), nodes[:mmrSize(blocks)]. Only the
// goroutine holding fill appends, into capacity reserved beforehand,
// so that readers of nodes[:len] never see an element change.
type subtrees struct {
	fill   chan struct{} // a token: held while the blocks are extended
	shift  uint          // c.mu: the blocks hold 2^shift leaves
	nodes  []Hash        // c.mu
	blocks uint64        // c.mu: complete blocks held
	bytes  int64         // c.mu: 32 × cap(nodes), counted in c.bytes
	used   uint64        // c.mu: c.tick at the last use
	pins   int           // c.mu: proofs using it; never evicted while > 0
	gone   bool          // c.mu: evicted or forgotten; not extended again
}

// SubtreeStats describes what a SubtreeCache holds.
type SubtreeStats struct {
	// Chains is the number of chains held.
	Chains int
	// Blocks is the number of block roots held, over all chains.
	Blocks uint64
	// Bytes is the memory reserved for roots, which MaxBytes bounds.
	Bytes int64
}

// NewSubtreeCache returns an empty SubtreeCache. opts may be nil.
func NewSubtreeCache(opts *SubtreeOptions) (*SubtreeCache, error) {
	var o SubtreeOptions
	if opts != nil {
		o = *opts
	}
	if o.Shift == 0 {
		o.Shift = DefaultSubtreeShift
	}
	if o.MaxChains == 0 {
		o.MaxChains = DefaultSubtreeChains
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultSubtreeBytes
	}
	if o.Shift < 1 || o.Shift > MaxSubtreeShift {
		return nil, fmt.Errorf("subtree cache: %w", activitylog.Invalid("Shift", strconv.Itoa(o.Shift), fmt.Sprintf("must be between 1 and %d (blocks of 2^Shift events)", MaxSubtreeShift)))
	}
	if o.MaxChains < 0 {
		return nil, fmt.Errorf("subtree cache: %w", activitylog.Invalid("MaxChains", strconv.Itoa(o.MaxChains), "must be positive, or 0 for the default"))
	}
	if o.MaxBytes < 0 {
		return nil, fmt.Errorf("subtree cache: %w", activitylog.Invalid("MaxBytes", strconv.FormatInt(o.MaxBytes, 10), "must be positive, or 0 for the default"))
	}
	return &SubtreeCache{shift: uint(o.Shift), maxChains: o.MaxChains, maxBytes: o.MaxBytes, chains: map[string]*subtrees{}}, nil
}

// InclusionProof returns what InclusionProof(seq, treeSize, hashes)
// returns, reading through hashes, which must read chain's hashes, only
// the blocks the cache does not hold yet and the hashes under the
// proof's nodes smaller than a block. ctx bounds the wait for another
// proof that is reading the chain's blocks.
func (c *SubtreeCache) InclusionProof(ctx context.Context, chain string, seq, treeSize uint64, hashes HashesFunc) ([]Hash, error) {
	if seq < 1 || seq > treeSize {
		return nil, fmt.Errorf("inclusion proof: seq %d is not in a tree of %d", seq, treeSize)
	}
	nodes, err := proof.Inclusion(seq-1, treeSize)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	return c.rehash(ctx, chain, nodes, hashes)
}

// ConsistencyProof returns what ConsistencyProof(size1, size2, hashes)
// returns, reading as InclusionProof does.
func (c *SubtreeCache) ConsistencyProof(ctx context.Context, chain string, size1, size2 uint64, hashes HashesFunc) ([]Hash, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	return c.rehash(ctx, chain, nodes, hashes)
}

// Forget drops what the cache holds of chain: after a proof of it did
// not verify, or when its stored hashes were changed on purpose.
func (c *SubtreeCache) Forget(chain string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.chains[chain]; st != nil {
		c.dropLocked(chain, st)
	}
}

// Stats returns what the cache holds now.
func (c *SubtreeCache) Stats() SubtreeStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := SubtreeStats{Chains: len(c.chains), Bytes: c.bytes}
	for _, st := range c.chains {
		s.Blocks += st.blocks
	}
	return s
}

// leafRun is a range [begin, end) of 0-based leaf indexes.
type leafRun struct{ begin, end uint64 }

// gatherLevel bounds the nodes whose leaves a proof gathers in memory
// (those below 2^16 leaves); a bigger node not held is folded as its
// leaves are read, 65536 at a time.
const gatherLevel = 16

// rehash computes the hashes of the proof's nodes, from the cache where
// it can, and folds them into the proof, as the package's rehash does.
func (c *SubtreeCache) rehash(ctx context.Context, chain string, nodes proof.Nodes, hashes HashesFunc) ([]Hash, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st := c.pin(chain)
	defer c.unpin(st)
	c.mu.Lock()
	shift := st.shift
	c.mu.Unlock()
	var need uint64 // the leaves that the nodes of a block or more cover
	for _, id := range nodes.IDs {
		if id.Level >= shift {
			_, end := id.Coverage()
			need = max(need, end)
		}
	}
	if need > 0 {
		if err := c.extend(ctx, st, need, hashes); err != nil {
			return nil, fmt.Errorf("build proof: %w", err)
		}
	}
	c.mu.Lock()
	held, blocks, shift := st.nodes, st.blocks, st.shift // the extension may have made the blocks bigger
	c.mu.Unlock()

	// The nodes smaller than a block (and than 2^16 leaves): their
	// leaves, read in as few ranges as they make (those of a proof never
	// overlap), each node folded in place.
	var runs []leafRun
	for _, id := range nodes.IDs {
		if id.Level < min(shift, gatherLevel) {
			begin, end := id.Coverage()
			runs = append(runs, leafRun{begin, end})
		}
	}
	slices.SortFunc(runs, func(a, b leafRun) int { return cmpUint64(a.begin, b.begin) })
	var merged []leafRun
	var total uint64
	for _, r := range runs {
		total += r.end - r.begin
		if n := len(merged); n > 0 && merged[n-1].end == r.begin {
			merged[n-1].end = r.end
		} else {
			merged = append(merged, r)
		}
	}
	leaves := make([]Hash, 0, total)
	starts := make([]uint64, len(merged)) // leaves index of merged[i].begin
	for i, r := range merged {
		starts[i] = uint64(len(leaves))
		var err error
		if leaves, err = appendLeaves(leaves, r.begin, r.end, hashes); err != nil {
			return nil, fmt.Errorf("build proof: %w", err)
		}
	}
	at := func(leaf uint64) uint64 { // the index in leaves of a leaf of a run
		i, _ := slices.BinarySearchFunc(merged, leaf, func(r leafRun, x uint64) int {
			if r.end <= x {
				return -1
			}
			if r.begin > x {
				return 1
			}
			return 0
		})
		return starts[i] + leaf - merged[i].begin
	}

	hs := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		var h Hash
		var err error
		begin, end := id.Coverage()
		switch {
		case id.Level < min(shift, gatherLevel):
			from := at(begin)
			h = foldPerfect(leaves[from : from+end-begin])
		case id.Level < shift:
			h, err = foldLeaves(begin, end, hashes)
		default:
			h, err = above(held, blocks, shift, id.Level-shift, id.Index, hashes)
		}
		if err != nil {
			return nil, fmt.Errorf("build proof: %w", err)
		}
		hs[i] = h[:]
	}
	out, err := nodes.Rehash(hs, nodeHash)
	if err != nil {
		return nil, fmt.Errorf("build proof: %w", err)
	}
	return bytesToHashes(out)
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// above returns the root of the node j levels above the blocks of 2^shift
// leaves with index i (blocks i<<j to (i+1)<<j - 1): from held when it
// holds it, else from its children, and the leaves of the blocks not
// held.
func above(held []Hash, blocks uint64, shift, j uint, i uint64, hashes HashesFunc) (Hash, error) {
	first, end := i<<j, (i+1)<<j
	if end <= blocks {
		return held[mmrPos(i, j)], nil
	}
	if j == 0 || first >= blocks {
		return foldLeaves(first<<shift, end<<shift, hashes)
	}
	l, err := above(held, blocks, shift, j-1, 2*i, hashes)
	if err != nil {
		return Hash{}, err
	}
	r, err := above(held, blocks, shift, j-1, 2*i+1, hashes)
	if err != nil {
		return Hash{}, err
	}
	return node(&l, &r), nil
}

// pin returns chain's subtrees, made when it has none (evicting the
// chain used least recently when MaxChains are held), and marks it in
// use, so that it is not evicted before unpin.
func (c *SubtreeCache) pin(chain string) *subtrees {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	st := c.chains[chain]
	if st == nil {
		st = &subtrees{fill: make(chan struct{}, 1), shift: c.shift}
		for len(c.chains) >= c.maxChains {
			if !c.evictLocked(nil) {
				st.gone = true // every chain held is in use: this proof reads all it needs
				break
			}
		}
		if !st.gone {
			c.chains[chain] = st
		}
	}
	st.used = c.tick
	st.pins++
	return st
}

func (c *SubtreeCache) unpin(st *subtrees) {
	c.mu.Lock()
	st.pins--
	c.mu.Unlock()
}

// evictLocked drops the chain used least recently that is not in use
// and not keep; false when there is none.
func (c *SubtreeCache) evictLocked(keep *subtrees) bool {
	var victim *subtrees
	var name string
	for id, st := range c.chains {
		if st == keep || st.pins > 0 {
			continue
		}
		if victim == nil || st.used < victim.used {
			victim, name = st, id
		}
	}
	if victim == nil {
		return false
	}
	c.dropLocked(name, victim)
	return true
}

func (c *SubtreeCache) dropLocked(chain string, st *subtrees) {
	delete(c.chains, chain)
	c.bytes -= st.bytes
	st.bytes = 0
	st.gone = true
}

// extend makes st hold the blocks under the chain's first need leaves,
// reading the hashes of those it does not hold yet, in ranges of at
// most 65536. When they do not fit in MaxBytes, even with the chains
// used least recently evicted, st's blocks become bigger (the nodes it
// holds a level up become its blocks) until they fit.
func (c *SubtreeCache) extend(ctx context.Context, st *subtrees, need uint64, hashes HashesFunc) error {
	c.mu.Lock()
	done := st.gone || st.blocks >= need>>st.shift
	c.mu.Unlock()
	if done {
		return nil
	}
	select {
	case st.fill <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-st.fill }()

	c.mu.Lock()
	if st.gone || st.blocks >= need>>st.shift {
		c.mu.Unlock()
		return nil // another proof read them meanwhile
	}
	old, oldShift, oldBlocks := st.nodes, st.shift, st.blocks
	shift, want, newCap := c.reserveLocked(st, need)
	c.mu.Unlock()

	ns, from := old, oldBlocks
	if shift != oldShift {
		// The nodes d levels above the old blocks are the new blocks.
		d := shift - oldShift
		from = oldBlocks >> d
		ns = make([]Hash, 0, newCap)
		for i := range from {
			ns = appendBlock(ns, i, old[mmrPos(i, d)])
		}
		c.mu.Lock()
		if st.gone {
			c.mu.Unlock()
			return nil
		}
		st.nodes, st.blocks, st.shift = ns, from, shift
		c.mu.Unlock()
	} else if cap(ns) < newCap {
		grown := make([]Hash, len(ns), newCap)
		copy(grown, ns)
		ns = grown
	}
	size := uint64(1) << shift
	per := max(1, uint64(readChunk)>>shift) // blocks per read
	buf := make([]Hash, 0, min(want-from, per)<<shift)
	for b := from; b < want; {
		e := min(want, b+per)
		var err error
		if buf, err = appendLeaves(buf[:0], b<<shift, e<<shift, hashes); err != nil {
			return err
		}
		for k := b; k < e; k++ {
			off := (k - b) << shift
			ns = appendBlock(ns, k, foldPerfect(buf[off:off+size]))
		}
		c.mu.Lock()
		if st.gone {
			c.mu.Unlock()
			return nil
		}
		st.nodes, st.blocks = ns, e
		c.mu.Unlock()
		b = e
	}
	return nil
}

// reserveLocked reserves the memory for st to hold the blocks under the
// chain's first need leaves, taking it from the chains used least
// recently when the budget is spent, and making st's blocks bigger when
// that is not enough. It returns the shift of st's blocks from now on,
// how many of them st is to hold, and the capacity of nodes that takes.
func (c *SubtreeCache) reserveLocked(st *subtrees, need uint64) (shift uint, want uint64, newCap int) {
	shift = st.shift
	want = need >> shift
	have := uint64(cap(st.nodes))
	exact := mmrSize(want)
	if exact <= have {
		return shift, want, int(have)
	}
	for c.bytes+int64(exact-have)*32 > c.maxBytes && c.evictLocked(st) {
	}
	room := uint64(max(0, c.maxBytes-c.bytes+st.bytes) / 32) // the nodes st may hold
	if exact <= room {
		newCap := max(exact, min(have+have/4, room)) // room to grow into, so that a growing chain is not copied for every block
		c.bytes += int64(newCap-have) * 32
		st.bytes = int64(newCap) * 32
		return shift, want, int(newCap)
	}
	for mmrSize(need>>shift) > room {
		shift++
	}
	want = need >> shift
	c.bytes += int64(mmrSize(want))*32 - st.bytes
	st.bytes = int64(mmrSize(want)) * 32
	return shift, want, int(mmrSize(want))
}

// mmrSize is the number of nodes held for n blocks: the blocks and
// every complete node above them.
func mmrSize(n uint64) uint64 { return 2*n - uint64(bits.OnesCount64(n)) }

// mmrPos is the position, in post order, of the node j levels above the
// blocks with index i: after the nodes of the blocks before it, and its
// own subtree's other nodes.
func mmrPos(i uint64, j uint) uint64 { return mmrSize(i<<j) + 1<<(j+1) - 2 }

// appendBlock appends the root r of block b (the next one) to ns, and
// the nodes above it that it completes.
func appendBlock(ns []Hash, b uint64, r Hash) []Hash {
	ns = append(ns, r)
	h := r
	for n, j := b, uint(0); n&1 == 1; n, j = n>>1, j+1 {
		h = node(&ns[mmrPos(n-1, j)], &h)
		ns = append(ns, h)
	}
	return ns
}

// appendLeaves appends the leaf hashes of 0-based leaf indexes [begin,
// end) to dst, read through hashes in ranges of at most 65536.
func appendLeaves(dst []Hash, begin, end uint64, hashes HashesFunc) ([]Hash, error) {
	for b := begin; b < end; {
		e := min(end, b+readChunk)
		hs, err := hashes(b+1, e)
		if err != nil {
			return dst, err
		}
		if uint64(len(hs)) != e-b {
			return dst, fmt.Errorf("read hashes of seqs %d to %d: got %d, want %d", b+1, e, len(hs), e-b)
		}
		for _, h := range hs {
			dst = append(dst, LeafHash(h))
		}
		b = e
	}
	return dst, nil
}

// foldPerfect returns the root of the perfect subtree whose leaf hashes
// are ls (a power of two of them), folding them in place.
func foldPerfect(ls []Hash) Hash {
	for n := len(ls); n > 1; n /= 2 {
		for i := range n / 2 {
			ls[i] = node(&ls[2*i], &ls[2*i+1])
		}
	}
	return ls[0]
}

// foldLeaves returns the root of the perfect subtree over the leaves
// [begin, end), read through hashes in ranges of at most 65536.
func foldLeaves(begin, end uint64, hashes HashesFunc) (Hash, error) {
	t := newTree()
	buf := make([]Hash, 0, min(end-begin, readChunk))
	for b := begin; b < end; {
		e := min(end, b+readChunk)
		var err error
		if buf, err = appendLeaves(buf[:0], b, e, hashes); err != nil {
			return Hash{}, err
		}
		for _, l := range buf {
			t.appendLeaf(l)
		}
		b = e
	}
	return t.root(), nil
}
