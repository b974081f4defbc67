package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
)

// gateWriter holds its first Write until the test releases it, so that
// the Recorder's queue fills while its batcher waits: drops without any
// timing assumption.
type gateWriter struct {
	w        activitylog.Writer
	entered  chan struct{}
	release  chan struct{}
	blocking bool
}

func (g *gateWriter) Write(ctx context.Context, events []activitylog.Event) error {
	if g.blocking {
		g.blocking = false // the batcher calls Write from one goroutine
		close(g.entered)
		<-g.release
	}
	return g.w.Write(ctx, events)
}

// Under the Drop policy the count of dropped events is written into the
// chain as a signed event: a Recorder with a tiny queue over an
// integrity.Writer over a real store drops events while its writer is
// held; after Shutdown the trail verifies, holds the loss report with
// the exact count, a verified checkpoint covers the report even though
// the checkpoint interval has not passed (the Writer checkpoints every
// batch that holds a loss report), and the stored events plus the
// dropped count are the events recorded.
func TestLossReportIsSigned(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "loss.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pub, priv, err := integrity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	// An hour between checkpoints: only the first batch, and a batch
	// with a loss report, get one before Flush.
	iw, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	gate := &gateWriter{w: iw, entered: make(chan struct{}), release: make(chan struct{}), blocking: true}
	const queue = 2
	rec := activitylog.NewRecorder(gate, &activitylog.Options{
		QueueSize: queue, OnFull: activitylog.Drop, BatchSize: 1, FlushInterval: time.Hour,
	})
	record := func(i int) {
		t.Helper()
		if err := rec.Record(ctx, activitylog.Event{Kind: activitylog.KindCustom, Action: "ping", Message: "event " + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	const recorded = 12
	record(0)
	<-gate.entered // the batcher holds event 0 in Write; the queue is empty
	for i := 1; i < recorded; i++ {
		record(i) // 1 and 2 fill the queue, the rest are dropped
	}
	const dropped = recorded - 1 - queue
	if st := rec.Stats(); st.Dropped != dropped {
		t.Fatalf("dropped %d, want %d", st.Dropped, dropped)
	}
	close(gate.release)
	if err := rec.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	rep, err := integrity.NewVerifier(s, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}}).Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Chains) != 1 {
		t.Fatalf("verify: OK %v, %d chains, findings %v", rep.OK(), len(rep.Chains), rep.Findings)
	}

	page, err := s.Query(ctx, activitylog.Filter{Kind: activitylog.KindSystem, Category: activitylog.CategoryAuditLoss})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 {
		t.Fatalf("%d loss reports stored, want 1", len(page.Events))
	}
	loss := page.Events[0]
	if !integrity.IsLossReport(&loss) {
		t.Fatalf("IsLossReport(%+v) is false", loss)
	}
	if got := loss.Extra["dropped"]; got != float64(dropped) {
		t.Fatalf("loss report says dropped %v, want %d", got, dropped)
	}
	seals, err := s.Seals(ctx, []activitylog.ID{loss.ID})
	if err != nil {
		t.Fatal(err)
	}
	seal, ok := seals[loss.ID]
	if !ok || seal.Chain != iw.Chain().ID {
		t.Fatalf("the loss report is not sealed in the writer's chain: %+v", seal)
	}
	if cr := rep.Chains[0]; cr.Anchored < seal.Seq {
		t.Fatalf("the loss report at seq %d is not covered by a verified checkpoint (anchored up to %d)", seal.Seq, cr.Anchored)
	}

	stored, err := s.Count(ctx, activitylog.Filter{Kind: activitylog.KindCustom})
	if err != nil {
		t.Fatal(err)
	}
	if stored+dropped != recorded {
		t.Fatalf("%d events stored + %d dropped, want %d recorded", stored, dropped, recorded)
	}
	if st := rec.Stats(); st.Recorded+st.Dropped != recorded || st.Failed != 0 || st.LossEvents != 1 {
		t.Fatalf("stats %+v", st)
	}
}
