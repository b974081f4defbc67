package reliability

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/spool"
)

// TestFaultDiskFull takes the store away while the spool that should
// absorb the outage is capped at 64 KiB (Options.MaxBytes, as a small
// disk would be), records on until the spool is full, then brings the
// store back. The full spool must refuse with its clear error (ErrFull,
// naming the directory and the cap), and every accepted event must be
// stored or counted failed, with the audit_loss events stored reporting
// exactly the failures: nothing silently lost.
func TestFaultDiskFull(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, "sqlite")
	sw := &switchWriter{w: store}
	dir := filepath.Join(t.TempDir(), "spool")
	const maxBytes = 64 << 10
	sp, err := spool.Open(dir, &spool.Options{MaxBytes: maxBytes, SegmentBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	fb := spool.NewFallback(sw, sp, &spool.FallbackOptions{Timeout: time.Second, ReplayInterval: 100 * time.Millisecond, Logger: discard})
	rec := activitylog.NewRecorder(fb, &activitylog.Options{
		OnFull: activitylog.Block, BlockTimeout: time.Minute, BatchSize: 50, FlushInterval: 5 * time.Millisecond,
		MaxRetries: 2, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, Logger: discard,
	})
	action := runID("disk")
	padding := strings.Repeat("x", 200)
	accepted := 0
	record := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := rec.Record(ctx, activitylog.Event{Kind: activitylog.KindCustom, Action: action, Message: padding}); err != nil {
				t.Fatalf("record: %v", err)
			}
			accepted++
		}
		if err := rec.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	record(200) // the store is up
	sw.set(true)
	record(2000) // about 300 bytes an event: the spool fills after some 200
	// The spool's own error, when full.
	// A batch as large as the Recorder's batches does not fit.
	probe := make([]activitylog.Event, 100)
	for i := range probe {
		probe[i] = activitylog.Event{ID: activitylog.NewID(time.Now()), Time: time.Now(), Kind: activitylog.KindCustom, Action: "probe",
			Message: padding, Severity: activitylog.SeverityInfo, Actor: activitylog.Actor{Type: activitylog.ActorAnonymous}}
	}
	werr := sp.Write(ctx, probe)
	if !errors.Is(werr, spool.ErrFull) || !errors.Is(werr, activitylog.ErrUnavailable) || !strings.Contains(werr.Error(), dir) {
		t.Errorf("write to the full spool: %v; want ErrFull (an ErrUnavailable) naming %s", werr, dir)
	} else {
		t.Logf("full spool: %v", werr)
	}
	failedDown := rec.Stats().Failed
	sw.set(false)
	record(200) // the store is back
	shutdown(t, rec)
	if err := fb.Close(ctx); err != nil {
		t.Fatalf("close fallback: %v", err)
	}

	rs, fs := rec.Stats(), fb.Stats()
	stored := count(t, store, activitylog.Filter{Kind: activitylog.KindCustom, Action: action})
	_, _, lossFailed, reports := lossTotals(t, store)
	t.Logf("accepted %d: stored %d, failed %d (%d while down); spool: %d spooled, %d replayed, %d refused; %d loss reports",
		accepted, stored, rs.Failed, failedDown, fs.Spooled, fs.Replayed, fs.Failed, reports)
	if rs.Failed == 0 || fs.Failed == 0 {
		t.Errorf("no event failed: the spool never filled (%+v)", fs)
	}
	if stored+int64(rs.Failed) != int64(accepted) {
		t.Errorf("%d events accepted, %d stored + %d failed", accepted, stored, rs.Failed)
	}
	if lossFailed != rs.Failed {
		t.Errorf("the loss reports stored count %d failed events, the recorder %d", lossFailed, rs.Failed)
	}
	if fs.SpoolEvents != 0 || fs.Spooled != fs.Replayed {
		t.Errorf("spool: %d spooled, %d replayed, %d left", fs.Spooled, fs.Replayed, fs.SpoolEvents)
	}
	report(t, map[string]any{
		"test": "fault_disk_full", "spool_max_bytes": maxBytes, "accepted": accepted, "stored": stored,
		"failed_reported": rs.Failed, "loss_reports": reports, "spooled": fs.Spooled, "replayed": fs.Replayed,
		"events_lost_unaccounted": int64(accepted) - stored - int64(rs.Failed),
	})
}
