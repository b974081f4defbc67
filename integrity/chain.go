package integrity

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"math/bits"
	"time"

	"github.com/activitylog/activitylog"
)

// EventTag is the domain tag that starts the input of every event hash.
// "v1" is the version of this hash construction, made for version 1 of
// the canonical encoding (activitylog.CanonicalVersion, which the
// canonical bytes also carry as their member "v"); a new canonical
// version gets a new tag. The NUL ends the tag, so no tag is a prefix
// of another.
const EventTag = "activitylog/event/v1\x00"

// GenesisTag is the domain tag of a chain's genesis value; see Genesis.
const GenesisTag = "activitylog/genesis/v1\x00"

var eventTag = []byte(EventTag)

// Genesis returns the prev of a chain's first event:
// SHA-256(GenesisTag || chain id). Deriving it from the chain id ties
// the first event, and through the links every later one, to its chain:
// an event cannot be moved to the head of another chain with its hash
// still valid.
func Genesis(chain string) Hash {
	h := sha256.New()
	h.Write([]byte(GenesisTag))
	h.Write([]byte(chain))
	return Hash(h.Sum(nil))
}

// ChainHash returns the event hash of canonical bytes that follow prev:
//
//	SHA-256(EventTag || prev || canonical)                  key == nil
//	HMAC-SHA-256(key, EventTag || prev || canonical)        otherwise
//
// It is the one-off form; Chainer and Verifier keep their hash state
// from one event to the next.
func ChainHash(key *HMACKey, prev Hash, canonical []byte) Hash {
	return newSealer(key).hash(&prev, canonical)
}

// sealer computes event hashes with a reused hash state, so that an
// event costs one SHA-256 pass and no allocation.
type sealer struct {
	h    hash.Hash
	prev [32]byte // prev is copied here: a slice of a parameter would escape
	sum  [32]byte
}

func newSealer(key *HMACKey) *sealer {
	if key == nil {
		return &sealer{h: sha256.New()}
	}
	return &sealer{h: hmac.New(sha256.New, key.secret)}
}

func (s *sealer) hash(prev *Hash, canonical []byte) Hash {
	s.prev = *prev
	s.h.Reset()
	s.h.Write(eventTag)
	s.h.Write(s.prev[:])
	s.h.Write(canonical)
	s.h.Sum(s.sum[:0])
	return s.sum
}

// Seal is what the chain adds to an event: its chain, its position, the
// hash of the event before it (Genesis(chain) for seq 1) and its own
// hash. A store keeps the four beside the event.
type Seal struct {
	Chain string `json:"chain"`
	Seq   uint64 `json:"seq"`
	Prev  Hash   `json:"prev"`
	Hash  Hash   `json:"hash"`
}

// ChainInfo describes a chain: its id, and the id of the HMAC key its
// event hashes are made with, empty for plain SHA-256. A store keeps it
// once per chain.
type ChainInfo struct {
	ID    string `json:"id"`
	KeyID string `json:"key_id,omitempty"`
}

// NewChainID returns a new chain id: a version 7 UUID (RFC 9562) in its
// 36-character form, whose leading 48 bits are the Unix time in
// milliseconds and whose other bits are random, so chain ids sort by
// the time their chain began and two writers never pick the same one.
func NewChainID(now time.Time) string { return activitylog.NewID(now).String() }

// ValidateChainID checks that id is 1 to 128 bytes of ASCII letters,
// digits, '.', '_', ':' and '-': what can stand in a checkpoint's text
// form. NewChainID's ids are valid. The error wraps
// activitylog.ErrInvalid.
func ValidateChainID(id string) error {
	if len(id) == 0 || len(id) > 128 {
		return activitylog.Invalid("chain", truncate(id, 80), "must be 1 to 128 bytes")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return activitylog.Invalid("chain", truncate(id, 80), "may hold only ASCII letters, digits, '.', '_', ':' and '-'")
		}
	}
	return nil
}

// Options configures a Chainer. The zero value, or a nil *Options,
// means: a new chain id, plain SHA-256 event hashes, no signing key.
type Options struct {
	// Chain is the chain id. Zero: NewChainID(time.Now()). Restore takes
	// the id from the state and refuses a different one here.
	Chain string
	// HMACKey, when set, makes the event hashes HMAC-SHA-256 under it.
	// Zero: plain SHA-256. A chain keeps the mode it began with.
	HMACKey *HMACKey
	// SigningKey signs checkpoints. Zero: Checkpoint returns an error.
	SigningKey ed25519.PrivateKey
}

// Chainer seals the events of one chain: it gives each its seq and
// hash, grows the chain's Merkle tree and makes signed checkpoints.
//
// A Chainer is not safe for concurrent use: a writer seals its events
// in the order it stores them, from one goroutine. Its methods change
// its state at once; a writer whose store refuses a batch goes back to
// the State it took before the batch (Restore), or the chain would skip
// the seqs it handed out.
type Chainer struct {
	info   ChainInfo
	seal   *sealer
	seq    uint64
	last   Hash // hash of seq, or the genesis value
	tree   tree // leaves 1..seq
	batch  tree // leaves cpSeq+1..seq
	cpSeq  uint64
	cpHash Hash
	signer ed25519.PrivateKey
	merged [64]Hash // the nodes the chain tree's last append made, for the batch's
}

// NewChainer starts a new chain.
func NewChainer(opts *Options) (*Chainer, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Chain == "" {
		o.Chain = NewChainID(time.Now())
	}
	if err := ValidateChainID(o.Chain); err != nil {
		return nil, fmt.Errorf("new chainer: %w", err)
	}
	if o.SigningKey != nil && len(o.SigningKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("new chainer: %w", activitylog.Invalid("signing key", fmt.Sprintf("%d bytes", len(o.SigningKey)), "is not an Ed25519 private key"))
	}
	c := &Chainer{
		info:   ChainInfo{ID: o.Chain},
		seal:   newSealer(o.HMACKey),
		last:   Genesis(o.Chain),
		tree:   newTree(),
		batch:  newTree(),
		signer: o.SigningKey,
	}
	if o.HMACKey != nil {
		c.info.KeyID = o.HMACKey.ID()
	}
	return c, nil
}

// Info returns the chain's id and HMAC key id.
func (c *Chainer) Info() ChainInfo { return c.info }

// Seq returns the seq of the last event sealed, 0 when none.
func (c *Chainer) Seq() uint64 { return c.seq }

// Pending returns how many events were sealed since the last
// checkpoint: what the next checkpoint will cover.
func (c *Chainer) Pending() uint64 { return c.seq - c.cpSeq }

// Next seals the event whose canonical bytes (activitylog.AppendCanonical)
// are given, as the chain's next event. It costs one hash pass over the
// bytes and two or three 64-byte hashes for the tree, and keeps no
// reference to canonical.
func (c *Chainer) Next(canonical []byte) Seal {
	h := c.seal.hash(&c.last, canonical)
	c.seq++
	s := Seal{Chain: c.info.ID, Seq: c.seq, Prev: c.last, Hash: h}
	c.last = h
	leaf := LeafHash(h)
	k := c.tree.appendLeafWith(leaf, &c.merged, nil)
	c.batch.appendLeafWith(leaf, nil, c.merged[:k])
	return s
}

// Checkpoint makes and signs the checkpoint of the events sealed since
// the last one: FromSeq is the last one's ToSeq+1, ToSeq is Seq(). It
// fails when there is no signing key or no event since the last
// checkpoint (see Pending). When to call it is the caller's policy: after
// every batch, or when a batch is older than some interval.
//
// The writer stores the checkpoint with the events it covers, and only
// then hands it to a Witness, so a witness never holds a checkpoint the
// store lacks.
func (c *Chainer) Checkpoint(now time.Time) (Checkpoint, error) {
	if c.signer == nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", activitylog.Invalid("signing key", "", "is not set"))
	}
	if c.seq == c.cpSeq {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", activitylog.Invalid("range", fmt.Sprint(c.seq), "has no event since the last checkpoint"))
	}
	cp := Checkpoint{
		Version:   CheckpointVersion,
		Chain:     c.info.ID,
		FromSeq:   c.cpSeq + 1,
		ToSeq:     c.seq,
		RangeRoot: c.batch.root(),
		TreeRoot:  c.tree.root(),
		Prev:      c.cpHash,
		Time:      now.Round(0).UTC(),
	}
	if err := cp.Sign(c.signer); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	c.cpSeq = c.seq
	c.cpHash = cp.Hash()
	c.batch = newTree()
	return cp, nil
}

// State is what a Chainer needs to continue its chain after a restart.
// The writer stores it in the same transaction as the events and
// checkpoint it reflects, so that it always matches the stored tail: a
// state whose Seq and Hash are not those of the last stored event
// betrays a torn write. Its JSON form is stable.
type State struct {
	Chain string `json:"chain"`
	KeyID string `json:"key_id,omitempty"` // HMAC key id; empty for SHA-256
	Seq   uint64 `json:"seq"`              // last seq sealed, 0 for none
	Hash  Hash   `json:"hash"`             // its hash; Genesis(Chain) when Seq is 0
	// Tree is the compact range of the tree over leaves 1..Seq: the
	// roots of its perfect subtrees, left to right.
	Tree []Hash `json:"tree"`
	// CheckpointSeq is the last checkpoint's ToSeq, 0 for none, and
	// CheckpointHash its hash (Checkpoint.Hash), zero for none.
	CheckpointSeq  uint64 `json:"checkpoint_seq"`
	CheckpointHash Hash   `json:"checkpoint_hash"`
	// Batch is the compact range of the tree over leaves
	// CheckpointSeq+1..Seq, from which the next RangeRoot comes.
	Batch []Hash `json:"batch"`
}

// State returns a copy of c's state.
func (c *Chainer) State() State {
	return State{
		Chain:          c.info.ID,
		KeyID:          c.info.KeyID,
		Seq:            c.seq,
		Hash:           c.last,
		Tree:           c.tree.state(),
		CheckpointSeq:  c.cpSeq,
		CheckpointHash: c.cpHash,
		Batch:          c.batch.state(),
	}
}

// Restore returns a Chainer that continues the chain of st. opts gives
// the keys: its HMACKey must be the one whose id st.KeyID names (none
// when it is empty), and its Chain must be empty or st.Chain. The state
// is checked for shape (the sizes of its compact ranges, the genesis
// value); that it matches the stored tail is the caller's check.
func Restore(st State, opts *Options) (*Chainer, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	fail := func(field, value, reason string) (*Chainer, error) {
		return nil, fmt.Errorf("restore chain: %w", activitylog.Invalid(field, value, reason))
	}
	if o.Chain != "" && o.Chain != st.Chain {
		return fail("chain", o.Chain, "differs from the state's chain "+st.Chain)
	}
	keyID := ""
	if o.HMACKey != nil {
		keyID = o.HMACKey.ID()
	}
	if keyID != st.KeyID {
		return fail("hmac key", keyID, "is not the chain's key "+st.KeyID)
	}
	if st.CheckpointSeq > st.Seq {
		return fail("checkpoint_seq", fmt.Sprint(st.CheckpointSeq), fmt.Sprintf("is past seq %d", st.Seq))
	}
	if st.Seq == 0 && st.Hash != Genesis(st.Chain) {
		return fail("hash", st.Hash.String(), "is not the genesis value of an empty chain")
	}
	if (st.CheckpointSeq == 0) != st.CheckpointHash.IsZero() {
		return fail("checkpoint_hash", st.CheckpointHash.String(), "must be zero exactly when checkpoint_seq is 0")
	}
	o.Chain = st.Chain
	c, err := NewChainer(&o)
	if err != nil {
		return nil, err
	}
	if c.tree, err = treeFrom(st.Seq, st.Tree); err != nil {
		return fail("tree", fmt.Sprint(len(st.Tree)), err.Error())
	}
	if c.batch, err = treeFrom(st.Seq-st.CheckpointSeq, st.Batch); err != nil {
		return fail("batch", fmt.Sprint(len(st.Batch)), err.Error())
	}
	if level, ok := rangesAgree(st.Seq, st.CheckpointSeq, st.Tree, st.Batch); !ok {
		return fail("batch", fmt.Sprint(len(st.Batch)), fmt.Sprintf("differs from tree at the subtree of 2^%d leaves that both cover: the state is torn or was edited", level))
	}
	c.seq, c.last, c.cpSeq, c.cpHash = st.Seq, st.Hash, st.CheckpointSeq, st.CheckpointHash
	return c, nil
}

// RebuildState makes the State of a chain from its stored event hashes,
// for a store that lost it or never kept it: seq is the last stored
// seq, hashes reads them (one pass, in ranges), last is the chain's
// last checkpoint (nil for none). It fails when last's TreeRoot is not
// the root of the hashes read, since continuing such a chain would
// hide the fault; the verifier says where it is.
func RebuildState(info ChainInfo, seq uint64, hashes HashesFunc, last *Checkpoint) (State, error) {
	t, b := newTree(), newTree()
	lastHash := Genesis(info.ID)
	var cpSeq uint64
	if last != nil {
		cpSeq = last.ToSeq
		if last.Chain != info.ID || cpSeq > seq {
			return State{}, fmt.Errorf("rebuild state: %w", activitylog.Invalid("checkpoint", fmt.Sprintf("%s %d..%d", last.Chain, last.FromSeq, last.ToSeq), fmt.Sprintf("is not within chain %s's %d events", info.ID, seq)))
		}
	}
	for from := uint64(1); from <= seq; {
		to := min(seq, from+readChunk-1)
		hs, err := hashes(from, to)
		if err != nil {
			return State{}, fmt.Errorf("rebuild state: %w", err)
		}
		if uint64(len(hs)) != to-from+1 {
			return State{}, fmt.Errorf("rebuild state: read hashes of seqs %d to %d: got %d", from, to, len(hs))
		}
		for i, h := range hs {
			leaf := LeafHash(h)
			t.appendLeaf(leaf)
			if from+uint64(i) > cpSeq {
				b.appendLeaf(leaf)
			}
			if from+uint64(i) == cpSeq && t.root() != last.TreeRoot {
				return State{}, fmt.Errorf("rebuild state: %w", activitylog.Invalid("checkpoint", fmt.Sprintf("%d..%d", last.FromSeq, last.ToSeq), "does not sign the root of the stored hashes"))
			}
			lastHash = h
		}
		from = to + 1
	}
	st := State{Chain: info.ID, KeyID: info.KeyID, Seq: seq, Hash: lastHash, Tree: t.state(), CheckpointSeq: cpSeq, Batch: b.state()}
	if last != nil {
		st.CheckpointHash = last.Hash()
	}
	return st, nil
}

// rangesAgree checks the compact ranges of a State against each other:
// tree (seq leaves) and batch (its last seq-cpSeq leaves) must hold the
// same node wherever they cover the same leaves, that is at level i
// when bit i of seq is set and 2^(i+1) divides cpSeq. Next relies on it:
// at those levels the batch's tree takes the chain tree's node
// (tree.appendLeafWith), so a node that differed would be silently
// replaced, or spread to the range root, instead of showing as a wrong
// root of its own. It returns the first level that differs. The sizes
// of the ranges were checked before.
func rangesAgree(seq, cpSeq uint64, tree, batch []Hash) (int, bool) {
	m := seq - cpSeq
	for i := 0; i < 64; i++ {
		if seq>>i&1 == 0 {
			continue
		}
		if cpSeq != 0 && (i >= 63 || cpSeq%(1<<(i+1)) != 0) {
			continue
		}
		// The ranges list their subtrees largest first: one per bit set
		// above this one comes before it.
		t, b := bits.OnesCount64(seq>>(i+1)), bits.OnesCount64(m>>(i+1))
		if tree[t] != batch[b] {
			return i, false
		}
	}
	return 0, true
}
