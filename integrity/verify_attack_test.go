package integrity

import (
	"context"
	"crypto/ed25519"
	"testing"
)

// A chain that holds events but that no checkpoint under a trusted key
// vouches for is a finding when the verifier trusts keys: whoever can
// write to the store could have made it whole, genesis and seals.
func TestVerifyUnanchoredChain(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		tr := buildTrail(t, 0, 1, 10, keyed) // 10 events, no checkpoint
		rep := tr.verify(t, false)
		check(t, rep, want("inserted 1..10"))
		if rep.OK() {
			t.Errorf("keyed %v: an unanchored chain verifies OK", keyed)
		}
		// Without trusted keys nothing signed is expected.
		o := &VerifierOptions{}
		if keyed {
			o.HMACKeys = []*HMACKey{tr.hmac}
		}
		rep, err := NewVerifier(tr.src, o).Verify(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		check(t, rep, want())
		// One checkpoint anchors the chain; events after it are the
		// usual unanchored tail (ChainReport.Anchored), not a finding.
		tr = buildTrail(t, 5, 5, 5, keyed)
		rep = tr.verify(t, false)
		check(t, rep, want())
		if rep.Chains[0].Anchored != 5 {
			t.Errorf("anchored %d, want 5", rep.Chains[0].Anchored)
		}
		// Checkpoints only in the witness anchor it too (and the store's
		// loss of them is reported as such, not as an unanchored chain).
		tr = buildTrail(t, 10, 5, 0, keyed)
		tr.src.cps[tr.chain] = nil
		check(t, tr.verify(t, true), want("checkpoint_mismatch 1..5", "checkpoint_mismatch 6..10"))
	}
}

// A nil HMAC key among the options is ignored, not a panic: it names no
// chain; a keyed chain whose key is missing does not verify.
func TestVerifyNilHMACKey(t *testing.T) {
	tr := buildTrail(t, 10, 5, 0, true)
	pubs := []ed25519.PublicKey{tr.pub}
	rep, err := NewVerifier(tr.src, &VerifierOptions{PublicKeys: pubs, HMACKeys: []*HMACKey{nil, tr.hmac}}).Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	check(t, rep, want())
	rep, err = NewVerifier(tr.src, &VerifierOptions{PublicKeys: pubs, HMACKeys: []*HMACKey{nil}}).Verify(context.Background())
	if err == nil && rep.OK() {
		t.Error("a keyed chain verifies without its key")
	}
}
