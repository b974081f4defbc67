package integrity

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// memSource is a Source over slices, which tests tamper with directly,
// as an attacker with write access to a store would.
type memSource struct {
	chains   []ChainInfo
	entries  map[string][]Entry
	cps      map[string][]Checkpoint
	unsealed []Entry
}

var _ Source = (*memSource)(nil)

func (m *memSource) Chains(ctx context.Context) ([]ChainInfo, error) { return m.chains, nil }

func (m *memSource) Entries(ctx context.Context, chain string, fn func(Entry) error) error {
	for _, e := range m.entries[chain] {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (m *memSource) Checkpoints(ctx context.Context, chain string) ([]Checkpoint, error) {
	return m.cps[chain], nil
}

func (m *memSource) Unsealed(ctx context.Context, fn func(Entry) error) error {
	for _, e := range m.unsealed {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// testID returns a fixed event id for event i.
func testID(i int) activitylog.ID {
	var id activitylog.ID
	binary.BigEndian.PutUint64(id[8:], uint64(i))
	id[0], id[6], id[8] = 0x01, 0x70, 0x80
	return id
}

// canonicalOf returns made-up canonical bytes of about size bytes for
// event i; the integrity package never looks inside them.
func canonicalOf(i, size int) []byte {
	b := fmt.Appendf(nil, `{"action":"update","id":"%s","kind":"crud","message":"event %d","object":{"id":"INV-%d","type":"invoice"},"v":1`, testID(i), i, i)
	if pad := size - len(b) - 12; pad > 0 {
		b = append(b, `,"x":"`...)
		for j := 0; j < pad; j++ {
			b = append(b, byte('a'+(i+j)%26))
		}
		b = append(b, '"')
	}
	return append(b, '}')
}

// trail is a test trail: one chain of n events with a checkpoint every
// `every` events, and `tail` more events after the last checkpoint.
type trail struct {
	src     *memSource
	chain   string
	pub     ed25519.PublicKey
	priv    ed25519.PrivateKey
	hmac    *HMACKey
	witness []Checkpoint
}

var (
	testPub, testPriv   = mustKey()
	otherPub, otherPriv = mustKey()
	testHMAC            = mustHMAC(1)
	otherHMAC           = mustHMAC(2)
)

func mustKey() (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := GenerateKey()
	if err != nil {
		panic(err)
	}
	return pub, priv
}

func mustHMAC(b byte) *HMACKey {
	k, err := NewHMACKey(slices.Repeat([]byte{b}, 32))
	if err != nil {
		panic(err)
	}
	return k
}

const testChain = "0190a6e0-5c1a-7b3e-9f00-0000000000c1"

var testTime = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func buildTrail(t testing.TB, n, every, tail int, keyed bool) *trail {
	t.Helper()
	opts := &Options{Chain: testChain, SigningKey: testPriv}
	tr := &trail{chain: testChain, pub: testPub, priv: testPriv}
	if keyed {
		opts.HMACKey = testHMAC
		tr.hmac = testHMAC
	}
	c, err := NewChainer(opts)
	if err != nil {
		t.Fatal(err)
	}
	src := &memSource{chains: []ChainInfo{c.Info()}, entries: map[string][]Entry{}, cps: map[string][]Checkpoint{}}
	for i := 1; i <= n+tail; i++ {
		canon := canonicalOf(i, 200)
		s := c.Next(canon)
		src.entries[testChain] = append(src.entries[testChain], Entry{EventID: testID(i), Seal: &s, Canonical: canon})
		if i <= n && (i%every == 0 || i == n) {
			cp, err := c.Checkpoint(testTime.Add(time.Duration(i) * time.Second))
			if err != nil {
				t.Fatal(err)
			}
			src.cps[testChain] = append(src.cps[testChain], cp)
			tr.witness = append(tr.witness, cp)
		}
	}
	tr.src = src
	return tr
}

func (tr *trail) entries() []Entry { return tr.src.entries[tr.chain] }

// at returns the index of the entry stored with seq.
func (tr *trail) at(t testing.TB, seq uint64) int {
	for i, e := range tr.entries() {
		if e.Seal != nil && e.Seal.Seq == seq {
			return i
		}
	}
	t.Fatalf("no entry at seq %d", seq)
	return -1
}

// setSeal replaces the seal of entry i with a copy changed by fn, so
// that tampering never reaches the Chainer's values.
func (tr *trail) setSeal(i int, fn func(s *Seal)) {
	s := *tr.src.entries[tr.chain][i].Seal
	fn(&s)
	tr.src.entries[tr.chain][i].Seal = &s
}

func (tr *trail) verify(t testing.TB, witness bool, keys ...*HMACKey) *Report {
	t.Helper()
	opts := &VerifierOptions{PublicKeys: []ed25519.PublicKey{tr.pub}, HMACKeys: keys, MaxFindings: -1}
	if tr.hmac != nil && keys == nil {
		opts.HMACKeys = []*HMACKey{tr.hmac}
	}
	if witness {
		opts.Witness = tr.witness
	}
	rep, err := NewVerifier(tr.src, opts).Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// brief is a finding without its detail, for comparing.
func brief(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		s := fmt.Sprintf("%s %d", f.Reason, f.Seq)
		if f.EndSeq != 0 {
			s += fmt.Sprintf("..%d", f.EndSeq)
		}
		if !f.EventID.IsZero() {
			s += " " + f.EventID.String()
		}
		if f.Chain == "" {
			s += " (no chain)"
		}
		out = append(out, s)
	}
	return out
}

func want(s ...string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func id(i int) string { return testID(i).String() }
