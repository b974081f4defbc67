package integrity

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// testBundle seals n events in batches of 7, with a checkpoint each, and
// writes them as a bundle: whole, or only the events of kind auth with
// proofs. It returns the bundle's bytes (gzip) and the events.
func testBundle(t testing.TB, n int, whole bool) ([]byte, []activitylog.Event, ed25519.PublicKey) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	c, err := NewChainer(&Options{Chain: "chain-a", SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	var events []activitylog.Event
	var seals []Seal
	var cps []Checkpoint
	for i := range n {
		kind := activitylog.KindCustom
		if i%3 == 0 {
			kind = activitylog.KindAuth
		}
		e := activitylog.Event{ID: activitylog.NewID(start), Time: start.Add(time.Duration(i) * time.Second), Kind: kind,
			Action: "x", Severity: activitylog.SeverityInfo, Extra: map[string]any{"i": i}}
		canon, err := activitylog.Canonical(&e)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
		seals = append(seals, c.Next(canon))
		if (i+1)%7 == 0 {
			cp, err := c.Checkpoint(start.Add(time.Duration(i) * time.Second))
			if err != nil {
				t.Fatal(err)
			}
			cps = append(cps, cp)
		}
	}
	var buf bytes.Buffer
	bw, err := NewBundleWriter(&buf, BundleHeader{WholeChains: whole})
	if err != nil {
		t.Fatal(err)
	}
	bw.Key(pub)
	bw.Chain(c.Info())
	for _, cp := range cps {
		bw.Checkpoint(cp)
	}
	var tree *ProofTree
	var size uint64
	if !whole && len(cps) > 0 {
		size = cps[len(cps)-1].ToSeq
		hs := make([]Hash, len(seals))
		for i, s := range seals {
			hs[i] = s.Hash
		}
		tree, err = NewProofTree(size, func(from, to uint64) ([]Hash, error) { return hs[from-1 : to], nil })
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(cps); i++ {
			p, err := tree.Consistency(cps[i-1].ToSeq, cps[i].ToSeq)
			if err != nil {
				t.Fatal(err)
			}
			bw.Consistency(BundleConsistency{Chain: "chain-a", Size1: cps[i-1].ToSeq, Size2: cps[i].ToSeq, Path: p})
		}
	}
	for i := range events {
		if !whole && events[i].Kind != activitylog.KindAuth {
			continue
		}
		var proof *BundleProof
		if tree != nil && seals[i].Seq <= size {
			p, err := tree.Inclusion(seals[i].Seq, size)
			if err != nil {
				t.Fatal(err)
			}
			proof = &BundleProof{TreeSize: size, Path: p}
		}
		if err := bw.Event(&events[i], nil, &seals[i], proof); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), events, pub
}

func openBytes(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func gunzip(t testing.TB, b []byte) string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestBundleRoundTrip(t *testing.T) {
	t.Parallel()
	for _, whole := range []bool{true, false} {
		raw, events, pub := testBundle(t, 30, whole)
		for name, data := range map[string][]byte{"gzip": raw, "plain": []byte(gunzip(t, raw))} {
			b, err := ReadBundle(openBytes(data))
			if err != nil {
				t.Fatalf("whole %v %s: %v", whole, name, err)
			}
			rep, err := b.Verify(context.Background(), &VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}})
			if err != nil {
				t.Fatal(err)
			}
			want := 30
			if !whole {
				want = 10
			}
			if !rep.OK() || rep.Verified != want || rep.CheckpointsVerified != 4 {
				t.Errorf("whole %v %s: verified %d of %d, checkpoints %d, findings %v", whole, name, rep.Verified, want, rep.CheckpointsVerified, rep.Findings)
			}
		}
		// An edited event, in either form, is modified at its id.
		text := gunzip(t, raw)
		victim := events[9]
		lines := strings.Split(text, "\n")
		for i, l := range lines {
			if strings.Contains(l, victim.ID.String()) {
				lines[i] = strings.Replace(l, `"i":9`, `"i":8`, 1)
			}
		}
		b, err := ReadBundle(openBytes([]byte(strings.Join(lines, "\n"))))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := b.Verify(context.Background(), &VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Counts[ReasonModified] != 1 || !slices.ContainsFunc(rep.Findings, func(f Finding) bool { return f.EventID == victim.ID && f.Reason == ReasonModified }) {
			t.Errorf("whole %v: an edited event: %v", whole, rep.Findings)
		}
	}
}

// A filtered bundle: an event with a recomputed hash but no place in the
// signed tree is inserted; a checkpoint removed breaks the link.
func TestBundleProofFindings(t *testing.T) {
	t.Parallel()
	raw, _, pub := testBundle(t, 30, false)
	lines := strings.Split(gunzip(t, raw), "\n")
	// Remove the second checkpoint: the third no longer follows, and the
	// consistency proofs no longer pair.
	n := 0
	for i, l := range lines {
		if strings.HasPrefix(l, `{"type":"checkpoint"`) {
			if n++; n == 2 {
				lines = append(lines[:i], lines[i+1:]...)
				break
			}
		}
	}
	b, err := ReadBundle(openBytes([]byte(strings.Join(lines, "\n"))))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := b.Verify(context.Background(), &VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts[ReasonCheckpointMismatch] == 0 || rep.Counts[ReasonMissing] != 1 {
		t.Errorf("a checkpoint removed: %v", rep.Counts)
	}
}

func TestProofTreeMatchesProofs(t *testing.T) {
	t.Parallel()
	var hs []Hash
	for i := range 70 {
		hs = append(hs, Hash{byte(i), 1})
	}
	read := func(from, to uint64) ([]Hash, error) { return hs[from-1 : to], nil }
	tree, err := NewProofTree(70, read)
	if err != nil {
		t.Fatal(err)
	}
	for size := uint64(1); size <= 70; size++ {
		for seq := uint64(1); seq <= size; seq++ {
			got, err := tree.Inclusion(seq, size)
			if err != nil {
				t.Fatal(err)
			}
			want, err := InclusionProof(seq, size, read)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("inclusion %d in %d differs", seq, size)
			}
		}
		for s1 := uint64(1); s1 < size; s1++ {
			got, err := tree.Consistency(s1, size)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ConsistencyProof(s1, size, read)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("consistency %d..%d differs", s1, size)
			}
		}
	}
}

func TestBundleDamage(t *testing.T) {
	t.Parallel()
	raw, _, _ := testBundle(t, 10, true)
	text := gunzip(t, raw)
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"truncated gzip", raw[:len(raw)/2], "line"},
		{"no end", []byte(strings.Join(lines[:len(lines)-1], "\n") + "\n"), "no end record after line"},
		{"no final newline", []byte(strings.TrimSuffix(text, "\n")), "no newline at its end"},
		{"not json", []byte(lines[0] + "\nhello\n"), "line 2: not a JSON object"},
		{"unknown type", []byte(lines[0] + "\n{\"type\":\"x\"}\n"), `line 2: unknown record type "x"`},
		{"unknown member", []byte(lines[0] + "\n{\"type\":\"chain\",\"chain\":\"a\",\"z\":1}\n"), `line 2: chain: json: unknown field "z"`},
		{"no header", []byte(lines[1] + "\n"), "line 1: the first record"},
		{"event before chain", []byte(lines[0] + "\n" + lines[len(lines)-2] + "\n"), "line 2: event of chain"},
	} {
		_, err := ReadBundle(openBytes(tc.data))
		if !errors.Is(err, ErrBundle) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrBundle and %q", tc.name, err, tc.want)
		}
	}
}

// FuzzReadBundle: whatever the bytes, reading and verifying a bundle
// returns an error or a report, never panics; an error wraps ErrBundle.
func FuzzReadBundle(f *testing.F) {
	for _, whole := range []bool{true, false} {
		raw, _, _ := testBundle(f, 9, whole)
		f.Add(raw)
		f.Add([]byte(gunzip(f, raw)))
	}
	f.Add([]byte("{\"type\":\"header\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadBundle(openBytes(data))
		if err != nil {
			if !errors.Is(err, ErrBundle) {
				t.Fatalf("error does not wrap ErrBundle: %v", err)
			}
			return
		}
		if _, err := b.Verify(context.Background(), &VerifierOptions{PublicKeys: b.Keys}); err != nil && !errors.Is(err, ErrBundle) {
			t.Fatalf("verify: %v", err)
		}
	})
}

// A proof tree after a pruning cut makes, from the record and the
// hashes after the cut alone, the same proofs as the whole tree for
// every seq after the cut and every tree size from the cut on, and it
// reads no hash at or before the cut. A proof that would need a pruned
// node fails with ErrPrunedChain, never with a wrong path.
func TestProofTreeAfterCut(t *testing.T) {
	t.Parallel()
	const n = 70
	var hs []Hash
	for i := range n {
		hs = append(hs, Hash{byte(i), 2})
	}
	read := func(from, to uint64) ([]Hash, error) { return hs[from-1 : to], nil }
	full, err := NewProofTree(n, read)
	if err != nil {
		t.Fatal(err)
	}
	for cut := uint64(1); cut <= n; cut++ {
		front := newTree()
		for _, h := range hs[:cut-1] {
			front.appendLeaf(LeafHash(h))
		}
		rec := &PruneRecord{UpToSeq: cut, CutHash: hs[cut-1], Tree: front.state()}
		after := func(from, to uint64) ([]Hash, error) {
			if from <= cut {
				t.Fatalf("cut %d: read seq %d, at or before the cut", cut, from)
			}
			return read(from, to)
		}
		for size := cut; size <= n; size++ {
			tree, err := NewProofTreeAfter(rec, size, after)
			if err != nil {
				t.Fatal(err)
			}
			if tree.Size() != size {
				t.Fatalf("cut %d: Size() = %d, want %d", cut, tree.Size(), size)
			}
			for seq := uint64(1); seq <= size; seq++ {
				got, err := tree.Inclusion(seq, size)
				want, _ := full.Inclusion(seq, size)
				switch {
				case seq > cut && err != nil:
					t.Fatalf("cut %d: inclusion %d in %d: %v", cut, seq, size, err)
				case err != nil && !errors.Is(err, ErrPrunedChain):
					t.Fatalf("cut %d: inclusion %d in %d: %v, want ErrPrunedChain", cut, seq, size, err)
				case err == nil && !slices.Equal(got, want):
					t.Fatalf("cut %d: inclusion %d in %d differs from the whole tree's", cut, seq, size)
				}
			}
			for s1 := uint64(1); s1 < size; s1++ {
				got, err := tree.Consistency(s1, size)
				want, _ := full.Consistency(s1, size)
				switch {
				case s1 >= cut && err != nil:
					t.Fatalf("cut %d: consistency %d..%d: %v", cut, s1, size, err)
				case err != nil && !errors.Is(err, ErrPrunedChain):
					t.Fatalf("cut %d: consistency %d..%d: %v, want ErrPrunedChain", cut, s1, size, err)
				case err == nil && !slices.Equal(got, want):
					t.Fatalf("cut %d: consistency %d..%d differs from the whole tree's", cut, s1, size)
				}
			}
		}
	}
	if _, err := NewProofTreeAfter(&PruneRecord{UpToSeq: 5, Tree: make([]Hash, 2)}, 4, read); err == nil {
		t.Error("a cut past the tree's size was accepted")
	}
	if _, err := NewProofTreeAfter(&PruneRecord{UpToSeq: 5, Tree: make([]Hash, 3)}, 9, read); err == nil {
		t.Error("a record whose tree is not the compact range of its cut was accepted")
	}
}

// prunedBundleSource is a pruneSource that gives hashes too, and fails
// a read of a pruned one: a bundle of a pruned chain must not need it.
type prunedBundleSource struct {
	*pruneSource
	tr *trail
}

func (s prunedBundleSource) Hashes(ctx context.Context, chain string, from, to uint64) ([]Hash, error) {
	return s.tr.hashes(from, to)
}

// A bundle of selected events of a chain pruned half way (the record at
// 40, events 1..30 deleted, 31..40 not yet) begins at the cut: the
// record and the checkpoints from the cut on, proofs for the events
// after it, and the events at or below it counted as uncovered. It
// verifies with the record; without it, its first checkpoint links to
// nothing.
func TestBundleOfPrunedChain(t *testing.T) {
	t.Parallel()
	tr := buildTrail(t, 100, 20, 3, false)
	for i := range tr.src.entries[tr.chain] {
		tr.src.entries[tr.chain][i].Kind = activitylog.KindCRUD
	}
	p := tr.pruneRecord(t, 40, nil)
	tr.deleteRange(1, 30)
	src := prunedBundleSource{&pruneSource{memSource: tr.src, prunes: map[string][]PruneRecord{tr.chain: {p}}}, tr}
	var buf bytes.Buffer
	st, err := WriteBundle(context.Background(), src, &buf, &ExportOptions{Kinds: []activitylog.Kind{activitylog.KindCRUD}, PublicKeys: []ed25519.PublicKey{tr.pub}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Proofs != 60 || st.Uncovered != 13 || st.Prunes != 1 || st.Checkpoints != 4 || st.Consistency != 3 {
		t.Fatalf("stats %+v: want 60 proofs (41..100), 13 uncovered (31..40 and the 3 after the last checkpoint), 1 prune record, 4 checkpoints and 3 consistency proofs", st)
	}
	verify := func(b []byte) *Report {
		t.Helper()
		bd, err := ReadBundle(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		rep, err := bd.Verify(context.Background(), &VerifierOptions{PublicKeys: []ed25519.PublicKey{tr.pub}, MaxFindings: -1})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := verify(buf.Bytes()); !rep.OK() || rep.Verified != 60 || rep.Chains[0].PrunedTo != 40 {
		t.Fatalf("the bundle verifies as %+v", rep)
	}
	// Without its pruning record (and the end record's count of it).
	zr, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	var kept []string
	for _, l := range strings.SplitAfter(string(plain), "\n") {
		if !strings.HasPrefix(l, `{"type":"prune"`) {
			kept = append(kept, strings.Replace(l, `"prunes":1`, `"prunes":0`, 1))
		}
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write([]byte(strings.Join(kept, "")))
	zw.Close()
	if rep := verify(out.Bytes()); rep.OK() || rep.Counts[ReasonCheckpointMismatch] == 0 || rep.Chains[0].PrunedTo != 0 {
		t.Fatalf("without the record: ok %v, counts %v, pruned to %d", rep.OK(), rep.Counts, rep.Chains[0].PrunedTo)
	}
}
