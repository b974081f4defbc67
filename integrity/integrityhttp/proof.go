package integrityhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// proofAnswer is the body of GET /api/v1/events/{id}/proof.
type proofAnswer struct {
	EventID activitylog.ID `json:"event_id"`
	Seal    integrity.Seal `json:"seal"`
	// Integrity is the event's status, as the list and detail answers
	// give it: whether its stored bytes still hash to Seal.Hash.
	Integrity      json.RawMessage      `json:"integrity"`
	Checkpoint     integrity.Checkpoint `json:"checkpoint"`
	CheckpointBody string               `json:"checkpoint_body"`
	KeyID          string               `json:"key_id"`
	LeafIndex      uint64               `json:"leaf_index"`
	LeafHash       integrity.Hash       `json:"leaf_hash"`
	TreeSize       uint64               `json:"tree_size"`
	Proof          []integrity.Hash     `json:"proof"`
}

// consistencyAnswer is the body of GET /api/v1/integrity/consistency.
type consistencyAnswer struct {
	Chain          string               `json:"chain"`
	From           uint64               `json:"from"`
	To             uint64               `json:"to"`
	FromCheckpoint integrity.Checkpoint `json:"from_checkpoint"`
	FromBody       string               `json:"from_body"`
	ToCheckpoint   integrity.Checkpoint `json:"to_checkpoint"`
	ToBody         string               `json:"to_body"`
	Proof          []integrity.Hash     `json:"proof"`
}

// proof handles GET /api/v1/events/{id}/proof[?checkpoint=TO_SEQ]: the
// RFC 6962 inclusion proof of the event's hash in the tree that the
// newest trusted checkpoint of its chain covering it signs, or the
// checkpoint with that to_seq. An event the principal may not see is
// not found.
func (s *Service) proof(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := onlyParams(r, "/api/v1/events/{id}/proof", "checkpoint"); err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var want uint64
	if c := r.URL.Query().Get("checkpoint"); c != "" {
		if want, err = strconv.ParseUint(c, 10, 63); err != nil || want == 0 || c[0] == '+' {
			s.fail(w, r, activitylog.Invalid("checkpoint", clip(c), "is not a checkpoint's to_seq, a positive integer"))
			return
		}
	}
	e, err := s.store.Get(ctx, id)
	if err == nil && !activitylog.PrincipalFrom(ctx).CanSee(&e) {
		err = activitylog.ErrNotFound // as if it did not exist
	}
	if errors.Is(err, activitylog.ErrNotFound) {
		writeError(w, http.StatusNotFound, apiError{Code: "not_found", Message: "no event has id " + id.String()})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	seals, err := s.store.Seals(ctx, []activitylog.ID{id})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	seal, ok := seals[id]
	if !ok {
		s.fail(w, r, &conflict{"unsealed", "event " + id.String() + " has no seal (it was stored without integrity, or its seal was removed), so no proof can be made; this is a failure in itself"})
		return
	}
	release, err := s.acquireProof()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer release()
	cp, err := s.checkpointFor(ctx, &seal, want)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.inclusion(ctx, &seal, cp)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var read map[string]bool
	st, _, err := s.statusOf(ctx, &e, &seal, nil, &read)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p == nil {
		p = []integrity.Hash{}
	}
	writeJSON(w, http.StatusOK, proofAnswer{
		EventID: id, Seal: seal, Integrity: st.appendJSON(nil),
		Checkpoint: *cp, CheckpointBody: string(cp.Body()), KeyID: cp.KeyID,
		LeafIndex: seal.Seq - 1, LeafHash: integrity.LeafHash(seal.Hash), TreeSize: cp.ToSeq, Proof: p,
	})
}

// checkpointFor returns the trusted checkpoint of seal's chain with
// to_seq want, or, when want is 0, the newest trusted one that covers
// seal's seq.
func (s *Service) checkpointFor(ctx context.Context, seal *integrity.Seal, want uint64) (*integrity.Checkpoint, error) {
	if want != 0 && want < seal.Seq {
		return nil, activitylog.Invalid("checkpoint", strconv.FormatUint(want, 10), fmt.Sprintf("does not cover the event, which is seq %d of chain %s: a checkpoint covers the seqs up to its to_seq", seal.Seq, seal.Chain))
	}
	cps, err := s.store.Checkpoints(ctx, seal.Chain)
	if err != nil {
		return nil, err
	}
	if want != 0 {
		cp := find(cps, seal.Chain, want)
		if cp == nil {
			return nil, notFound(fmt.Sprintf("chain %s has no checkpoint with to_seq %d", seal.Chain, want))
		}
		if err := s.trusted(cp); err != nil {
			return nil, untrusted(cp)
		}
		return cp, nil
	}
	var newest uint64
	for i := len(cps) - 1; i >= 0; i-- {
		cp := &cps[i]
		if cp.Chain != seal.Chain || s.trusted(cp) != nil {
			continue
		}
		newest = max(newest, cp.ToSeq)
		if cp.ToSeq >= seal.Seq {
			return cp, nil
		}
	}
	msg := fmt.Sprintf("the event is seq %d of chain %s, and no checkpoint signed by a trusted key covers it yet", seal.Seq, seal.Chain)
	if newest != 0 {
		msg += fmt.Sprintf(" (the newest ends at seq %d)", newest)
	}
	return nil, &conflict{"not_checkpointed", msg + "; the writer makes one with a later batch, or when its checkpoint interval passes"}
}

// consistencyParams are the parameters of GET /api/v1/integrity/consistency.
var consistencyParams = []string{"chain", "from", "to"}

// consistency handles GET /api/v1/integrity/consistency: the RFC 6962
// consistency proof that the tree of chain's checkpoint to seq `to`
// extends the tree of its checkpoint to seq `from`.
func (s *Service) consistency(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := onlyParams(r, "/api/v1/integrity/consistency", consistencyParams...); err != nil {
		s.fail(w, r, err)
		return
	}
	v := r.URL.Query()
	chain := v.Get("chain")
	if err := integrity.ValidateChainID(chain); err != nil {
		s.fail(w, r, activitylog.Invalid("chain", clip(chain), "is not a chain id: it is required, 1 to 128 ASCII letters, digits, '.', '_', ':', '-'"))
		return
	}
	var sizes [2]uint64
	for i, name := range []string{"from", "to"} {
		x := v.Get(name)
		n, err := strconv.ParseUint(x, 10, 63)
		if err != nil || n == 0 || x[0] == '+' {
			s.fail(w, r, activitylog.Invalid(name, clip(x), "is not a checkpoint's to_seq, a positive integer; it is required"))
			return
		}
		sizes[i] = n
	}
	from, to := sizes[0], sizes[1]
	if from > to {
		s.fail(w, r, activitylog.Invalid("from", strconv.FormatUint(from, 10), fmt.Sprintf("must not be greater than to (%d)", to)))
		return
	}
	release, err := s.acquireProof()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer release()
	cps, err := s.store.Checkpoints(ctx, chain)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var pair [2]*integrity.Checkpoint
	for i, n := range sizes {
		cp := find(cps, chain, n)
		if cp == nil {
			s.fail(w, r, notFound(fmt.Sprintf("chain %s has no checkpoint with to_seq %d", chain, n)))
			return
		}
		if err := s.trusted(cp); err != nil {
			s.fail(w, r, untrusted(cp))
			return
		}
		pair[i] = cp
	}
	p, err := s.consistencyProof(ctx, chain, pair[0], pair[1])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p == nil {
		p = []integrity.Hash{}
	}
	writeJSON(w, http.StatusOK, consistencyAnswer{
		Chain: chain, From: from, To: to,
		FromCheckpoint: *pair[0], FromBody: string(pair[0].Body()),
		ToCheckpoint: *pair[1], ToBody: string(pair[1].Body()),
		Proof: p,
	})
}

// find returns the checkpoint of chain with to_seq n in cps, or nil.
func find(cps []integrity.Checkpoint, chain string, n uint64) *integrity.Checkpoint {
	for i := range cps {
		if cps[i].Chain == chain && cps[i].ToSeq == n {
			return &cps[i]
		}
	}
	return nil
}

// inclusion returns the inclusion proof of seal in the tree that cp
// signs, checked against cp's tree root: built from the subtree cache,
// and, when that fails or does not verify, from every stored hash as
// integrity.InclusionProof reads them, whose answer (a proof, or the
// error) is the one given. The cache then forgets the chain, which the
// next proof reads again.
func (s *Service) inclusion(ctx context.Context, seal *integrity.Seal, cp *integrity.Checkpoint) ([]integrity.Hash, error) {
	hashes := s.hashes(ctx, seal.Chain)
	verify := func(p []integrity.Hash) error {
		return integrity.VerifyInclusion(seal.Seq, cp.ToSeq, seal.Hash, p, cp.TreeRoot)
	}
	p, err := s.cached(ctx, seal.Chain, verify, func() ([]integrity.Hash, error) {
		return s.trees.InclusionProof(ctx, seal.Chain, seal.Seq, cp.ToSeq, hashes)
	})
	if p != nil || err != nil {
		return p, err
	}
	if p, err = integrity.InclusionProof(seal.Seq, cp.ToSeq, hashes); err != nil {
		return nil, proofError(ctx, err, seal, cp.ToSeq)
	}
	if err := verify(p); err != nil {
		return nil, &conflict{"proof_failed", fmt.Sprintf("the stored event hashes of chain %s do not lead to the tree root that its checkpoint to seq %d signs: the chain was altered; GET /api/v1/integrity/verify says where", seal.Chain, cp.ToSeq)}
	}
	return p, nil
}

// consistencyProof returns the consistency proof between the trees
// that from and to (checkpoints of chain) sign, checked against their
// tree roots, as inclusion does.
func (s *Service) consistencyProof(ctx context.Context, chain string, from, to *integrity.Checkpoint) ([]integrity.Hash, error) {
	hashes := s.hashes(ctx, chain)
	verify := func(p []integrity.Hash) error {
		return integrity.VerifyConsistency(from.ToSeq, to.ToSeq, p, from.TreeRoot, to.TreeRoot)
	}
	p, err := s.cached(ctx, chain, verify, func() ([]integrity.Hash, error) {
		return s.trees.ConsistencyProof(ctx, chain, from.ToSeq, to.ToSeq, hashes)
	})
	if p != nil || err != nil {
		return p, err
	}
	if p, err = integrity.ConsistencyProof(from.ToSeq, to.ToSeq, hashes); err != nil {
		return nil, proofError(ctx, err, &integrity.Seal{Chain: chain}, to.ToSeq)
	}
	if err := verify(p); err != nil {
		return nil, &conflict{"proof_failed", fmt.Sprintf("the stored event hashes of chain %s do not lead from the tree root its checkpoint to seq %d signs to the one its checkpoint to seq %d signs: the chain was altered; GET /api/v1/integrity/verify says where", chain, from.ToSeq, to.ToSeq)}
	}
	return p, nil
}

// cached builds a proof of chain with build (through the subtree
// cache) and returns it when verify accepts it; an error only when the
// store is unavailable or the request ended. Otherwise it returns
// neither, and the caller reads every hash: when the chain has pruning
// records (the cache may hold blocks whose events are gone, which a
// proof read from the store cannot cover), when a hash is missing, or
// when the proof does not verify (the cache then forgets the chain).
// Either way the answer is the one the store's hashes give, but for a
// hash altered after the cache read its block, which no proof reads
// again (integrity.SubtreeCache): the proof given is still the one of
// the signed tree, and the verifier reports the alteration.
func (s *Service) cached(ctx context.Context, chain string, verify func([]integrity.Hash) error, build func() ([]integrity.Hash, error)) ([]integrity.Hash, error) {
	if ps, ok := s.store.(integrity.PruneSource); ok {
		recs, err := ps.Prunes(ctx, chain)
		if err != nil {
			return nil, err
		}
		if len(recs) > 0 {
			s.trees.Forget(chain)
			return nil, nil
		}
	}
	p, err := build()
	if err != nil {
		if stopped(ctx, err) {
			return nil, err
		}
		return nil, nil
	}
	if verify(p) != nil {
		s.trees.Forget(chain)
		return nil, nil
	}
	if p == nil {
		p = []integrity.Hash{}
	}
	return p, nil
}

// stopped reports whether err is the store's unavailability or the
// request's end, which a proof passes on as they are.
func stopped(ctx context.Context, err error) bool {
	return errors.Is(err, activitylog.ErrUnavailable) || errors.Is(err, activitylog.ErrClosed) || ctx.Err() != nil
}

// hashes is the HashesFunc of chain over the store.
func (s *Service) hashes(ctx context.Context, chain string) integrity.HashesFunc {
	return func(from, to uint64) ([]integrity.Hash, error) {
		return s.store.Hashes(ctx, chain, from, to)
	}
}

// acquireProof takes a token to build a proof, or returns a busy error
// when Options.MaxProofs are being built.
func (s *Service) acquireProof() (release func(), err error) {
	select {
	case s.proofs <- struct{}{}:
		return func() { <-s.proofs }, nil
	default:
		return nil, &busy{msg: fmt.Sprintf("%d proofs are being built, the most this server builds at once; retry later", cap(s.proofs)), after: 1}
	}
}

// notFoundError is a 404 with its own message.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return activitylog.ErrNotFound }

func notFound(msg string) error { return &notFoundError{msg} }

// untrusted is the conflict of a checkpoint that does not verify with
// a trusted key.
func untrusted(cp *integrity.Checkpoint) error {
	return &conflict{"untrusted_checkpoint", fmt.Sprintf("the checkpoint of chain %s to seq %d does not verify with a trusted key (key id %q): it was altered, or signed by a key this server does not trust", cp.Chain, cp.ToSeq, cp.KeyID)}
}

// proofError classifies an error of building a proof: the store's
// unavailability or the request's end as they are; anything else (a
// seq without a stored hash) as proof_failed, without the store's
// detail.
func proofError(ctx context.Context, err error, seal *integrity.Seal, size uint64) error {
	if stopped(ctx, err) {
		return err
	}
	return &conflict{"proof_failed", fmt.Sprintf("the stored event hashes of chain %s up to seq %d have a gap or a missing hash, so no proof can be made: the chain was altered; GET /api/v1/integrity/verify says where", seal.Chain, size)}
}
