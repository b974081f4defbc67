package integrity

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
)

// SealStore is a store that keeps events with their seals: what a
// Writer writes to. The sqlite package implements it.
//
// WriteSealed stores events in chain, in one transaction, all or
// nothing. Inside it the store:
//
//  1. reads the chain's stored tail state (nil when the chain has no
//     state stored yet), and refuses to go on, with an error wrapping
//     ErrTornChain, when the state is not that of the chain's last
//     stored event;
//  2. leaves out the events whose id is already stored, and all but
//     the first of events sharing one id, so that a retried batch is
//     stored and sealed once;
//  3. calls seal with the tail and the indexes in events of the events
//     left, in ascending order (possibly none), and stores them with
//     the seals it returns, the new state and its checkpoint, if any;
//     when seal returns an error, nothing is stored and WriteSealed
//     returns it. A store may call seal again in a new transaction
//     (after finding an id it took for new already stored); only the
//     last call's result counts.
//
// The canonical bytes are not stored: a verifier recomputes them from
// the stored event. seal is called on the goroutine that called
// WriteSealed. WriteSealed may be called from several goroutines; calls
// for one chain are serialized by the store's transactions.
type SealStore interface {
	WriteSealed(ctx context.Context, chain ChainInfo, events []activitylog.Event, seal SealFunc) error
}

// SealFunc seals the fresh events of a batch after the stored tail; see
// SealStore.
type SealFunc func(tail *State, fresh []int) (SealedBatch, error)

// SealedBatch is what a SealFunc returns: one seal per fresh event, in
// their order, the chain's state after them, and the checkpoint to
// store with them (nil for none). When Seals is empty and Checkpoint is
// nil there is nothing to store.
type SealedBatch struct {
	Seals      []Seal
	State      State
	Checkpoint *Checkpoint
}

// ErrTornChain is wrapped by the error of a SealStore whose stored
// state of a chain does not match the chain's last stored event: a write
// that was torn, or a tail that was edited. Continuing such a chain
// would hide the fault: the Writer returns the error, the verifier says
// what is wrong, and a Writer on a new chain (WriterOptions.Chain zero)
// can write on.
var ErrTornChain = errors.New("chain state does not match its stored tail")

// WriterOptions configures a Writer. The zero value, or a nil pointer,
// means: a new chain for this Writer, plain SHA-256 event hashes, no
// checkpoints, no witness.
type WriterOptions struct {
	// Chain is the chain to append to. Zero: NewChainID(Now()), a new
	// chain for each Writer, so that replicas, and a process after a
	// restart, write chains of their own without coordinating. A chain
	// id given here continues from its stored tail; two Writers must
	// never be given the same one at the same time (the store's
	// transactions keep the chain whole, but its events would
	// interleave by batch).
	Chain string
	// HMACKey makes the event hashes HMAC-SHA-256 under it. Zero: plain
	// SHA-256. A chain keeps the mode it began with.
	HMACKey *HMACKey
	// SigningKey signs the checkpoints. Zero: no checkpoints are made,
	// and nothing anchors the chain.
	SigningKey ed25519.PrivateKey
	// CheckpointInterval is how often a checkpoint is stored: with the
	// first batch written once the last checkpoint is this old. Zero:
	// with every batch. Flush stores one for the events not yet covered.
	// A batch that holds a loss report (see IsLossReport) is
	// checkpointed whatever the interval, so that the count of lost
	// events is signed as soon as it is stored.
	CheckpointInterval time.Duration
	// Witness, when set, is given each checkpoint after the transaction
	// that stores it has committed.
	Witness Witness
	// Now is the clock of checkpoint times. Zero: time.Now.
	Now func() time.Time
}

// Writer is an activitylog.Writer that seals the events it writes into
// a chain of its own: it computes their canonical bytes
// (activitylog.AppendCanonical), chains them after the chain's stored
// tail, and stores events, seals, chain state and signed checkpoints in
// one transaction of its SealStore. It is safe for concurrent use; its
// writes are serialized.
//
// The Writer keeps its Chainer between batches only while it matches
// the stored tail: a batch whose transaction fails leaves the Chainer
// to be restored from the stored state on the next batch, so the chain
// never skips or reuses a seq.
type Writer struct {
	store SealStore
	opts  WriterOptions
	info  ChainInfo

	mu      sync.Mutex
	chainer *Chainer  // nil: restore from the stored tail
	lastCP  time.Time // when the last checkpoint was made by this Writer
	// The batch's canonical bytes, made in two parts on two goroutines:
	// part 0 holds events [0, split), part 1 the rest, one after
	// another; ends[p][k] is where the part's event k ends in canon[p].
	canon   [2][]byte
	ends    [2][]int
	split   int
	pending []Checkpoint
}

var _ activitylog.Writer = (*Writer)(nil)

// NewWriter returns a Writer that writes to store.
func NewWriter(store SealStore, opts *WriterOptions) (*Writer, error) {
	var o WriterOptions
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Chain == "" {
		o.Chain = NewChainID(o.Now())
	}
	if err := ValidateChainID(o.Chain); err != nil {
		return nil, fmt.Errorf("new writer: %w", err)
	}
	if o.SigningKey != nil && len(o.SigningKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("new writer: %w", activitylog.Invalid("signing key", fmt.Sprintf("%d bytes", len(o.SigningKey)), "is not an Ed25519 private key"))
	}
	if o.CheckpointInterval < 0 {
		return nil, fmt.Errorf("new writer: %w", activitylog.Invalid("checkpoint interval", o.CheckpointInterval.String(), "must not be negative"))
	}
	w := &Writer{store: store, opts: o, info: ChainInfo{ID: o.Chain}}
	if o.HMACKey != nil {
		w.info.KeyID = o.HMACKey.ID()
	}
	return w, nil
}

// Chain returns the id and HMAC key id of the Writer's chain.
func (w *Writer) Chain() ChainInfo { return w.info }

// Write seals and stores events; see Writer. Events whose id is already
// stored are left as they are, so a retried batch is stored and sealed
// once. The error is the store's (the batch is then not stored, and
// the chain is as before), or, after the batch is stored, the
// witness's, which wraps activitylog.ErrUnavailable; the checkpoint is
// then given to the witness again with the next batch.
func (w *Writer) Write(ctx context.Context, events []activitylog.Event) error {
	if len(events) == 0 {
		return nil
	}
	return w.write(ctx, events, false)
}

// Flush stores a checkpoint of the events not yet covered by one, if
// there are any and the Writer has a signing key, and gives the witness
// the checkpoints it still lacks. Call it at shutdown, and on a ticker
// when CheckpointInterval is set, so that no event stays unanchored for
// long.
func (w *Writer) Flush(ctx context.Context) error {
	return w.write(ctx, nil, true)
}

func (w *Writer) write(ctx context.Context, events []activitylog.Event, force bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// The canonical bytes do not depend on the chain: they are made
	// while the store encodes and takes its lock, on two other
	// goroutines, each half of the batch (the encoding costs more than
	// the store's, and the transaction would wait for it). When the
	// Writer has a Chainer, the batch is also sealed there, on a copy,
	// in the hope that the store's tail is the Chainer's and every event
	// new, as it is for almost every batch: the first half as soon as it
	// is encoded, the second once the other goroutine is done.
	var spec *Chainer
	var specSeals []Seal
	encoded := make(chan error, 1)
	cur := w.chainer
	w.split = len(events)
	if len(events) >= minSplit {
		w.split = len(events) / 2
	}
	second := make(chan error, 1)
	if w.split < len(events) {
		go func() { second <- w.encode(1, events[w.split:]) }()
	} else {
		w.canon[1], w.ends[1] = w.canon[1][:0], w.ends[1][:0]
		second <- nil
	}
	go func() {
		err := w.encode(0, events[:w.split])
		if err == nil && cur != nil && len(events) > 0 {
			if spec, err = Restore(cur.State(), w.chainerOptions()); err == nil {
				specSeals = make([]Seal, len(events))
				for i := range w.split {
					specSeals[i] = spec.Next(w.canonOf(i))
				}
			} else {
				spec, err = nil, nil
			}
		}
		if err2 := <-second; err == nil && err2 != nil {
			err, spec = err2, nil
		}
		if err == nil && spec != nil {
			for i := w.split; i < len(events); i++ {
				specSeals[i] = spec.Next(w.canonOf(i))
			}
		}
		encoded <- err
	}()
	var encErr error
	waited := false
	wait := func() error {
		if !waited {
			encErr, waited = <-encoded, true
		}
		return encErr
	}
	defer wait()
	var made *Checkpoint
	err := w.store.WriteSealed(ctx, w.info, events, func(tail *State, fresh []int) (SealedBatch, error) {
		made = nil
		if err := wait(); err != nil {
			return SealedBatch{}, err
		}
		var b SealedBatch
		var c *Chainer
		if spec != nil && len(fresh) == len(events) && w.atTail(w.chainer, tail) {
			c, b.Seals = spec, specSeals // fresh is 0, 1, … len(events)-1
			spec = nil                   // used once
		} else {
			var err error
			if c, err = w.restore(tail); err != nil {
				return SealedBatch{}, err
			}
			b.Seals = make([]Seal, 0, len(fresh))
			for _, i := range fresh {
				b.Seals = append(b.Seals, c.Next(w.canonOf(i)))
			}
		}
		// c has changed: drop it unless the commit succeeds.
		w.chainer = nil
		now := w.opts.Now()
		if c.signer != nil && c.Pending() > 0 && (force || w.opts.CheckpointInterval == 0 || now.Sub(w.lastCP) >= w.opts.CheckpointInterval ||
			holdsLossReport(events, fresh)) {
			cp, err := c.Checkpoint(now)
			if err != nil {
				return SealedBatch{}, err
			}
			b.Checkpoint, made = &cp, &cp
		}
		if len(b.Seals) > 0 || b.Checkpoint != nil {
			b.State = c.State()
		}
		w.chainer = c
		return b, nil
	})
	if err != nil {
		wait()
		w.chainer = nil
		return fmt.Errorf("seal events: %w", err) // the store names its own step
	}
	if made != nil {
		w.lastCP = made.Time
		if w.opts.Witness != nil {
			w.pending = append(w.pending, *made)
		}
	}
	return w.witness(ctx)
}

// IsLossReport reports whether e is a Recorder's report of lost events:
// a system event of category activitylog.CategoryAuditLoss, whose Extra
// holds the counts dropped, refused and failed since the last report.
// A Writer signs a checkpoint with every batch that holds one.
func IsLossReport(e *activitylog.Event) bool {
	return e.Kind == activitylog.KindSystem && e.Category == activitylog.CategoryAuditLoss
}

// holdsLossReport reports whether one of the fresh events is a loss
// report.
func holdsLossReport(events []activitylog.Event, fresh []int) bool {
	for _, i := range fresh {
		if IsLossReport(&events[i]) {
			return true
		}
	}
	return false
}

// minSplit is the smallest batch whose canonical bytes are made in two
// parts: below it a second goroutine costs more than it saves.
const minSplit = 64

// encode sets w.canon[part] and w.ends[part] to the canonical bytes of
// events.
func (w *Writer) encode(part int, events []activitylog.Event) error {
	canon, ends := w.canon[part][:0], w.ends[part][:0]
	defer func() { w.canon[part], w.ends[part] = canon, ends }()
	for i := range events {
		var err error
		if canon, err = activitylog.AppendCanonical(canon, &events[i]); err != nil {
			return fmt.Errorf("seal event %s: %w", events[i].ID, err)
		}
		ends = append(ends, len(canon))
	}
	return nil
}

// chainerOptions are the Options of the Writer's Chainers.
func (w *Writer) chainerOptions() *Options {
	return &Options{Chain: w.info.ID, HMACKey: w.opts.HMACKey, SigningKey: w.opts.SigningKey}
}

// canonOf returns the canonical bytes of the batch's event i.
func (w *Writer) canonOf(i int) []byte {
	part := 0
	if i >= w.split {
		part, i = 1, i-w.split
	}
	start := 0
	if i > 0 {
		start = w.ends[part][i-1]
	}
	return w.canon[part][start:w.ends[part][i]]
}

// atTail reports whether c is at the stored tail (nil: a new chain).
func (w *Writer) atTail(c *Chainer, tail *State) bool {
	if c == nil {
		return false
	}
	if tail == nil {
		return c.seq == 0
	}
	return c.seq == tail.Seq && c.last == tail.Hash && c.cpSeq == tail.CheckpointSeq && c.cpHash == tail.CheckpointHash
}

// restore returns the Chainer that continues from tail: the one kept
// from the last batch when it is at tail, else one restored from it.
func (w *Writer) restore(tail *State) (*Chainer, error) {
	if w.atTail(w.chainer, tail) {
		return w.chainer, nil
	}
	if tail == nil {
		return NewChainer(w.chainerOptions())
	}
	return Restore(*tail, w.chainerOptions())
}

// witness gives the witness the checkpoints it lacks, oldest first.
func (w *Writer) witness(ctx context.Context) error {
	for len(w.pending) > 0 {
		if err := w.opts.Witness.Write(ctx, w.pending[0]); err != nil {
			return fmt.Errorf("write checkpoint %d..%d to witness (the events are stored): %w: %w",
				w.pending[0].FromSeq, w.pending[0].ToSeq, activitylog.ErrUnavailable, err)
		}
		w.pending = w.pending[1:]
	}
	return nil
}
