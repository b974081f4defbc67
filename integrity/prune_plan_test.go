package integrity

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// memPruneStore is a trail in memory with the storage steps of a
// store's Prune.
type memPruneStore struct {
	*pruneSource
	tr *trail
}

var _ PruneStore = (*memPruneStore)(nil)

func newMemPruneStore(tr *trail) *memPruneStore {
	return &memPruneStore{pruneSource: &pruneSource{memSource: tr.src, prunes: map[string][]PruneRecord{}}, tr: tr}
}

func (m *memPruneStore) Hashes(ctx context.Context, chain string, from, to uint64) ([]Hash, error) {
	return m.tr.hashes(from, to)
}

func (m *memPruneStore) LastSeq(ctx context.Context, chain string) (uint64, error) {
	var last uint64
	for _, e := range m.entries[chain] {
		last = max(last, e.Seal.Seq)
	}
	return last, nil
}

func (m *memPruneStore) CutCheckpoints(ctx context.Context, chain string, after, upTo uint64, fn func([]byte) (bool, error)) error {
	cps := slices.Clone(m.cps[chain])
	slices.Reverse(cps)
	for _, cp := range cps {
		if cp.ToSeq <= after || cp.ToSeq > upTo {
			continue
		}
		b, err := json.Marshal(cp)
		if err != nil {
			return err
		}
		if more, err := fn(b); err != nil || !more {
			return err
		}
	}
	return nil
}

func (m *memPruneStore) DeleteChain(ctx context.Context, chain string, upTo uint64, record []byte, batch int) (int64, bool, error) {
	if record != nil {
		var p PruneRecord
		if err := json.Unmarshal(record, &p); err != nil {
			return 0, false, err
		}
		if p.UpToSeq != upTo {
			return 0, false, errors.New("record does not end at the cut")
		}
		m.prunes[chain] = append(m.prunes[chain], p)
	}
	n := len(m.entries[chain])
	m.tr.deleteRange(1, upTo)
	return int64(n - len(m.entries[chain])), record != nil, nil
}

func (m *memPruneStore) DeleteUnsealed(ctx context.Context, before time.Time, batch int) (int64, error) {
	return 0, nil
}

func pruneOpts(before time.Time) PruneOptions {
	return PruneOptions{Before: before, SigningKey: testPriv, Policy: "retention 90d", Actor: "test",
		Now: func() time.Time { return testTime.Add(time.Hour) }}
}

func TestRunPrune(t *testing.T) {
	ctx := context.Background()
	tr := buildTrail(t, tn, tevery, 3, false)
	st := newMemPruneStore(tr)

	// Checkpoints end at 20, 40, ... 100 at testTime + seq seconds: the
	// last one before testTime+61s ends at 60.
	res, err := RunPrune(ctx, st, pruneOpts(testTime.Add(61*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Chains) != 1 || res.Chains[0].UpToSeq != 60 || res.Chains[0].Record == nil || res.Deleted != 60 {
		t.Fatalf("got %+v, want a record cutting at 60 and 60 deleted", res)
	}
	rep, err := NewVerifier(st, &VerifierOptions{PublicKeys: []ed25519.PublicKey{testPub}}).Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 0 {
		t.Fatalf("findings after prune: %v", rep.Findings)
	}

	// Again with the same cutoff: nothing new.
	res, err = RunPrune(ctx, st, pruneOpts(testTime.Add(61*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Chains[0].UpToSeq != 60 || res.Chains[0].Record != nil || res.Deleted != 0 {
		t.Fatalf("second prune: got %+v, want the cut at 60 kept and nothing deleted", res)
	}

	// Every checkpoint old enough: the last stored event (103) is kept,
	// so the cut is at 100; then with no tail, at 80.
	res, err = RunPrune(ctx, st, pruneOpts(testTime.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Chains[0].UpToSeq != 100 || res.Deleted != 40 {
		t.Fatalf("got %+v, want the cut at 100 and 40 deleted", res)
	}
	tr = buildTrail(t, tn, tevery, 0, false)
	res, err = RunPrune(ctx, newMemPruneStore(tr), pruneOpts(testTime.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Chains[0].UpToSeq != 80 {
		t.Fatalf("no tail: got %+v, want the cut at 80, below the last event", res)
	}
}

func TestRunPruneRefuses(t *testing.T) {
	ctx := context.Background()
	before := testTime.Add(time.Hour)

	t.Run("tampered", func(t *testing.T) {
		tr := buildTrail(t, tn, tevery, 3, false)
		tr.src.entries[testChain][9].Canonical = canonicalOf(999, 200)
		st := newMemPruneStore(tr)
		res, err := RunPrune(ctx, st, pruneOpts(before))
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("err = %v, want the cut refused", err)
		}
		if res.Deleted != 0 || len(st.prunes[testChain]) != 0 {
			t.Fatalf("got %+v, want nothing deleted nor stored", res)
		}
	})
	t.Run("untrusted key", func(t *testing.T) {
		st := newMemPruneStore(buildTrail(t, tn, tevery, 3, false))
		opts := pruneOpts(before)
		opts.SigningKey = otherPriv
		if _, err := RunPrune(ctx, st, opts); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("err = %v, want ErrBadSignature", err)
		}
		opts.PublicKeys = []ed25519.PublicKey{testPub}
		if res, err := RunPrune(ctx, st, opts); err != nil || res.Chains[0].UpToSeq != 100 {
			t.Fatalf("with the rotated key trusted: %+v, %v", res, err)
		}
	})
	t.Run("keyed chain without its key", func(t *testing.T) {
		st := newMemPruneStore(buildTrail(t, tn, tevery, 3, true))
		if res, err := RunPrune(ctx, st, pruneOpts(before)); err == nil || res.Deleted != 0 {
			t.Fatalf("got %+v, %v, want the chain refused", res, err)
		}
		opts := pruneOpts(before)
		opts.HMACKeys = []*HMACKey{testHMAC}
		if res, err := RunPrune(ctx, st, opts); err != nil || res.Chains[0].UpToSeq != 100 {
			t.Fatalf("with the key: %+v, %v", res, err)
		}
	})
	for name, edit := range map[string]func(*PruneOptions){
		"no before":     func(o *PruneOptions) { o.Before = time.Time{} },
		"batch size":    func(o *PruneOptions) { o.BatchSize = -1 },
		"public key":    func(o *PruneOptions) { o.PublicKeys = []ed25519.PublicKey{{1, 2}} },
		"no policy":     func(o *PruneOptions) { o.Policy = "" },
		"bad chain id":  func(o *PruneOptions) { o.Chains = []string{"x\n"} },
		"before 3000AD": func(o *PruneOptions) { o.Before = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) },
	} {
		t.Run(name, func(t *testing.T) {
			st := newMemPruneStore(buildTrail(t, tn, tevery, 3, false))
			opts := pruneOpts(before)
			edit(&opts)
			if _, err := RunPrune(ctx, st, opts); !errors.Is(err, activitylog.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if len(st.entries[testChain]) != 103 {
				t.Fatal("events deleted on invalid options")
			}
		})
	}
}
