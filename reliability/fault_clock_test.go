package reliability

import (
	"context"
	"crypto/ed25519"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
)

// jumpClock is a clock that runs from a base in steps of a
// microsecond, and that the test moves by hours.
type jumpClock struct {
	mu   sync.Mutex
	base time.Time
	n    int64
}

func (c *jumpClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.base.Add(time.Duration(c.n) * time.Microsecond)
}

func (c *jumpClock) jump(to time.Time) (from time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.n = to, 0
	return to
}

// TestFaultClockJump records through a sealing writer (integrity.Writer
// over SQLite) with a clock that jumps back and forward by hours, a day
// back across a partition boundary included, while four goroutines
// record. Every event must be stored once under a unique id, a query by
// time must find each stretch's events at the times the clock gave
// them, and the chain must verify.
func TestFaultClockJump(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, "sqlite").(*sqlite.Store)
	pub, priv, err := integrity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Truncate(time.Hour)
	clk := &jumpClock{base: base}
	iw, err := integrity.NewWriter(store, &integrity.WriterOptions{SigningKey: priv, CheckpointInterval: 50 * time.Millisecond, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	rec := activitylog.NewRecorder(iw, &activitylog.Options{BatchSize: 20, FlushInterval: time.Millisecond, Now: clk.now, Logger: discard})
	action := runID("clock")
	// The stretches of time the clock runs through, in order.
	stretches := []time.Duration{0, -3 * time.Hour, 5 * time.Hour, -26 * time.Hour, 2 * time.Hour, -time.Hour, 0}
	const perStretch = 400
	for _, off := range stretches {
		clk.jump(base.Add(off).Add(time.Duration(len(stretches)) * time.Second)) // each stretch apart from the last
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range perStretch / 4 {
					if err := rec.Record(ctx, activitylog.Event{Kind: activitylog.KindCustom, Action: action}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := rec.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	shutdown(t, rec)
	if err := iw.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := rec.Stats(); st.Recorded != uint64(len(stretches)*perStretch) || st.Failed+st.Dropped != 0 {
		t.Errorf("recorder: %+v", st)
	}

	// Every event once, under a unique id.
	ids := map[activitylog.ID]int{}
	f := activitylog.Filter{Action: action, PageSize: activitylog.MaxPageSize, Ordering: "time"}
	for {
		p, err := store.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			ids[e.ID]++
		}
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	if len(ids) != len(stretches)*perStretch {
		t.Errorf("%d distinct ids stored, want %d", len(ids), len(stretches)*perStretch)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("id %s stored %d times", id, n)
		}
	}
	// A query by time finds each stretch's events. The stretches at
	// offset 0 share their window; the others are hours apart.
	windows := map[time.Duration]int{}
	for _, off := range stretches {
		windows[off] += perStretch
	}
	for off, want := range windows {
		from := base.Add(off)
		got := count(t, store, activitylog.Filter{Action: action, From: from, To: from.Add(time.Minute)})
		if got != int64(want) {
			t.Errorf("events between %s and a minute later: %d, want %d", from.Format(time.RFC3339), got, want)
		}
	}
	rep, err := integrity.NewVerifier(store, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}}).Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Verified != len(ids) {
		t.Errorf("verify: OK %v, %d of %d events verified, %d checkpoints; findings %v", rep.OK(), rep.Verified, rep.Total, rep.Checkpoints, rep.Findings)
	}
	report(t, map[string]any{
		"test": "fault_clock_jump", "events": len(ids), "jumps": len(stretches) - 1,
		"verified": rep.Verified, "checkpoints": rep.Checkpoints, "chain_ok": rep.OK(),
		"events_lost": len(stretches)*perStretch - len(ids),
	})
}
