package integrity

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// minute returns the time of event i of a timed trail.
func minute(i int) time.Time { return testTime.Add(time.Duration(i) * time.Minute) }

// timed gives the trail's events a time (event i at minute i) and a
// kind (auth for even i, crud for odd), as a store's Source does.
func timed(tr *trail) *trail {
	es := tr.src.entries[tr.chain]
	for i := range es {
		n := int(es[i].Seal.Seq)
		es[i].Time = minute(n)
		es[i].Kind = activitylog.KindCRUD
		if n%2 == 0 {
			es[i].Kind = activitylog.KindAuth
		}
	}
	return tr
}

// window selects events 41..60.
var window = &VerifierOptions{From: minute(41), To: minute(61)}

func TestFilterCounts(t *testing.T) {
	bothPasses(t, func(t *testing.T, keyed bool) {
		tr := timed(buildTrail(t, tn, tevery, 0, keyed))
		for _, c := range []struct {
			name string
			opts VerifierOptions
			n    int
		}{
			{"none", VerifierOptions{}, 100},
			{"window", *window, 20},
			{"from", VerifierOptions{From: minute(91)}, 10},
			{"to", VerifierOptions{To: minute(11)}, 10},
			{"auth", VerifierOptions{Kinds: []activitylog.Kind{activitylog.KindAuth}}, 50},
			{"auth in window", VerifierOptions{Kinds: []activitylog.Kind{activitylog.KindAuth}, From: minute(41), To: minute(61)}, 10},
			{"empty window", VerifierOptions{From: minute(500)}, 0},
			{"other kind", VerifierOptions{Kinds: []activitylog.Kind{activitylog.KindExport}}, 0},
		} {
			rep := tr.verifySrc(t, tr.src, &c.opts)
			check(t, rep, want())
			if rep.Total != c.n || rep.Verified != c.n || rep.Chains[0].Entries != c.n || rep.Chains[0].Verified != c.n {
				t.Errorf("%s: total %d verified %d, chain %+v; want %d", c.name, rep.Total, rep.Verified, rep.Chains[0], c.n)
			}
			if c := rep.Chains[0]; c.Length != 100 || c.CheckpointsVerified != 5 {
				t.Errorf("%s: chain %+v", c.ID, c)
			}
		}
	})
}

// The filters narrow the counts only: a finding is listed whether or
// not its event is selected (an attacker can edit the kind and time
// columns that select it).
func TestFilterModified(t *testing.T) {
	bothPasses(t, func(t *testing.T, keyed bool) {
		for _, c := range []struct {
			seq  int
			opts *VerifierOptions
			sel  bool // the modified event is selected
		}{
			{30, window, false},
			{61, window, false},
			{41, window, true},
			{50, window, true},
			{60, window, true},
			{50, &VerifierOptions{Kinds: []activitylog.Kind{activitylog.KindAuth}}, true},
			{51, &VerifierOptions{Kinds: []activitylog.Kind{activitylog.KindAuth}}, false},
			{51, &VerifierOptions{Kinds: []activitylog.Kind{activitylog.KindAuth, activitylog.KindCRUD}}, true},
		} {
			tr := timed(buildTrail(t, tn, tevery, 0, keyed))
			e := &tr.src.entries[tr.chain][tr.at(t, uint64(c.seq))]
			e.Canonical = append(slices.Clone(e.Canonical), ' ')
			rep := tr.verifySrc(t, tr.src, c.opts)
			check(t, rep, want("modified "+itoa(c.seq)+" "+id(c.seq)))
			sel := rep.Chains[0].Entries
			wantV := sel
			if c.sel {
				wantV--
			}
			if rep.Verified != wantV || rep.Counts[ReasonModified] != 1 {
				t.Errorf("seq %d: verified %d of %d, counts %v; want %d verified", c.seq, rep.Verified, sel, rep.Counts, wantV)
			}
			// Without filters it is always found.
			check(t, tr.verifySrc(t, tr.src, nil), want("modified "+itoa(c.seq)+" "+id(c.seq)))
		}
	})
}

func TestFilterGaps(t *testing.T) {
	bothPasses(t, func(t *testing.T, keyed bool) {
		for _, c := range []struct {
			from, to uint64
			opts     *VerifierOptions
			want     []string
		}{
			{30, 30, window, want("missing 30")}, // outside the window: listed all the same
			{39, 39, window, want("missing 39")},
			{40, 40, window, want("missing 40")}, // next to the first selected event
			{41, 41, window, want("missing 41")},
			{50, 52, window, want("missing 50..52")},
			{61, 61, window, want("missing 61")}, // next to the last
			{62, 62, window, want("missing 62")},
			{41, 60, window, want("missing 41..60")}, // every selected event deleted
			{35, 65, window, want("missing 35..65")},
			{91, 100, &VerifierOptions{From: minute(91)}, want("truncated 91..100")},
			{95, 100, &VerifierOptions{To: minute(50)}, want("truncated 95..100")},
			// Kinds only: gaps between and next to the selected events.
			{49, 49, &VerifierOptions{Kinds: []activitylog.Kind{activitylog.KindAuth}}, want("missing 49")},
		} {
			tr := timed(buildTrail(t, tn, tevery, 0, keyed))
			tr.src.entries[tr.chain] = slices.DeleteFunc(tr.entries(), func(e Entry) bool { return e.Seal.Seq >= c.from && e.Seal.Seq <= c.to })
			check(t, tr.verifySrc(t, tr.src, c.opts), c.want)
		}
	})
}

func TestFilterCheckpoints(t *testing.T) {
	modes(t, func(t *testing.T, keyed bool) {
		tr := timed(buildTrail(t, tn, tevery, 0, keyed))
		cps := slices.Clone(tr.src.cps[tr.chain])
		cps[0].Signature = slices.Clone(cps[0].Signature)
		cps[0].Signature[0] ^= 1
		tr.src.cps[tr.chain] = cps
		check(t, tr.verifySrc(t, tr.src, window), want("bad_signature 1..20"))
		check(t, tr.verifySrc(t, tr.src, &VerifierOptions{From: minute(11), To: minute(31)}), want("bad_signature 1..20"))
		check(t, tr.verifySrc(t, tr.src, &VerifierOptions{From: minute(21), To: minute(31)}), want("bad_signature 1..20")) // next to 21
	})
}

func TestFilterUnsealed(t *testing.T) {
	tr := timed(buildTrail(t, tn, tevery, 0, false))
	for i, at := range []int{10, 50} {
		tr.src.unsealed = append(tr.src.unsealed, Entry{EventID: testID(1000 + i), Kind: activitylog.KindAuth, Time: minute(at), Canonical: []byte("{}")})
	}
	rep := tr.verifySrc(t, tr.src, window)
	check(t, rep, want("missing_hash 0 "+id(1000)+" (no chain)", "missing_hash 0 "+id(1001)+" (no chain)"))
	if rep.Unsealed != 1 || rep.Total != 21 {
		t.Errorf("unsealed %d total %d; want 1, 21", rep.Unsealed, rep.Total)
	}
	rep = tr.verifySrc(t, tr.src, nil)
	if rep.Unsealed != 2 || rep.Counts[ReasonMissingHash] != 2 {
		t.Errorf("unfiltered: unsealed %d, counts %v", rep.Unsealed, rep.Counts)
	}
	// With Chains, unsealed events are not read.
	rep = tr.verifySrc(t, tr.src, &VerifierOptions{Chains: []string{tr.chain}})
	check(t, rep, want())
	if rep.Unsealed != 0 || rep.Total != 100 {
		t.Errorf("chains: unsealed %d total %d", rep.Unsealed, rep.Total)
	}
}

func TestFilterChains(t *testing.T) {
	// Two chains; the second's event 5 is modified.
	a := buildTrail(t, 20, 10, 0, false)
	const other = "chain-b"
	c, err := NewChainer(&Options{Chain: other, SigningKey: testPriv})
	if err != nil {
		t.Fatal(err)
	}
	var es []Entry
	var cps []Checkpoint
	for i := 1; i <= 20; i++ {
		canon := canonicalOf(100+i, 100)
		s := c.Next(canon)
		es = append(es, Entry{EventID: testID(100 + i), Seal: &s, Canonical: canon})
		if i%10 == 0 {
			cp, err := c.Checkpoint(testTime)
			if err != nil {
				t.Fatal(err)
			}
			cps = append(cps, cp)
		}
	}
	es[4].Canonical = append(slices.Clone(es[4].Canonical), ' ')
	a.src.chains = append(a.src.chains, c.Info())
	a.src.entries[other], a.src.cps[other] = es, cps
	check(t, a.verifySrc(t, a.src, nil), want("modified 5 "+id(105)))
	rep := a.verifySrc(t, a.src, &VerifierOptions{Chains: []string{testChain}})
	check(t, rep, want())
	if len(rep.Chains) != 1 || rep.Total != 20 {
		t.Errorf("chains %v total %d", rep.Chains, rep.Total)
	}
	check(t, a.verifySrc(t, a.src, &VerifierOptions{Chains: []string{other}}), want("modified 5 "+id(105)))
	// A listed chain nobody knows is an empty chain.
	rep = a.verifySrc(t, a.src, &VerifierOptions{Chains: []string{"nobody"}})
	check(t, rep, want())
	if len(rep.Chains) != 1 || rep.Chains[0].ID != "nobody" || rep.Total != 0 {
		t.Errorf("chains %+v", rep.Chains)
	}
}

func TestFilterInvalid(t *testing.T) {
	tr := buildTrail(t, 10, 10, 0, false)
	for name, o := range map[string]VerifierOptions{
		"chain":    {Chains: []string{"a b"}},
		"kind":     {Kinds: []activitylog.Kind{"nope"}},
		"to":       {From: minute(5), To: minute(5)},
		"to early": {From: minute(5), To: minute(1)},
	} {
		_, err := NewVerifier(tr.src, &o).Verify(context.Background())
		if !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestFilterPruned(t *testing.T) {
	// The filters and a pruning record together.
	bothPasses(t, func(t *testing.T, keyed bool) {
		tr, src := prunedTrail(t, keyed, 40)
		timed(tr)
		rep := tr.verifySrc(t, src, window)
		check(t, rep, want())
		if rep.Total != 20 {
			t.Errorf("total %d", rep.Total)
		}
		tr.deleteRange(45, 45)
		check(t, tr.verifySrc(t, src, window), want("missing 45"))
		// Outside the window: listed all the same.
		check(t, tr.verifySrc(t, src, &VerifierOptions{From: minute(70)}), want("missing 45"))
		check(t, tr.verifySrc(t, src, &VerifierOptions{To: minute(20)}), want("missing 45"))
	})
}
