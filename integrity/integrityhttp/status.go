package integrityhttp

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// The statuses of the "integrity" member; docs/api.md says exactly
// what each proves.
const (
	// StatusUnsealed: the event has no seal. Always a failure.
	StatusUnsealed = "unsealed"
	// StatusModified: the event's canonical bytes, hashed after the
	// stored prev, are not its stored hash.
	StatusModified = "modified"
	// StatusUnchecked: the event's chain is keyed with an HMAC key the
	// server does not hold, so its hash could not be recomputed.
	StatusUnchecked = "unchecked"
	// StatusSealed: the hash recomputes; no trusted checkpoint covers
	// its seq yet.
	StatusSealed = "sealed"
	// StatusCheckpointed: the hash recomputes, and a checkpoint signed
	// by a trusted key covers its seq.
	StatusCheckpointed = "checkpointed"
)

// Member returns "integrity", the member Annotate adds.
func (s *Service) Member() string { return "integrity" }

// chainState is what the Service keeps of a chain: its HMAC key id and
// the to_seqs of its checkpoints that verified with a trusted key.
type chainState struct {
	keyID    string
	verified []uint64  // ascending
	read     time.Time // when its checkpoints were last read; zero: never
}

// Annotate returns the "integrity" member of each event: its seal
// status, with its chain, seq and hash and, when a trusted checkpoint
// covers it, that checkpoint's to_seq. It reads the seals in one call
// (Store.Seals), recomputes each event's hash, and reads a chain's
// checkpoints only when an event lies beyond the newest one it knows,
// at most once per Options.CheckpointRefresh.
func (s *Service) Annotate(ctx context.Context, events []activitylog.Event) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(events))
	if len(events) == 0 {
		return out, nil
	}
	ids := make([]activitylog.ID, len(events))
	for i := range events {
		ids[i] = events[i].ID
	}
	seals, err := s.store.Seals(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("integrity status: %w", err)
	}
	var (
		buf   = make([]byte, 0, 160*len(events))
		ends  = make([]int, len(events))
		canon []byte
		read  map[string]bool // chains whose checkpoints this call read
	)
	for i := range events {
		st := status{status: StatusUnsealed}
		if seal, ok := seals[events[i].ID]; ok {
			st, canon, err = s.statusOf(ctx, &events[i], &seal, canon, &read)
			if err != nil {
				return nil, err
			}
		}
		buf = st.appendJSON(buf)
		ends[i] = len(buf)
	}
	start := 0
	for i, end := range ends {
		out[i] = json.RawMessage(buf[start:end:end])
		start = end
	}
	return out, nil
}

// status is one event's integrity member.
type status struct {
	status     string
	seal       *integrity.Seal // nil when unsealed
	checkpoint uint64          // to_seq of a trusted checkpoint that covers it; 0: none
}

func (st status) appendJSON(b []byte) []byte {
	b = append(b, `{"status":"`...)
	b = append(b, st.status...)
	b = append(b, '"')
	if st.seal != nil {
		b = append(b, `,"chain":`...)
		b = appendString(b, st.seal.Chain)
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, st.seal.Seq, 10)
		b = append(b, `,"hash":"`...)
		b = hex.AppendEncode(b, st.seal.Hash[:])
		b = append(b, '"')
		if st.checkpoint != 0 {
			b = append(b, `,"checkpoint":`...)
			b = strconv.AppendUint(b, st.checkpoint, 10)
		}
	}
	return append(b, '}')
}

// appendString appends s as a JSON string: as it is when it is a valid
// chain id (which needs no escaping), else through encoding/json.
func appendString(b []byte, s string) []byte {
	if integrity.ValidateChainID(s) == nil {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// statusOf returns the status of e, whose stored seal is seal. canon is
// a buffer for the canonical bytes, returned for reuse; read records
// the chains whose checkpoints were read during this Annotate call.
func (s *Service) statusOf(ctx context.Context, e *activitylog.Event, seal *integrity.Seal, canon []byte, read *map[string]bool) (status, []byte, error) {
	st := status{seal: seal}
	cs, err := s.chainOf(ctx, seal.Chain, seal.Seq, read)
	if err != nil {
		return st, canon, err
	}
	st.checkpoint = cs.covering
	var key *integrity.HMACKey
	if cs.keyID != "" {
		if key = s.macs[cs.keyID]; key == nil {
			st.status = StatusUnchecked
			return st, canon, nil
		}
	}
	canon, err = activitylog.AppendCanonical(canon[:0], e)
	if err != nil {
		// An event that cannot be encoded cannot be the one that was
		// hashed.
		st.status = StatusModified
		return st, canon, nil
	}
	switch {
	case integrity.ChainHash(key, seal.Prev, canon) != seal.Hash:
		st.status = StatusModified
	case st.checkpoint != 0:
		st.status = StatusCheckpointed
	default:
		st.status = StatusSealed
	}
	return st, canon, nil
}

// chainView is what statusOf needs of a chain for one seq.
type chainView struct {
	keyID    string
	covering uint64 // the smallest trusted to_seq >= seq; 0: none
}

// chainOf returns the key id of chain and the trusted checkpoint that
// first covers seq, reading the chain's checkpoints (and the list of
// chains, for a chain not seen before) when what is known covers less
// than seq and was read longer than CheckpointRefresh ago, and at most
// once per chain per Annotate call.
func (s *Service) chainOf(ctx context.Context, chain string, seq uint64, read *map[string]bool) (chainView, error) {
	s.mu.Lock()
	cs := s.chains[chain]
	if cs != nil {
		if v, ok := cs.lookup(seq); ok {
			s.mu.Unlock()
			return v, nil
		}
	}
	stale := cs == nil || s.now().Sub(cs.read) >= s.refresh
	s.mu.Unlock()
	if !stale || (*read)[chain] {
		return cs.view(seq), nil
	}
	if *read == nil {
		*read = map[string]bool{}
	}
	(*read)[chain] = true
	fresh, err := s.readChain(ctx, chain, cs)
	if err != nil {
		return chainView{}, err
	}
	s.mu.Lock()
	s.chains[chain] = fresh
	s.mu.Unlock()
	return fresh.view(seq), nil
}

// lookup returns the view of seq when a known trusted checkpoint
// covers it; false otherwise.
func (cs *chainState) lookup(seq uint64) (chainView, bool) {
	v := cs.view(seq)
	return v, v.covering != 0
}

func (cs *chainState) view(seq uint64) chainView {
	if cs == nil {
		return chainView{}
	}
	v := chainView{keyID: cs.keyID}
	if i, _ := slices.BinarySearch(cs.verified, seq); i < len(cs.verified) {
		v.covering = cs.verified[i]
	}
	return v
}

// readChain reads chain's key id (for a chain not known yet) and its
// checkpoints, and returns its new state: the to_seqs of the
// checkpoints that verify with a trusted key.
func (s *Service) readChain(ctx context.Context, chain string, old *chainState) (*chainState, error) {
	cs := &chainState{read: s.now()}
	if old != nil {
		cs.keyID = old.keyID
	} else {
		infos, err := s.store.Chains(ctx)
		if err != nil {
			return nil, fmt.Errorf("integrity status: %w", err)
		}
		for _, c := range infos {
			if c.ID == chain {
				cs.keyID = c.KeyID
				break
			}
		}
	}
	cps, err := s.store.Checkpoints(ctx, chain)
	if err != nil {
		return nil, fmt.Errorf("integrity status: %w", err)
	}
	for i := range cps {
		if cps[i].Chain == chain && s.trusted(&cps[i]) == nil {
			cs.verified = append(cs.verified, cps[i].ToSeq)
		}
	}
	slices.Sort(cs.verified)
	cs.verified = slices.Compact(cs.verified)
	return cs, nil
}
