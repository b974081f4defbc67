package integrity

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The trail of these tests: 100 events, a checkpoint every 20 (1..20,
// 21..40, 41..60, 61..80, 81..100), all in the witness too.
const (
	tn     = 100
	tevery = 20
)

// forge returns an event made by someone without the signing key: with
// a hash computed under key (nil: plain SHA-256, which is all an
// attacker without the HMAC key can do).
func forge(chain string, seq uint64, prev Hash, key *HMACKey) Entry {
	canon := []byte(`{"action":"delete","id":"` + id(9999) + `","kind":"crud","message":"forged","v":1}`)
	return Entry{EventID: testID(9999), Seal: &Seal{Chain: chain, Seq: seq, Prev: prev, Hash: ChainHash(key, prev, canon)}, Canonical: canon}
}

// modes runs f for a chain without and with an HMAC key, on the
// streaming and on the in-memory pass.
func modes(t *testing.T, f func(t *testing.T, keyed bool)) {
	for _, keyed := range []bool{false, true} {
		name := "sha256"
		if keyed {
			name = "hmac"
		}
		t.Run(name, func(t *testing.T) { f(t, keyed) })
	}
}

func check(t *testing.T, rep *Report, want []string) {
	t.Helper()
	if got := brief(rep.Findings); !slices.Equal(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
		for _, f := range rep.Findings {
			t.Logf("  %s", f)
		}
	}
	if rep.OK() != (len(want) == 0) {
		t.Errorf("OK() = %v with %d findings", rep.OK(), len(want))
	}
}

func TestVerifyUntouched(t *testing.T) {
	modes(t, func(t *testing.T, keyed bool) {
		for _, thorough := range []bool{false, true} {
			forceThorough = thorough
			tr := buildTrail(t, tn, tevery, 3, keyed)
			for _, witness := range []bool{false, true} {
				rep := tr.verify(t, witness)
				check(t, rep, want())
				if rep.Total != tn+3 || rep.Verified != tn+3 || rep.Unsealed != 0 {
					t.Errorf("total %d, verified %d, unsealed %d; want %d, %d, 0", rep.Total, rep.Verified, rep.Unsealed, tn+3, tn+3)
				}
				c := rep.Chains[0]
				if c.Length != tn+3 || c.Anchored != tn || c.Checkpoints != 5 || c.CheckpointsVerified != 5 {
					t.Errorf("chain report %+v", c)
				}
			}
		}
		forceThorough = false
	})
}

// Every case below runs on both passes: the streaming pass gives up at
// the first fault, so the in-memory pass is what explains it; forcing
// it on clean chains (TestVerifyUntouched) shows it finds nothing
// there.

func TestVerifyModifiedByte(t *testing.T) {
	modes(t, func(t *testing.T, keyed bool) {
		rng := rand.New(rand.NewPCG(1, 2))
		for range 50 {
			tr := buildTrail(t, tn, tevery, 0, keyed)
			seq := 1 + rng.IntN(tn)
			i := tr.at(t, uint64(seq))
			e := &tr.src.entries[tr.chain][i]
			canon := slices.Clone(e.Canonical)
			canon[rng.IntN(len(canon))] ^= byte(1 + rng.IntN(255))
			e.Canonical = canon
			check(t, tr.verify(t, true), want("modified "+itoa(seq)+" "+id(seq)))
		}
	})
}

func TestVerifyDeletedInMiddle(t *testing.T) {
	modes(t, func(t *testing.T, keyed bool) {
		tr := buildTrail(t, tn, tevery, 0, keyed)
		i := tr.at(t, 37)
		tr.src.entries[tr.chain] = slices.Delete(tr.src.entries[tr.chain], i, i+1)
		check(t, tr.verify(t, true), want("missing 37"))

		tr = buildTrail(t, tn, tevery, 0, keyed)
		tr.src.entries[tr.chain] = tr.src.entries[tr.chain][1:]
		check(t, tr.verify(t, true), want("missing 1"))

		// Deleted, and the seqs after it renumbered down to close the gap.
		tr = buildTrail(t, tn, tevery, 0, keyed)
		i = tr.at(t, 37)
		tr.src.entries[tr.chain] = slices.Delete(tr.src.entries[tr.chain], i, i+1)
		for j := i; j < len(tr.entries()); j++ {
			tr.setSeal(j, func(s *Seal) { s.Seq-- })
		}
		check(t, tr.verify(t, true), want("missing 37 "+id(38), "truncated 100"))
	})
}

func TestVerifyDeletedNewest(t *testing.T) {
	modes(t, func(t *testing.T, keyed bool) {
		// Against the last checkpoint.
		tr := buildTrail(t, tn, tevery, 0, keyed)
		tr.src.entries[tr.chain] = tr.src.entries[tr.chain][:90]
		check(t, tr.verify(t, false), want("truncated 91..100"))

		// The checkpoint that covered them deleted too: only the witness
		// knows.
		tr.src.cps[tr.chain] = tr.src.cps[tr.chain][:4]
		check(t, tr.verify(t, true), want("checkpoint_mismatch 81..100", "truncated 91..100"))
		// Without a witness, nothing can tell: the trail now ends at 90,
		// and its last verified checkpoint is at 80.
		rep := tr.verify(t, false)
		check(t, rep, want())
		if rep.Chains[0].Anchored != 80 || rep.Chains[0].Length != 90 {
			t.Errorf("anchored %d, length %d; want 80, 90", rep.Chains[0].Anchored, rep.Chains[0].Length)
		}

		// The whole store gone.
		tr.src.entries, tr.src.chains, tr.src.cps = map[string][]Entry{}, nil, map[string][]Checkpoint{}
		check(t, tr.verify(t, true), want("checkpoint_mismatch 1..20", "truncated 1..100", "checkpoint_mismatch 21..40",
			"checkpoint_mismatch 41..60", "checkpoint_mismatch 61..80", "checkpoint_mismatch 81..100"))
	})
}

func TestVerifySwapped(t *testing.T) {
	modes(t, func(t *testing.T, keyed bool) {
		for _, pair := range [][2]uint64{{30, 45}, {50, 51}, {1, 2}, {99, 100}} {
			a, b := pair[0], pair[1]
			want := want("reordered "+itoa(int(a))+" "+id(int(b)), "reordered "+itoa(int(b))+" "+id(int(a)))

			// The rows trade their seqs.
			tr := buildTrail(t, tn, tevery, 0, keyed)
			i, j := tr.at(t, a), tr.at(t, b)
			tr.setSeal(i, func(s *Seal) { s.Seq = b })
			tr.setSeal(j, func(s *Seal) { s.Seq = a })
			es := tr.src.entries[tr.chain]
			es[i], es[j] = es[j], es[i] // and are stored by seq
			check(t, tr.verify(t, true), want)

			// The events trade places under the seals.
			tr = buildTrail(t, tn, tevery, 0, keyed)
			es = tr.src.entries[tr.chain]
			i, j = tr.at(t, a), tr.at(t, b)
			es[i].EventID, es[j].EventID = es[j].EventID, es[i].EventID
			es[i].Canonical, es[j].Canonical = es[j].Canonical, es[i].Canonical
			check(t, tr.verify(t, true), want)
		}
	})
}

func TestVerifyInserted(t *testing.T) {
	t.Run("sha256/renumbered", func(t *testing.T) {
		tr := buildTrail(t, tn, tevery, 0, false)
		i := tr.at(t, 33)
		for j := i; j < len(tr.entries()); j++ {
			tr.setSeal(j, func(s *Seal) { s.Seq++ })
		}
		f := forge(tr.chain, 33, tr.entries()[i-1].Seal.Hash, nil)
		tr.src.entries[tr.chain] = slices.Insert(tr.src.entries[tr.chain], i, f)
		check(t, tr.verify(t, true), want("inserted 33 "+id(9999)))
	})
	t.Run("sha256/duplicate-seq", func(t *testing.T) {
		tr := buildTrail(t, tn, tevery, 0, false)
		i := tr.at(t, 33)
		f := forge(tr.chain, 33, tr.entries()[i-1].Seal.Hash, nil)
		tr.src.entries[tr.chain] = slices.Insert(tr.src.entries[tr.chain], i, f)
		check(t, tr.verify(t, true), want("inserted 33 "+id(9999)))
	})
	t.Run("sha256/rewritten", func(t *testing.T) {
		// The attacker inserts and recomputes every hash after it: the
		// links hold, and the checkpoints over it catch it.
		tr := buildTrail(t, tn, tevery, 0, false)
		i := tr.at(t, 33)
		f := forge(tr.chain, 33, tr.entries()[i-1].Seal.Hash, nil)
		es := slices.Insert(tr.src.entries[tr.chain], i, f)
		for j := i + 1; j < len(es); j++ {
			prev := es[j-1].Seal.Hash
			es[j].Seal = &Seal{Chain: tr.chain, Seq: uint64(j + 1), Prev: prev, Hash: ChainHash(nil, prev, es[j].Canonical)}
		}
		tr.src.entries[tr.chain] = es
		check(t, tr.verify(t, false), want("checkpoint_mismatch 21..40", "checkpoint_mismatch 41..60", "checkpoint_mismatch 61..80", "checkpoint_mismatch 81..100"))
	})
	t.Run("sha256/after-last-checkpoint", func(t *testing.T) {
		// The documented limit of a chain without a key: after the last
		// checkpoint, an append with a valid hash is indistinguishable
		// from a genuine one. The report says how much is not anchored.
		tr := buildTrail(t, tn, tevery, 5, false)
		es := tr.entries()
		tr.src.entries[tr.chain] = append(es, forge(tr.chain, tn+6, es[len(es)-1].Seal.Hash, nil))
		rep := tr.verify(t, true)
		check(t, rep, want())
		if c := rep.Chains[0]; c.Length != tn+6 || c.Anchored != tn {
			t.Errorf("length %d, anchored %d; want %d, %d", c.Length, c.Anchored, tn+6, tn)
		}
	})
	for _, key := range []*HMACKey{nil, otherHMAC} {
		name := "sha256"
		if key != nil {
			name = "other-key"
		}
		t.Run("hmac/after-last-checkpoint/"+name, func(t *testing.T) {
			tr := buildTrail(t, tn, tevery, 5, true)
			es := tr.entries()
			tr.src.entries[tr.chain] = append(es, forge(tr.chain, tn+6, es[len(es)-1].Seal.Hash, key))
			check(t, tr.verify(t, true), want("inserted 106 "+id(9999)))
		})
		t.Run("hmac/renumbered/"+name, func(t *testing.T) {
			tr := buildTrail(t, tn, tevery, 5, true)
			i := tr.at(t, 33)
			for j := i; j < len(tr.entries()); j++ {
				tr.setSeal(j, func(s *Seal) { s.Seq++ })
			}
			f := forge(tr.chain, 33, tr.entries()[i-1].Seal.Hash, key)
			tr.src.entries[tr.chain] = slices.Insert(tr.src.entries[tr.chain], i, f)
			check(t, tr.verify(t, true), want("inserted 33 "+id(9999)))
		})
		t.Run("hmac/orphan/"+name, func(t *testing.T) {
			// A forged event at the tail whose prev links to nothing.
			tr := buildTrail(t, tn, tevery, 5, true)
			tr.src.entries[tr.chain] = append(tr.entries(), forge(tr.chain, tn+6, Hash{1}, key))
			check(t, tr.verify(t, true), want("inserted 106 "+id(9999)))
		})
	}
}

func TestVerifyCheckpointEdited(t *testing.T) {
	edits := map[string]func(cp *Checkpoint){
		"range":  func(cp *Checkpoint) { cp.RangeRoot[0] ^= 1 },
		"tree":   func(cp *Checkpoint) { cp.TreeRoot[31] ^= 0x80 },
		"to_seq": func(cp *Checkpoint) { cp.ToSeq += 5 },
		"time":   func(cp *Checkpoint) { cp.Time = cp.Time.Add(-1) },
		"prev":   func(cp *Checkpoint) { cp.Prev = Hash{} },
		"sig":    func(cp *Checkpoint) { cp.Signature = slices.Clone(cp.Signature); cp.Signature[5] ^= 4 },
		"key_id": func(cp *Checkpoint) { cp.KeyID = KeyID(otherPub) },
	}
	modes(t, func(t *testing.T, keyed bool) {
		for name, edit := range edits {
			t.Run(name, func(t *testing.T) {
				tr := buildTrail(t, tn, tevery, 0, keyed)
				cps := slices.Clone(tr.src.cps[tr.chain])
				edit(&cps[2])
				tr.src.cps[tr.chain] = cps
				check(t, tr.verify(t, false), want("bad_signature "+itoa(int(cps[2].FromSeq))+".."+itoa(int(cps[2].ToSeq))))
			})
		}
	})
}

func TestVerifyCheckpointResigned(t *testing.T) {
	modes(t, func(t *testing.T, keyed bool) {
		tr := buildTrail(t, tn, tevery, 0, keyed)
		cps := slices.Clone(tr.src.cps[tr.chain])
		if err := cps[4].Sign(otherPriv); err != nil {
			t.Fatal(err)
		}
		tr.src.cps[tr.chain] = cps
		check(t, tr.verify(t, false), want("bad_signature 81..100"))

		// Delete the newest events and re-sign a checkpoint that ends
		// where they now end: the witness still holds the real one.
		tr = buildTrail(t, tn, tevery, 0, keyed)
		tr.src.entries[tr.chain] = tr.entries()[:90]
		cps = slices.Clone(tr.src.cps[tr.chain])
		var hs []Hash
		for _, e := range tr.entries() {
			hs = append(hs, e.Seal.Hash)
		}
		cps[4].ToSeq, cps[4].RangeRoot, cps[4].TreeRoot = 90, TreeRoot(hs[80:]), TreeRoot(hs)
		cps[4].Sign(otherPriv)
		tr.src.cps[tr.chain] = cps
		check(t, tr.verify(t, true), want("bad_signature 81..90", "checkpoint_mismatch 81..100", "truncated 91..100"))
	})
}

func TestVerifyCheckpointDeleted(t *testing.T) {
	modes(t, func(t *testing.T, keyed bool) {
		tr := buildTrail(t, tn, tevery, 0, keyed)
		tr.src.cps[tr.chain] = slices.Delete(slices.Clone(tr.src.cps[tr.chain]), 2, 3)
		check(t, tr.verify(t, false), want("checkpoint_mismatch 61..80"))
		check(t, tr.verify(t, true), want("checkpoint_mismatch 41..60", "checkpoint_mismatch 61..80"))

		tr.src.cps[tr.chain] = tr.src.cps[tr.chain][1:]
		check(t, tr.verify(t, false), want("checkpoint_mismatch 21..40", "checkpoint_mismatch 61..80"))
	})
}

func TestVerifyMissingHash(t *testing.T) {
	modes(t, func(t *testing.T, keyed bool) {
		unseal := func(tr *trail, seqs ...uint64) {
			for _, seq := range seqs {
				i := tr.at(t, seq)
				e := tr.entries()[i]
				e.Seal = nil
				tr.src.unsealed = append(tr.src.unsealed, e)
				tr.src.entries[tr.chain] = slices.Delete(tr.src.entries[tr.chain], i, i+1)
			}
		}
		tr := buildTrail(t, tn, tevery, 0, keyed)
		unseal(tr, 57)
		rep := tr.verify(t, true)
		check(t, rep, want("missing_hash 57 "+id(57)))
		if rep.Total != tn || rep.Verified != tn-1 || rep.Unsealed != 1 {
			t.Errorf("total %d, verified %d, unsealed %d", rep.Total, rep.Verified, rep.Unsealed)
		}

		tr = buildTrail(t, tn, tevery, 0, keyed)
		unseal(tr, 1)
		check(t, tr.verify(t, true), want("missing_hash 1 "+id(1)))

		// Two in a row: which was which cannot be told from the links.
		tr = buildTrail(t, tn, tevery, 0, keyed)
		unseal(tr, 57, 58)
		check(t, tr.verify(t, true), want("missing_hash 0 "+id(57)+" (no chain)", "missing_hash 0 "+id(58)+" (no chain)", "missing 57..58"))

		// An event written before integrity was on, in no chain.
		tr = buildTrail(t, tn, tevery, 0, keyed)
		tr.src.unsealed = append(tr.src.unsealed, Entry{EventID: testID(5000), Canonical: canonicalOf(5000, 100)})
		check(t, tr.verify(t, true), want("missing_hash 0 "+id(5000)+" (no chain)"))

		// A Source that yields an unsealed event within a chain.
		tr = buildTrail(t, tn, tevery, 0, keyed)
		tr.src.entries[tr.chain][56].Seal = nil
		check(t, tr.verify(t, true), want("missing_hash 57 "+id(57)))
	})
}

func TestVerifyUnknownHMACKey(t *testing.T) {
	tr := buildTrail(t, tn, tevery, 0, true)
	rep := tr.verify(t, true, otherHMAC)
	check(t, rep, want("bad_signature 0"))
	if rep.Verified != 0 || rep.Chains[0].CheckpointsVerified != 5 {
		t.Errorf("verified %d events, %d checkpoints; want 0, 5", rep.Verified, rep.Chains[0].CheckpointsVerified)
	}
}

func TestVerifyUntrustedKey(t *testing.T) {
	tr := buildTrail(t, 10, 5, 0, false)
	tr.pub = otherPub
	// No trusted checkpoint vouches for the chain at all: it is
	// unanchored (inserted, whole chain) as well.
	check(t, tr.verify(t, false), want("bad_signature 1..5", "inserted 1..10", "bad_signature 6..10"))
}

// A tamperer cannot pass: any single edit of a fully checkpointed and
// witnessed trail is reported.
func TestVerifyRandomTampering(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	ops := map[string]func(tr *trail){
		"byte": func(tr *trail) {
			e := &tr.src.entries[tr.chain][rng.IntN(tn)]
			e.Canonical = slices.Clone(e.Canonical)
			e.Canonical[rng.IntN(len(e.Canonical))] ^= 1 << rng.IntN(8)
		},
		"delete": func(tr *trail) {
			i := rng.IntN(tn)
			tr.src.entries[tr.chain] = slices.Delete(tr.src.entries[tr.chain], i, i+1)
		},
		"truncate": func(tr *trail) {
			tr.src.entries[tr.chain] = tr.src.entries[tr.chain][:rng.IntN(tn)]
			tr.src.cps[tr.chain] = tr.src.cps[tr.chain][:rng.IntN(len(tr.src.cps[tr.chain])+1)]
		},
		"swap": func(tr *trail) {
			i, j := rng.IntN(tn), rng.IntN(tn-1)
			if j >= i {
				j++
			}
			es := tr.src.entries[tr.chain]
			es[i].Canonical, es[j].Canonical = es[j].Canonical, es[i].Canonical
		},
		"seal": func(tr *trail) {
			i := rng.IntN(tn)
			tr.setSeal(i, func(s *Seal) { s.Hash[rng.IntN(32)] ^= 1 << rng.IntN(8) })
		},
		"prev": func(tr *trail) {
			i := rng.IntN(tn)
			tr.setSeal(i, func(s *Seal) { s.Prev[rng.IntN(32)] ^= 1 << rng.IntN(8) })
		},
		"seq": func(tr *trail) {
			i := rng.IntN(tn)
			tr.setSeal(i, func(s *Seal) { s.Seq += 1 + uint64(rng.IntN(3)) })
		},
		"insert": func(tr *trail) {
			i := 1 + rng.IntN(tn-1)
			es := tr.entries()
			tr.src.entries[tr.chain] = slices.Insert(es, i, forge(tr.chain, es[i].Seal.Seq, es[i-1].Seal.Hash, nil))
		},
		"checkpoint": func(tr *trail) {
			cps := slices.Clone(tr.src.cps[tr.chain])
			k := rng.IntN(len(cps))
			cps[k].RangeRoot[rng.IntN(32)] ^= 1
			if rng.IntN(2) == 0 {
				cps[k].Sign(otherPriv)
			}
			tr.src.cps[tr.chain] = cps
		},
		"unseal": func(tr *trail) {
			i := rng.IntN(tn)
			e := tr.src.entries[tr.chain][i]
			e.Seal = nil
			tr.src.unsealed = append(tr.src.unsealed, e)
			tr.src.entries[tr.chain] = slices.Delete(tr.src.entries[tr.chain], i, i+1)
		},
	}
	names := make([]string, 0, len(ops))
	for n := range ops {
		names = append(names, n)
	}
	slices.Sort(names)
	for round := range 400 {
		keyed := round%2 == 1
		name := names[rng.IntN(len(names))]
		tr := buildTrail(t, tn, tevery, 0, keyed)
		ops[name](tr)
		if rep := tr.verify(t, true); rep.OK() {
			t.Errorf("round %d (%s, keyed %v): tampering not detected", round, name, keyed)
		}
	}
}

func itoa(i int) string {
	return string(appendInt(nil, i))
}

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

func TestVerifyFarSeqs(t *testing.T) {
	modes(t, func(t *testing.T, keyed bool) {
		// A forged event far away, linking to nothing: the verifier
		// does not walk the gap.
		tr := buildTrail(t, tn, tevery, 0, keyed)
		tr.src.entries[tr.chain] = append(tr.entries(), forge(tr.chain, 1<<60, Hash{9}, nil))
		w := want("missing 101.." + itoaU(1<<60-1))
		if keyed {
			w = append(w, "inserted "+itoaU(1<<60)+" "+id(9999))
		}
		check(t, tr.verify(t, true), w)

		// The last event's seq edited: the links still place it at 100.
		tr = buildTrail(t, tn, tevery, 0, keyed)
		tr.setSeal(tn-1, func(s *Seal) { s.Seq = 1 << 62 })
		check(t, tr.verify(t, true), want("reordered "+itoaU(1<<62)+" "+id(100)))
	})
}

func TestVerifyTotals(t *testing.T) {
	tr := buildTrail(t, tn, tevery, 0, false)
	tr.src.entries[tr.chain][56].Seal = nil
	rep := tr.verify(t, true)
	if rep.Total != tn || rep.Unsealed != 1 || rep.Verified != tn-1 || rep.Chains[0].Entries != tn-1 {
		t.Errorf("total %d, unsealed %d, verified %d, chain entries %d", rep.Total, rep.Unsealed, rep.Verified, rep.Chains[0].Entries)
	}
}

type failingSource struct{ memSource }

func (f *failingSource) Entries(ctx context.Context, chain string, fn func(Entry) error) error {
	return errors.New("disk on fire")
}

func TestVerifySourceError(t *testing.T) {
	tr := buildTrail(t, 10, 5, 0, false)
	_, err := NewVerifier(&failingSource{*tr.src}, nil).Verify(context.Background())
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Verify = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewVerifier(tr.src, nil).Verify(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a cancelled context = %v", err)
	}
}

// Several edits at once never crash the verifier, and its totals hold.
func TestVerifyCombinedTampering(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for round := range 300 {
		tr := buildTrail(t, 60, 10, 3, round%2 == 1)
		for range 1 + rng.IntN(5) {
			es := tr.src.entries[tr.chain]
			if len(es) < 3 {
				break
			}
			i, j := rng.IntN(len(es)), rng.IntN(len(es))
			switch rng.IntN(6) {
			case 0:
				es[i].Canonical = append(slices.Clone(es[i].Canonical), 'x')
			case 1:
				tr.src.entries[tr.chain] = slices.Delete(es, i, i+1)
			case 2:
				tr.setSeal(i, func(s *Seal) { s.Seq = es[j].Seal.Seq })
			case 3:
				tr.setSeal(i, func(s *Seal) { s.Prev = es[j].Seal.Hash })
			case 4:
				es[i], es[j] = es[j], es[i]
			case 5:
				tr.src.entries[tr.chain] = slices.Insert(es, i, forge(tr.chain, uint64(rng.IntN(70)), es[j].Seal.Hash, nil))
			}
		}
		rep := tr.verify(t, true)
		n := 0
		for _, c := range rep.Counts {
			n += c
		}
		if n != len(rep.Findings) || rep.Verified > rep.Total || rep.Total != len(tr.entries()) {
			t.Fatalf("round %d: %d counted, %d findings, verified %d of %d (%d entries)", round, n, len(rep.Findings), rep.Verified, rep.Total, len(tr.entries()))
		}
	}
}

func itoaU(u uint64) string { return strconv.FormatUint(u, 10) }

// Each field of a seal, edited alone.
func TestVerifySealFieldEdited(t *testing.T) {
	modes(t, func(t *testing.T, keyed bool) {
		for _, c := range []struct {
			name string
			edit func(s *Seal)
			want []string
		}{
			{"hash", func(s *Seal) { s.Hash[7] ^= 0x10 }, want("modified 40 " + id(40))},
			{"prev", func(s *Seal) { s.Prev[0] ^= 1 }, want("modified 40 " + id(40))},
			{"seq far", func(s *Seal) { s.Seq = 5000 }, want("reordered 5000 " + id(40))},
			{"seq +1", func(s *Seal) { s.Seq = 41 }, want("reordered 41 " + id(40))},
			{"seq -1", func(s *Seal) { s.Seq = 39 }, want("reordered 39 " + id(40))},
			{"seq 0", func(s *Seal) { s.Seq = 0 }, want("reordered 0 " + id(40))},
			{"chain", func(s *Seal) { s.Chain = "other" }, want("inserted 40 "+id(40), "missing 40")},
		} {
			t.Run(c.name, func(t *testing.T) {
				tr := buildTrail(t, tn, tevery, 0, keyed)
				tr.setSeal(tr.at(t, 40), c.edit)
				check(t, tr.verify(t, true), c.want)
			})
		}
	})
}
