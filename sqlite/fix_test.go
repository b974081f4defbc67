package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
)

func fixEvents(start time.Time, n int) []activitylog.Event {
	var es []activitylog.Event
	for i := range n {
		es = append(es, activitylog.Event{ID: activitylog.NewID(start), Time: start.Add(time.Duration(i) * time.Second),
			Kind: activitylog.KindCRUD, Action: "update", Severity: activitylog.SeverityInfo, Message: "old"})
	}
	return es
}

// SealUnsealed seals the events older than integrity in transactions of
// Batch events, each with a checkpoint; a second run seals only what is
// after the first run's events, and leaves a back-dated insert.
func TestSealUnsealed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pub, priv, _ := ed25519.GenerateKey(nil)
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.SealUnsealed(ctx, nil); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("no signing key: %v, want ErrInvalid", err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.Write(ctx, fixEvents(base, 10)); err != nil {
		t.Fatal(err)
	}
	// No writer has sealed anything: nothing is known to predate integrity.
	rep, err := s.SealUnsealed(ctx, &sqlite.FixOptions{SigningKey: priv})
	if err != nil || rep.Sealed != 0 || rep.NoIntegrity != 10 {
		t.Fatalf("before integrity: %+v, %v", rep, err)
	}
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, fixEvents(base.Add(time.Hour), 5)); err != nil {
		t.Fatal(err)
	}
	rep, err = s.SealUnsealed(ctx, &sqlite.FixOptions{SigningKey: priv, Batch: 4})
	if err != nil || rep.Sealed != 10 || rep.Checkpoints != 3 || !strings.HasPrefix(rep.Chain, sqlite.FixChainPrefix) {
		t.Fatalf("fix: %+v, %v", rep, err)
	}
	if r := verifyStore(t, s, pub); !r.OK() || r.Verified != 15 {
		t.Fatalf("verify after fix: %+v", r)
	}
	// Two more old events: one after the fixed ones (sealed by a second
	// run), one before them (appeared since the first fix: left).
	late := fixEvents(base.Add(30*time.Minute), 1)
	early := fixEvents(base.Add(-time.Minute), 1)
	if err := s.Write(ctx, append(late, early...)); err != nil {
		t.Fatal(err)
	}
	rep, err = s.SealUnsealed(ctx, &sqlite.FixOptions{SigningKey: priv})
	if err != nil || rep.Sealed != 1 || rep.BeforeFix != 1 || rep.Resumed.IsZero() {
		t.Fatalf("second fix: %+v, %v", rep, err)
	}
	r := verifyStore(t, s, pub)
	if r.Verified != 16 || r.Counts[integrity.ReasonMissingHash] != 1 || len(r.Findings) != 1 || r.Findings[0].EventID != early[0].ID {
		t.Fatalf("verify after the second fix: %+v", r)
	}
}
