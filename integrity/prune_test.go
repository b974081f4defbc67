package integrity

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// pruneSource is a memSource that also gives pruning records.
type pruneSource struct {
	*memSource
	prunes map[string][]PruneRecord
}

var _ PruneSource = (*pruneSource)(nil)

func (p *pruneSource) Prunes(ctx context.Context, chain string) ([]PruneRecord, error) {
	return p.prunes[chain], nil
}

// hashes reads the trail's stored event hashes, as a store's Hashes does.
func (tr *trail) hashes(from, to uint64) ([]Hash, error) {
	var hs []Hash
	for _, e := range tr.entries() {
		if e.Seal != nil && e.Seal.Seq >= from && e.Seal.Seq <= to {
			hs = append(hs, e.Seal.Hash)
		}
	}
	if uint64(len(hs)) != to-from+1 {
		return nil, errors.New("gap")
	}
	return hs, nil
}

// checkpointAt returns the trail's checkpoint that ends at seq.
func (tr *trail) checkpointAt(t testing.TB, seq uint64) Checkpoint {
	for _, cp := range tr.src.cps[tr.chain] {
		if cp.ToSeq == seq {
			return cp
		}
	}
	t.Fatalf("no checkpoint ends at %d", seq)
	return Checkpoint{}
}

// pruneRecord makes the signed record of a cut at seq, after prev.
func (tr *trail) pruneRecord(t testing.TB, seq uint64, prev *PruneRecord) PruneRecord {
	t.Helper()
	p, err := NewPruneRecord(tr.checkpointAt(t, seq), prev, tr.hashes)
	if err != nil {
		t.Fatal(err)
	}
	p.Policy, p.Actor, p.Time = "retention 90d", "retention-job", testTime.Add(time.Hour)
	if err := p.Sign(tr.priv); err != nil {
		t.Fatal(err)
	}
	return p
}

// deleteUpTo removes the stored events with seq in from..to.
func (tr *trail) deleteRange(from, to uint64) {
	tr.src.entries[tr.chain] = slices.DeleteFunc(tr.src.entries[tr.chain], func(e Entry) bool {
		return e.Seal.Seq >= from && e.Seal.Seq <= to
	})
}

// pruned builds a trail of 100 events (checkpoints every 20, 3 more
// events after the last), writes a record at cut and deletes 1..cut.
func prunedTrail(t *testing.T, keyed bool, cut uint64) (*trail, *pruneSource) {
	tr := buildTrail(t, tn, tevery, 3, keyed)
	p := tr.pruneRecord(t, cut, nil)
	tr.deleteRange(1, cut)
	return tr, &pruneSource{memSource: tr.src, prunes: map[string][]PruneRecord{tr.chain: {p}}}
}

func (tr *trail) verifySrc(t testing.TB, src Source, opts *VerifierOptions) *Report {
	t.Helper()
	o := VerifierOptions{PublicKeys: []ed25519.PublicKey{tr.pub}, MaxFindings: -1}
	if opts != nil {
		o = *opts
		o.PublicKeys, o.MaxFindings = []ed25519.PublicKey{tr.pub}, -1
	}
	if tr.hmac != nil {
		o.HMACKeys = []*HMACKey{tr.hmac}
	}
	rep, err := NewVerifier(src, &o).Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// bothPasses runs f on the streaming pass and on the forced in-memory one.
func bothPasses(t *testing.T, f func(t *testing.T, keyed bool)) {
	modes(t, func(t *testing.T, keyed bool) {
		for _, thorough := range []bool{false, true} {
			t.Run(map[bool]string{false: "fast", true: "thorough"}[thorough], func(t *testing.T) {
				forceThorough = thorough
				defer func() { forceThorough = false }()
				f(t, keyed)
			})
		}
	})
}

func TestPruneVerifies(t *testing.T) {
	bothPasses(t, func(t *testing.T, keyed bool) {
		tr, src := prunedTrail(t, keyed, 40)
		rep := tr.verifySrc(t, src, nil)
		check(t, rep, want())
		c := rep.Chains[0]
		if rep.Total != 63 || rep.Verified != 63 || c.Length != 103 || c.PrunedTo != 40 || c.CheckpointsPruned != 2 ||
			c.CheckpointsVerified != 3 || c.Anchored != 100 || rep.CheckpointsPruned != 2 {
			t.Errorf("report: total %d verified %d, chain %+v", rep.Total, rep.Verified, c)
		}

		// Without the record, the gap is missing.
		check(t, tr.verifySrc(t, tr.src, nil), want("missing 1..40"))
		src.prunes = nil
		check(t, tr.verifySrc(t, src, nil), want("missing 1..40"))
	})
}

func TestPruneWholeChain(t *testing.T) {
	bothPasses(t, func(t *testing.T, keyed bool) {
		tr := buildTrail(t, tn, tevery, 0, keyed)
		p := tr.pruneRecord(t, 100, nil)
		tr.deleteRange(1, 100)
		src := &pruneSource{memSource: tr.src, prunes: map[string][]PruneRecord{tr.chain: {p}}}
		rep := tr.verifySrc(t, src, &VerifierOptions{Witness: tr.witness})
		check(t, rep, want())
		if c := rep.Chains[0]; c.Length != 100 || c.CheckpointsPruned != 5 || c.Entries != 0 || c.Anchored != 100 {
			t.Errorf("chain %+v", c)
		}
	})
}

func TestPrunePartial(t *testing.T) {
	bothPasses(t, func(t *testing.T, keyed bool) {
		// A prune interrupted after its first batches: the record is
		// stored, some events below the cut are still there.
		for _, gone := range []uint64{0, 1, 7, 20, 25, 39, 40} {
			tr := buildTrail(t, tn, tevery, 3, keyed)
			p := tr.pruneRecord(t, 40, nil)
			if gone > 0 {
				tr.deleteRange(1, gone)
			}
			src := &pruneSource{memSource: tr.src, prunes: map[string][]PruneRecord{tr.chain: {p}}}
			rep := tr.verifySrc(t, src, nil)
			check(t, rep, want())
			if rep.Total != 103-int(gone) || rep.Verified != rep.Total {
				t.Errorf("deleted 1..%d: total %d verified %d", gone, rep.Total, rep.Verified)
			}
		}
		// Events below the cut deleted out of order still verify.
		tr := buildTrail(t, tn, tevery, 3, keyed)
		p := tr.pruneRecord(t, 40, nil)
		tr.deleteRange(5, 12)
		tr.deleteRange(30, 33)
		check(t, tr.verifySrc(t, &pruneSource{memSource: tr.src, prunes: map[string][]PruneRecord{tr.chain: {p}}}, nil), want())
	})
}

func TestPruneTwice(t *testing.T) {
	bothPasses(t, func(t *testing.T, keyed bool) {
		tr := buildTrail(t, tn, tevery, 3, keyed)
		p1 := tr.pruneRecord(t, 20, nil)
		tr.deleteRange(1, 20)
		p2 := tr.pruneRecord(t, 60, &p1) // the events 1..20 are gone
		tr.deleteRange(21, 60)
		src := &pruneSource{memSource: tr.src, prunes: map[string][]PruneRecord{tr.chain: {p2, p1}}}
		rep := tr.verifySrc(t, src, nil)
		check(t, rep, want())
		if c := rep.Chains[0]; c.PrunedTo != 60 || c.CheckpointsPruned != 3 || c.CheckpointsVerified != 2 {
			t.Errorf("chain %+v", c)
		}
		// The later record alone does it too.
		src.prunes[tr.chain] = []PruneRecord{p2}
		check(t, tr.verifySrc(t, src, nil), want())
		// The earlier alone does not.
		src.prunes[tr.chain] = []PruneRecord{p1}
		check(t, tr.verifySrc(t, src, nil), want("missing 21..60"))
	})
}

func TestPruneTampered(t *testing.T) {
	bothPasses(t, func(t *testing.T, keyed bool) {
		t.Run("deleted after the cut", func(t *testing.T) {
			for _, seq := range []uint64{41, 55, 60, 61} {
				tr, src := prunedTrail(t, keyed, 40)
				tr.deleteRange(seq, seq)
				check(t, tr.verifySrc(t, src, nil), want("missing "+itoaU(seq)))
			}
			tr, src := prunedTrail(t, keyed, 40)
			tr.deleteRange(41, 45)
			check(t, tr.verifySrc(t, src, nil), want("missing 41..45"))
		})
		t.Run("newest deleted", func(t *testing.T) {
			tr, src := prunedTrail(t, keyed, 40)
			tr.deleteRange(91, 103)
			check(t, tr.verifySrc(t, src, nil), want("truncated 91..100"))
		})
		t.Run("modified after the cut", func(t *testing.T) {
			tr, src := prunedTrail(t, keyed, 40)
			e := &tr.src.entries[tr.chain][tr.at(t, 41)]
			e.Canonical = append(slices.Clone(e.Canonical), ' ')
			check(t, tr.verifySrc(t, src, nil), want("modified 41 "+id(41)))
		})
		edits := map[string]func(p *PruneRecord){
			"policy":     func(p *PruneRecord) { p.Policy = "keep forever" },
			"upto":       func(p *PruneRecord) { p.UpToSeq = 60 },
			"signature":  func(p *PruneRecord) { p.Signature = slices.Clone(p.Signature); p.Signature[0] ^= 1 },
			"other key":  func(p *PruneRecord) { p.Sign(otherPriv) },
			"no key id":  func(p *PruneRecord) { p.KeyID = "" },
			"unreadable": func(p *PruneRecord) { *p = PruneRecord{Version: PruneVersion, Chain: p.Chain, UpToSeq: p.UpToSeq} },
		}
		for name, edit := range edits {
			t.Run("record "+name, func(t *testing.T) {
				tr, src := prunedTrail(t, keyed, 40)
				p := src.prunes[tr.chain][0]
				edit(&p)
				src.prunes[tr.chain] = []PruneRecord{p}
				end := "40"
				if p.UpToSeq != 40 {
					end = itoaU(p.UpToSeq)
				}
				check(t, tr.verifySrc(t, src, nil), want("bad_signature 1.."+end, "missing 1..40"))
			})
		}
		resigned := map[string]func(p *PruneRecord){
			"cut hash":   func(p *PruneRecord) { p.CutHash[3] ^= 1 },
			"tree":       func(p *PruneRecord) { p.Tree[0][3] ^= 1 },
			"checkpoint": func(p *PruneRecord) { p.Checkpoint[0] ^= 1 },
			"upto":       func(p *PruneRecord) { p.UpToSeq = 39; p.Tree = make([]Hash, 3) },
		}
		for name, edit := range resigned {
			t.Run("re-signed "+name, func(t *testing.T) {
				// Whoever holds the key signed a record that disagrees with
				// the checkpoint at its cut.
				tr, src := prunedTrail(t, keyed, 40)
				p := src.prunes[tr.chain][0]
				edit(&p)
				if err := p.Sign(tr.priv); err != nil {
					t.Fatal(err)
				}
				src.prunes[tr.chain] = []PruneRecord{p}
				check(t, tr.verifySrc(t, src, nil), want("checkpoint_mismatch 1.."+itoaU(p.UpToSeq), "missing 1..40"))
			})
		}
		t.Run("forged after the cut", func(t *testing.T) {
			tr, src := prunedTrail(t, keyed, 40)
			i := tr.at(t, 41)
			var key *HMACKey
			if keyed {
				key = tr.hmac // the worst case: even with the key
			}
			tr.src.entries[tr.chain][i] = forge(tr.chain, 41, Hash{9}, key)
			rep := tr.verifySrc(t, src, nil)
			if !slices.Contains(brief(rep.Findings), "inserted 41 "+id(9999)) {
				t.Errorf("findings %q, want inserted 41", brief(rep.Findings))
			}
		})
		t.Run("seal prev edited after the cut", func(t *testing.T) {
			tr, src := prunedTrail(t, keyed, 40)
			tr.setSeal(tr.at(t, 41), func(s *Seal) { s.Prev[0] ^= 1 })
			check(t, tr.verifySrc(t, src, nil), want("modified 41 "+id(41)))
		})
		t.Run("event at the cut forged", func(t *testing.T) {
			// A prune interrupted before seq 40 was deleted; seq 40 then
			// replaced with a forged event that links to 39.
			tr := buildTrail(t, tn, tevery, 3, keyed)
			p := tr.pruneRecord(t, 40, nil)
			tr.deleteRange(1, 30)
			var key *HMACKey
			if keyed {
				key = tr.hmac
			}
			i := tr.at(t, 40)
			tr.src.entries[tr.chain][i] = forge(tr.chain, 40, tr.entries()[i-1].Seal.Hash, key)
			src := &pruneSource{memSource: tr.src, prunes: map[string][]PruneRecord{tr.chain: {p}}}
			rep := tr.verifySrc(t, src, nil)
			if rep.OK() || !slices.ContainsFunc(rep.Findings, func(f Finding) bool { return f.Seq == 40 && f.EventID == testID(9999) }) {
				t.Errorf("findings %q, want one at seq 40 for the forged event", brief(rep.Findings))
			}
		})
	})
}

func TestPruneRecordText(t *testing.T) {
	tr := buildTrail(t, 40, 20, 0, false)
	for _, seq := range []uint64{20, 40} {
		p := tr.pruneRecord(t, seq, nil)
		body := p.Body()
		q, err := ParsePruneRecord(body)
		if err != nil {
			t.Fatal(err)
		}
		q.Signature = p.Signature
		if err := q.Verify(tr.pub); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(q.Body(), body) {
			t.Errorf("parsed body differs")
		}
		j, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var r PruneRecord
		if err := json.Unmarshal(j, &r); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.Body(), body) || r.Verify(tr.pub) != nil {
			t.Errorf("JSON round trip: %s", j)
		}
	}
	// A cut at seq 1 has an empty tree line.
	one := PruneRecord{Version: 1, Chain: testChain, UpToSeq: 1, Policy: "p", Actor: "a", Time: testTime}
	if err := one.Sign(testPriv); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(one.Body(), []byte("\ntree\n")) {
		t.Errorf("body %q", one.Body())
	}
	if _, err := ParsePruneRecord(one.Body()); err != nil {
		t.Fatal(err)
	}

	gp := tr.pruneRecord(t, 40, nil)
	good := string(gp.Body())
	bad := map[string]string{
		"header":         strings.Replace(good, "prune/v1", "prune/v2", 1),
		"leading zero":   strings.Replace(good, "upto 40", "upto 040", 1),
		"zero upto":      strings.Replace(good, "upto 40", "upto 0", 1),
		"upper hex":      strings.Replace(good, "\ncut ", "\ncut A", 1)[:len(good)],
		"tree size":      strings.Replace(good, "\ntree ", "\ntree "+strings.Repeat("0", 64)+" ", 1),
		"tree two space": strings.Replace(good, "\ntree ", "\ntree  ", 1),
		"no newline":     strings.TrimSuffix(good, "\n"),
		"extra line":     good + "x\n",
		"order":          strings.Replace(strings.Replace(good, "policy retention 90d\nactor retention-job", "actor retention-job\npolicy retention 90d", 1), "", "", 1),
		"empty policy":   strings.Replace(good, "policy retention 90d", "policy ", 1),
		"control":        strings.Replace(good, "policy retention 90d", "policy a\tb", 1),
		"time":           strings.Replace(good, ".000000000Z", "Z", 1),
		"key":            strings.Replace(good, "\nkey ", "\nkey X", 1),
		"chain":          strings.Replace(good, "chain ", "chain a b", 1),
	}
	for name, body := range bad {
		if _, err := ParsePruneRecord([]byte(body)); !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
	var p PruneRecord
	for name, j := range map[string]string{
		"unknown member": `{"version":1,"x":1}`,
		"trailing":       `{"version":1} {}`,
		"not an object":  `[]`,
	} {
		if err := json.Unmarshal([]byte(j), &p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := (&PruneRecord{}).Sign(nil); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("Sign(nil): %v", err)
	}
}

func TestNewPruneRecordRefuses(t *testing.T) {
	tr := buildTrail(t, tn, tevery, 0, false)
	// The stored hashes no longer make the checkpoint's root.
	tr.setSeal(tr.at(t, 7), func(s *Seal) { s.Hash[0] ^= 1 })
	if _, err := NewPruneRecord(tr.checkpointAt(t, 40), nil, tr.hashes); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("tampered hashes: %v", err)
	}
	tr = buildTrail(t, tn, tevery, 0, false)
	p := tr.pruneRecord(t, 40, nil)
	if _, err := NewPruneRecord(tr.checkpointAt(t, 20), &p, tr.hashes); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("cut before the earlier record: %v", err)
	}
	tr.deleteRange(1, 40)
	if _, err := NewPruneRecord(tr.checkpointAt(t, 80), nil, tr.hashes); err == nil {
		t.Errorf("without the earlier record over pruned events: no error")
	}
	if _, err := NewPruneRecord(tr.checkpointAt(t, 80), &p, tr.hashes); err != nil {
		t.Errorf("after the earlier record: %v", err)
	}
}

func FuzzParsePruneRecord(f *testing.F) {
	tr := buildTrail(f, 40, 20, 0, false)
	for _, seq := range []uint64{20, 40} {
		p := tr.pruneRecord(f, seq, nil)
		f.Add(p.Body())
	}
	f.Add([]byte("activitylog/prune/v1\nchain a\nupto 1\ncheckpoint " + strings.Repeat("0", 64) + "\ncut " + strings.Repeat("0", 64) +
		"\ntree\npolicy p\nactor a\ntime 2026-11-24T10:00:00.000000000Z\nkey 0123456789abcdef\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParsePruneRecord(body)
		if err != nil {
			if !errors.Is(err, activitylog.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if !bytes.Equal(p.Body(), body) {
			t.Fatalf("body %q parses but writes back as %q", body, p.Body())
		}
		p.Signature = make([]byte, 64)
		j, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal a parsed record: %v", err)
		}
		var q PruneRecord
		if err := json.Unmarshal(j, &q); err != nil || !bytes.Equal(q.Body(), body) {
			t.Fatalf("JSON round trip of %q: %v", body, err)
		}
	})
}

// TestPruneDocExample holds the code to the example record of
// docs/integrity.md: the two-event chain of the Chains section pruned
// at its checkpoint, signed by the test key whose seed is 32 bytes 0x07.
func TestPruneDocExample(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	c, err := NewChainer(&Options{Chain: testChain, SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	s1 := c.Next([]byte(`{"action":"login","kind":"auth","severity":"info","time":"2026-11-24T10:00:00.000000000Z","v":1}`))
	s2 := c.Next([]byte(`{"action":"logout","kind":"auth","severity":"info","time":"2026-11-24T10:05:00.000000000Z","v":1}`))
	cp, err := c.Checkpoint(time.Date(2026, 11, 24, 10, 5, 0, 500000000, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	hs := []Hash{s1.Hash, s2.Hash}
	p, err := NewPruneRecord(cp, nil, func(from, to uint64) ([]Hash, error) { return hs[from-1 : to], nil })
	if err != nil {
		t.Fatal(err)
	}
	p.Policy, p.Actor, p.Time = "retention 90d", "retention-job", time.Date(2027, 2, 22, 3, 0, 0, 0, time.UTC)
	if err := p.Sign(priv); err != nil {
		t.Fatal(err)
	}
	const body = "activitylog/prune/v1\n" +
		"chain 0190a6e0-5c1a-7b3e-9f00-0000000000c1\n" +
		"upto 2\n" +
		"checkpoint 28f12ba031a6284db464a58c834223f935322726105de363d49adaebf442e6a7\n" +
		"cut 32dcd83cf76bd7b25c87f5a0849286a9ef38deb3b783fd42901b5207aaae9dc8\n" +
		"tree dcc020885b2f5fb146d4d19b3bbccfbab0893be5c4e94342428ed1cdfbbf5072\n" +
		"policy retention 90d\n" +
		"actor retention-job\n" +
		"time 2027-02-22T03:00:00.000000000Z\n" +
		"key fe812c12f3ab4ce6\n"
	if got := string(p.Body()); got != body {
		t.Errorf("body:\n%s\nwant:\n%s", got, body)
	}
	if got := p.Hash().String(); got != "066e2125891cf3447077ddb82662f299facb80827215d784981147a715669aa1" {
		t.Errorf("hash %s", got)
	}
	const sig = "a773fde536f71ba2d557bd6507fa7d78cddebefe833078986012daf44f795435822258d5877eb2be3e844e540b39d457b7f77fd1a635d33637b40569b95cf908"
	if got := hex.EncodeToString(p.Signature); got != sig {
		t.Errorf("signature %s", got)
	}
}
