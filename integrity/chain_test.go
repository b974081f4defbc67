package integrity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// The event hash is exactly what docs/integrity.md says, computed
// here with nothing but the standard library.
func TestChainHashDefinition(t *testing.T) {
	for _, key := range []*HMACKey{nil, testHMAC} {
		opts := &Options{Chain: "c1", HMACKey: key}
		c, err := NewChainer(opts)
		if err != nil {
			t.Fatal(err)
		}
		genesis := sha256.Sum256([]byte("activitylog/genesis/v1\x00c1"))
		prev := genesis
		for i, canon := range []string{`{"a":1}`, ``, `{"b":"x"}`} {
			s := c.Next([]byte(canon))
			in := append(append([]byte("activitylog/event/v1\x00"), prev[:]...), canon...)
			var want [32]byte
			if key == nil {
				want = sha256.Sum256(in)
			} else {
				m := hmac.New(sha256.New, slices.Repeat([]byte{1}, 32))
				m.Write(in)
				copy(want[:], m.Sum(nil))
			}
			if s.Chain != "c1" || s.Seq != uint64(i+1) || s.Prev != Hash(prev) || s.Hash != Hash(want) {
				t.Errorf("key %v, event %d: seal %+v, want prev %x hash %x", key, i+1, s, prev, want)
			}
			if got := ChainHash(key, Hash(prev), []byte(canon)); got != Hash(want) {
				t.Errorf("ChainHash = %s, want %x", got, want)
			}
			prev = want
		}
	}
}

// Known-answer values, also printed in docs/integrity.md, where
// they were computed with printf, xxd and sha256sum: a change here is a
// change of the format.
func TestChainGolden(t *testing.T) {
	c, _ := NewChainer(&Options{Chain: "0190a6e0-5c1a-7b3e-9f00-0000000000c1"})
	if got, want := Genesis(c.Info().ID).String(), "5baa3972044ddbefdd8ccbd07cc9e3a30e46d5272a1bf886273e387a1c75ea26"; got != want {
		t.Errorf("genesis = %s, want %s", got, want)
	}
	s1 := c.Next([]byte(`{"action":"login","kind":"auth","severity":"info","time":"2026-11-24T10:00:00.000000000Z","v":1}`))
	s2 := c.Next([]byte(`{"action":"logout","kind":"auth","severity":"info","time":"2026-11-24T10:05:00.000000000Z","v":1}`))
	for _, g := range []struct{ got, want string }{
		{s1.Hash.String(), "b24c3e68522d3bb642bbc53ff874a732ba8cb12e535ef485faf1476f5a6e64c9"},
		{s2.Hash.String(), "32dcd83cf76bd7b25c87f5a0849286a9ef38deb3b783fd42901b5207aaae9dc8"},
		{TreeRoot([]Hash{s1.Hash, s2.Hash}).String(), "8a45cf81a2461b7393f2fa2f2ecb7c79e1d76a2c84dd568f4218d87fed558f62"},
	} {
		if g.got != g.want {
			t.Errorf("got %s, want %s", g.got, g.want)
		}
	}
}

// The tag's version is the canonical encoding's: when the canonical
// encoding changes version, so must the tag, deliberately.
func TestEventTagMatchesCanonicalVersion(t *testing.T) {
	if want := "activitylog/event/v" + strconv.Itoa(activitylog.CanonicalVersion) + "\x00"; EventTag != want {
		t.Errorf("EventTag = %q, but the canonical version is %d: add a tag for it", EventTag, activitylog.CanonicalVersion)
	}
}

func TestNewChainID(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	a, b := NewChainID(now), NewChainID(now)
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !re.MatchString(a) || a == b {
		t.Errorf("NewChainID = %q, %q", a, b)
	}
	id, _ := activitylog.ParseID(a)
	if !id.Time().Equal(now) {
		t.Errorf("chain id time = %v, want %v", id.Time(), now)
	}
	if err := ValidateChainID(a); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "a b", "a\nb", "ü", string(make([]byte, 129))} {
		if err := ValidateChainID(bad); !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("ValidateChainID(%q) = %v", bad, err)
		}
	}
	c, err := NewChainer(nil)
	if err != nil || !re.MatchString(c.Info().ID) || c.Info().KeyID != "" {
		t.Errorf("NewChainer(nil): %+v, %v", c.Info(), err)
	}
}

// A chain restored from its state, through its JSON form, goes on
// exactly as one that never stopped: same seals, same checkpoints.
func TestRestore(t *testing.T) {
	for _, key := range []*HMACKey{nil, testHMAC} {
		opts := &Options{Chain: testChain, HMACKey: key, SigningKey: testPriv}
		whole, _ := NewChainer(opts)
		part, _ := NewChainer(opts)
		at := func(i int) time.Time { return testTime.Add(time.Duration(i) * time.Minute) }
		for i := 1; i <= 90; i++ {
			canon := canonicalOf(i, 50)
			s1 := whole.Next(canon)
			if i == 37 || i == 20 || i == 64 {
				// Stop, store the state, and start again from it.
				b, err := json.Marshal(part.State())
				if err != nil {
					t.Fatal(err)
				}
				var st State
				if err := json.Unmarshal(b, &st); err != nil {
					t.Fatal(err)
				}
				if part, err = Restore(st, &Options{HMACKey: key, SigningKey: testPriv}); err != nil {
					t.Fatal(err)
				}
			}
			s2 := part.Next(canon)
			if s1 != s2 {
				t.Fatalf("event %d: %+v, restored %+v", i, s1, s2)
			}
			if i%15 == 0 {
				cp1, err1 := whole.Checkpoint(at(i))
				cp2, err2 := part.Checkpoint(at(i))
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				if string(cp1.Body()) != string(cp2.Body()) || string(cp1.Signature) != string(cp2.Signature) {
					t.Fatalf("checkpoint at %d:\n%s\nrestored:\n%s", i, cp1.Body(), cp2.Body())
				}
			}
		}
	}
}

func TestRestoreRefuses(t *testing.T) {
	c, _ := NewChainer(&Options{Chain: testChain, HMACKey: testHMAC, SigningKey: testPriv})
	for i := range 10 {
		c.Next(canonicalOf(i, 10))
	}
	c.Checkpoint(testTime)
	c.Next(canonicalOf(11, 10))
	good := c.State()
	if _, err := Restore(good, &Options{HMACKey: testHMAC}); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		edit func(st *State)
		opts *Options
	}{
		"no key":          {func(st *State) {}, nil},
		"other key":       {func(st *State) {}, &Options{HMACKey: otherHMAC}},
		"other chain":     {func(st *State) {}, &Options{HMACKey: testHMAC, Chain: "x"}},
		"short tree":      {func(st *State) { st.Tree = st.Tree[1:] }, &Options{HMACKey: testHMAC}},
		"long batch":      {func(st *State) { st.Batch = append(st.Batch, Hash{}) }, &Options{HMACKey: testHMAC}},
		"checkpoint past": {func(st *State) { st.CheckpointSeq = 12 }, &Options{HMACKey: testHMAC}},
		"no cp hash":      {func(st *State) { st.CheckpointHash = Hash{} }, &Options{HMACKey: testHMAC}},
		"bad chain id":    {func(st *State) { st.Chain = "a b" }, &Options{HMACKey: testHMAC}},
	}
	for name, tc := range cases {
		st := good
		st.Tree, st.Batch = slices.Clone(good.Tree), slices.Clone(good.Batch)
		tc.edit(&st)
		if _, err := Restore(st, tc.opts); !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("%s: Restore = %v, want ErrInvalid", name, err)
		}
	}
	empty, _ := NewChainer(&Options{Chain: testChain})
	st := empty.State()
	st.Hash = Hash{1}
	if _, err := Restore(st, nil); err == nil {
		t.Error("an empty chain with a hash that is not the genesis value was restored")
	}
}

func TestRebuildState(t *testing.T) {
	c, _ := NewChainer(&Options{Chain: testChain, SigningKey: testPriv})
	var hs []Hash
	var last *Checkpoint
	for i := 1; i <= 75; i++ {
		hs = append(hs, c.Next(canonicalOf(i, 10)).Hash)
		if i == 30 || i == 60 {
			cp, _ := c.Checkpoint(testTime)
			last = &cp
		}
	}
	hashes := func(from, to uint64) ([]Hash, error) { return hs[from-1 : to], nil }
	got, err := RebuildState(c.Info(), 75, hashes, last)
	if err != nil {
		t.Fatal(err)
	}
	want := c.State()
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("rebuilt\n%s\nwant\n%s", gb, wb)
	}
	hs[10][0] ^= 1
	if _, err := RebuildState(c.Info(), 75, hashes, last); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("RebuildState over a changed hash = %v, want ErrInvalid", err)
	}
}

func TestCheckpointNeedsKeyAndEvents(t *testing.T) {
	c, _ := NewChainer(&Options{Chain: testChain})
	c.Next([]byte("x"))
	if _, err := c.Checkpoint(testTime); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("Checkpoint without a key = %v", err)
	}
	c, _ = NewChainer(&Options{Chain: testChain, SigningKey: testPriv})
	if _, err := c.Checkpoint(testTime); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("Checkpoint of nothing = %v", err)
	}
	c.Next([]byte("x"))
	if c.Pending() != 1 {
		t.Errorf("Pending = %d", c.Pending())
	}
	cp, err := c.Checkpoint(testTime.In(time.FixedZone("x", 3600)))
	if err != nil || c.Pending() != 0 || cp.Time.Location() != time.UTC {
		t.Errorf("Checkpoint: %v, pending %d, time %v", err, c.Pending(), cp.Time)
	}
	if _, err := NewChainer(&Options{SigningKey: testPriv[:10]}); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("NewChainer with a short key = %v", err)
	}
}

// Sealing allocates once per 32 events, for the tree's nodes.
func TestNextAllocations(t *testing.T) {
	c, _ := NewChainer(&Options{Chain: testChain, HMACKey: testHMAC})
	canon := canonicalOf(1, 1000)
	if n := testing.AllocsPerRun(1000, func() { c.Next(canon) }); n > 0.1 {
		t.Errorf("Next allocates %.1f times", n)
	}
	s := newSealer(testHMAC)
	var prev Hash
	if n := testing.AllocsPerRun(1000, func() { prev = s.hash(&prev, canon) }); n != 0 {
		t.Errorf("the event hash allocates %.1f times", n)
	}
	s = newSealer(nil)
	if n := testing.AllocsPerRun(1000, func() { prev = s.hash(&prev, canon) }); n != 0 {
		t.Errorf("the event hash allocates %.1f times", n)
	}
}
