package integrity

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/activitylog/activitylog"
)

// A batch large enough to be encoded in two halves is sealed exactly as
// one Chainer fed the events in order seals it, on a new chain and
// after a tail (the copy sealed ahead is used then), with an odd split;
// an event that cannot be encoded in either half fails the batch, and
// nothing is stored.
func TestWriterSplitBatches(t *testing.T) {
	ctx := context.Background()
	store := newMemSealStore()
	w, err := NewWriter(store, &WriterOptions{Chain: testChain, SigningKey: testPriv})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := NewChainer(&Options{Chain: testChain})
	all := writerEvents(0, 300)
	for _, r := range [][2]int{{0, 65}, {65, 66}, {66, 199}, {199, 300}} {
		if err := w.Write(ctx, all[r[0]:r[1]]); err != nil {
			t.Fatalf("write %v: %v", r, err)
		}
	}
	es := store.src.entries[testChain]
	if len(es) != len(all) {
		t.Fatalf("%d events stored, want %d", len(es), len(all))
	}
	for i := range all {
		c, err := activitylog.Canonical(&all[i])
		if err != nil {
			t.Fatal(err)
		}
		want := ref.Next(c)
		if es[i].EventID != all[i].ID || *es[i].Seal != want {
			t.Fatalf("event %d: seal %+v, want %+v", i, *es[i].Seal, want)
		}
	}
	for _, bad := range []int{3, 90} { // in the first half, in the second
		es := writerEvents(1000, 100)
		es[bad].Extra = map[string]any{"x": math.NaN()}
		err := w.Write(ctx, es)
		if !errors.Is(err, activitylog.ErrInvalid) {
			t.Fatalf("bad event %d: err %v, want ErrInvalid", bad, err)
		}
		if n := len(store.src.entries[testChain]); n != len(all) {
			t.Fatalf("bad event %d: %d events stored, want %d", bad, n, len(all))
		}
	}
	if err := w.Write(ctx, writerEvents(2000, 70)); err != nil {
		t.Fatal(err)
	}
	if rep := (&trail{src: store.src, chain: testChain, pub: testPub}).verify(t, false); !rep.OK() || rep.Verified != len(all)+70 {
		t.Fatalf("verify: OK %v verified %d: %v", rep.OK(), rep.Verified, rep.Findings)
	}
}
