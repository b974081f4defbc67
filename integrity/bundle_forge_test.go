package integrity

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// forgeBundle writes a filtered (proof) bundle of a chain of 14 events with
// checkpoints at 7 and 14, holding the events i%3==0. tamper, when set,
// decides per event what to write instead.
func forgeBundle(t *testing.T, keyed bool, tamper func(bw *BundleWriter, i int, e activitylog.Event, s Seal, p *BundleProof) bool, extra func(bw *BundleWriter)) ([]byte, ed25519.PublicKey, *HMACKey) {
	pub, priv, _ := GenerateKey()
	var mac *HMACKey
	if keyed {
		mac, _ = GenerateHMACKey()
	}
	c, err := NewChainer(&Options{Chain: "chain-a", SigningKey: priv, HMACKey: mac})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	var events []activitylog.Event
	var seals []Seal
	var cps []Checkpoint
	for i := range 14 {
		e := activitylog.Event{ID: activitylog.NewID(start), Time: start.Add(time.Duration(i) * time.Second), Kind: activitylog.KindAuth,
			Action: "login", Severity: activitylog.SeverityInfo, Message: "ok"}
		canon, _ := activitylog.Canonical(&e)
		events = append(events, e)
		seals = append(seals, c.Next(canon))
		if (i+1)%7 == 0 {
			cp, _ := c.Checkpoint(start)
			cps = append(cps, cp)
		}
	}
	hs := make([]Hash, len(seals))
	for i, s := range seals {
		hs[i] = s.Hash
	}
	tree, _ := NewProofTree(14, func(from, to uint64) ([]Hash, error) { return hs[from-1 : to], nil })
	var buf bytes.Buffer
	bw, _ := NewBundleWriter(&buf, BundleHeader{WholeChains: false, Filters: BundleFilters{Kinds: []string{"auth"}}})
	bw.Key(pub)
	bw.Chain(c.Info())
	for _, cp := range cps {
		bw.Checkpoint(cp)
	}
	p, _ := tree.Consistency(7, 14)
	bw.Consistency(BundleConsistency{Chain: "chain-a", Size1: 7, Size2: 14, Path: p})
	for i := range events {
		if i%3 != 0 {
			continue
		}
		path, _ := tree.Inclusion(seals[i].Seq, 14)
		pr := &BundleProof{TreeSize: 14, Path: path}
		if tamper != nil && tamper(bw, i, events[i], seals[i], pr) {
			continue
		}
		if err := bw.Event(&events[i], nil, &seals[i], pr); err != nil {
			t.Fatal(err)
		}
	}
	if extra != nil {
		extra(bw)
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), pub, mac
}

func forgeVerify(t *testing.T, b []byte, pub ed25519.PublicKey, mac *HMACKey) *Report {
	bd, err := ReadBundle(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	o := &VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}, MaxFindings: -1}
	if mac != nil {
		o.HMACKeys = []*HMACKey{mac}
	}
	rep, err := bd.Verify(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// Keyless chain: event 4 (seq 4, covered by checkpoint 7) is edited; its
// seal is moved past the last checkpoint (seq 100, new hash) and its proof
// dropped. The bundle verifies.
func TestBundleProofEditedEventMovedPastCheckpoint(t *testing.T) {
	if rep := forgeVerify(t, func() []byte { b, _, _ := forgeBundle(t, false, nil, nil); return b }(), nil, nil); rep.OK() {
		t.Fatal("sanity: untrusted key should fail")
	}
	var pubKey ed25519.PublicKey
	b, pub, _ := forgeBundle(t, false, func(bw *BundleWriter, i int, e activitylog.Event, s Seal, p *BundleProof) bool {
		if i != 3 {
			return false
		}
		e.Message = "FORGED"
		canon, _ := activitylog.Canonical(&e)
		s.Seq, s.Prev = 100, Hash{1}
		s.Hash = newSealer(nil).hash(&s.Prev, canon)
		if err := bw.Event(&e, nil, &s, nil); err != nil {
			t.Fatal(err)
		}
		return true
	}, nil)
	pubKey = pub
	rep := forgeVerify(t, b, pubKey, nil)
	t.Logf("OK=%v verified=%d findings=%v chains=%+v", rep.OK(), rep.Verified, rep.Findings, rep.Chains)
	if rep.OK() {
		t.Error("a proof bundle whose event (covered by a signed checkpoint) was edited verifies OK")
	}
}

// Keyed chain: the edited event is removed from the keyed chain and put,
// with the same id, in a new keyless chain record with no checkpoint.
func TestBundleProofEditedEventInForgedKeylessChain(t *testing.T) {
	var forged activitylog.Event
	b, pub, mac := forgeBundle(t, true, func(bw *BundleWriter, i int, e activitylog.Event, s Seal, p *BundleProof) bool {
		if i == 3 {
			forged = e
			forged.Message = "FORGED"
			return true // drop from its chain
		}
		return false
	}, func(bw *BundleWriter) {
		c, _ := NewChainer(&Options{Chain: "chain-z"})
		canon, _ := activitylog.Canonical(&forged)
		s := c.Next(canon)
		bw.Chain(c.Info())
		if err := bw.Event(&forged, nil, &s, nil); err != nil {
			t.Fatal(err)
		}
	})
	rep := forgeVerify(t, b, pub, mac)
	t.Logf("OK=%v verified=%d findings=%v chains=%+v", rep.OK(), rep.Verified, rep.Findings, rep.Chains)
	if rep.OK() {
		t.Error("a keyed proof bundle with an edited event in a forged keyless chain verifies OK")
	}
}

// An event written twice (same id, same chain and seq) is a finding,
// even though each copy carries a valid proof.
func TestBundleProofDuplicates(t *testing.T) {
	b, pub, _ := forgeBundle(t, false, func(bw *BundleWriter, i int, e activitylog.Event, s Seal, p *BundleProof) bool {
		if i == 3 {
			for range 2 {
				if err := bw.Event(&e, nil, &s, p); err != nil {
					t.Fatal(err)
				}
			}
			return true
		}
		return false
	}, nil)
	rep := forgeVerify(t, b, pub, nil)
	var seq, id bool
	for _, f := range rep.Findings {
		seq = seq || strings.Contains(f.Detail, "a second event at seq 4")
		id = id || strings.Contains(f.Detail, "a second event with id")
	}
	if rep.OK() || !seq || !id || rep.Verified != 5 {
		t.Fatalf("OK=%v verified=%d findings=%+v; want the duplicate seq and id, 5 verified", rep.OK(), rep.Verified, rep.Findings)
	}
}

// A chain whose events have no checkpoint that verifies with a trusted
// key is itself a finding.
func TestBundleProofChainWithoutTrustedCheckpoint(t *testing.T) {
	b, pub, mac := forgeBundle(t, true, nil, func(bw *BundleWriter) {
		c, _ := NewChainer(&Options{Chain: "chain-z"})
		e := activitylog.Event{ID: activitylog.NewID(time.Now()), Time: time.Now().UTC(), Kind: activitylog.KindAuth, Action: "login", Severity: activitylog.SeverityInfo}
		canon, _ := activitylog.Canonical(&e)
		s := c.Next(canon)
		bw.Chain(c.Info())
		if err := bw.Event(&e, nil, &s, nil); err != nil {
			t.Fatal(err)
		}
	})
	rep := forgeVerify(t, b, pub, mac)
	found := false
	for _, f := range rep.Findings {
		found = found || (f.Chain == "chain-z" && f.Reason == ReasonBadSignature && strings.Contains(f.Detail, "no checkpoint that verifies with a trusted key"))
	}
	if rep.OK() || !found || rep.Verified != 5 {
		t.Fatalf("OK=%v verified=%d findings=%+v", rep.OK(), rep.Verified, rep.Findings)
	}
	// The bundle as exported verifies: the sanity of the above.
	b, pub, mac = forgeBundle(t, true, nil, nil)
	if rep := forgeVerify(t, b, pub, mac); !rep.OK() || rep.Verified != 5 {
		t.Fatalf("untouched bundle: OK=%v verified=%d findings=%+v", rep.OK(), rep.Verified, rep.Findings)
	}
}

// The records a reader keeps in memory are bounded in count and bytes;
// the error names the limit and the line.
func TestBundleKeptLimits(t *testing.T) {
	b, _, _ := forgeBundle(t, false, nil, nil) // key, chain, 2 checkpoints, 1 consistency: lines 2 to 6
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	defer func(l [2]int) { bundleKeptLimits = l }(bundleKeptLimits)
	bundleKeptLimits = [2]int{4, 1 << 20}
	if _, err := ReadBundle(open); err == nil || !strings.Contains(err.Error(), "line 6: consistency: more than 4 key, chain, checkpoint, prune and consistency records") {
		t.Fatalf("count: %v", err)
	}
	bundleKeptLimits = [2]int{5, 1 << 20}
	if _, err := ReadBundle(open); err != nil {
		t.Fatalf("at the count limit: %v", err)
	}
	bundleKeptLimits = [2]int{100, 1000}
	if _, err := ReadBundle(open); err == nil || !strings.Contains(err.Error(), "exceed 1000 bytes") || !strings.Contains(err.Error(), "line ") {
		t.Fatalf("bytes: %v", err)
	}
}
