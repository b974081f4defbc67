package slogaudit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/slogaudit"
)

// gate is a handler whose Handle waits until the gate opens, and says
// when it first entered.
type gate struct {
	slog.Handler
	entered chan struct{}
	open    chan struct{}
	once    *sync.Once
}

func newGate(h slog.Handler) gate {
	return gate{h, make(chan struct{}), make(chan struct{}), new(sync.Once)}
}

func (g gate) Handle(ctx context.Context, r slog.Record) error {
	g.once.Do(func() { close(g.entered) })
	<-g.open
	return g.Handler.Handle(ctx, r)
}

// syncBuf is a bytes.Buffer safe for the worker and the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) Bytes() []byte               { s.mu.Lock(); defer s.mu.Unlock(); return bytes.Clone(s.b.Bytes()) }

// fill blocks the worker on its first record and fills the queue of
// size 2; the record after that meets a full queue.
func fill(t *testing.T, policy activitylog.FullPolicy) (*slogaudit.Async, gate, *syncBuf) {
	t.Helper()
	buf := &syncBuf{}
	g := newGate(slogaudit.NewJSONHandler(buf, nil))
	a := slogaudit.NewAsync(g, &slogaudit.AsyncOptions{QueueSize: 2, OnFull: policy, BlockTimeout: 10 * time.Millisecond})
	l := slog.New(a)
	l.Info("first")
	<-g.entered
	l.Info("q1")
	l.Info("q2")
	return a, g, buf
}

func lossRecords(t *testing.T, b []byte) (n int, last map[string]any) {
	for _, m := range parseLines(t, b) {
		if m["category"] == "audit_loss" {
			n++
			last = m
		}
	}
	return n, last
}

func TestAsyncPolicies(t *testing.T) {
	tests := []struct {
		policy  activitylog.FullPolicy
		wantErr bool
		dropped uint64
		refused uint64
		lossKey string
	}{
		{activitylog.Drop, false, 5, 0, "dropped"},
		{activitylog.Block, true, 5, 0, "dropped"},
		{activitylog.Fail, true, 0, 5, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.lossKey+map[bool]string{true: "_err", false: ""}[tt.wantErr], func(t *testing.T) {
			a, g, buf := fill(t, tt.policy)
			for range 5 {
				err := a.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelInfo, "over", 0))
				if (err != nil) != tt.wantErr || err != nil && !errors.Is(err, activitylog.ErrQueueFull) {
					t.Errorf("Handle on a full queue: %v, want error %v", err, tt.wantErr)
				}
			}
			close(g.open)
			if err := a.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			s := a.Stats()
			if s.Accepted != 3 || s.Written != 3 || s.Dropped != tt.dropped || s.Refused != tt.refused || s.Failed != 0 || s.LossReports != 1 {
				t.Errorf("stats %+v", s)
			}
			lines := parseLines(t, buf.Bytes())
			n, loss := lossRecords(t, buf.Bytes())
			if len(lines) != 4 || n != 1 {
				t.Fatalf("got %d lines with %d loss reports, want 3 records and one report", len(lines), n)
			}
			if loss["level"] != "ERROR" || loss["extra"].(map[string]any)[tt.lossKey] != 5.0 {
				t.Errorf("loss report %v", loss)
			}
			if err := a.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelInfo, "late", 0)); !errors.Is(err, activitylog.ErrClosed) {
				t.Errorf("Handle after Shutdown: %v, want ErrClosed", err)
			}
		})
	}
}

func TestAsyncShutdownDrains(t *testing.T) {
	buf := &syncBuf{}
	a := slogaudit.NewAsync(slogaudit.NewJSONHandler(buf, nil), &slogaudit.AsyncOptions{QueueSize: 64})
	l := slog.New(a).With("svc", "x").WithGroup("g")
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				l.Info("m", "w", w, "i", i) // Block: waits for room, never drops here
			}
		})
	}
	wg.Wait()
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(parseLines(t, buf.Bytes())); got != 4000 {
		t.Errorf("%d lines, want 4000", got)
	}
	if s := a.Stats(); s.Written != 4000 || s.Dropped+s.Refused+s.Failed+s.LossReports != 0 || s.QueueDepth != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestAsyncShutdownDeadline(t *testing.T) {
	a, g, buf := fill(t, activitylog.Drop)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	time.AfterFunc(50*time.Millisecond, func() { close(g.open) })
	err := a.Shutdown(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want a deadline error", err)
	}
	s := a.Stats()
	if s.Written != 1 || s.Failed != 2 {
		t.Errorf("stats %+v, want 1 written and 2 failed", s)
	}
	if n, loss := lossRecords(t, buf.Bytes()); n != 1 || loss["extra"].(map[string]any)["failed"] != 2.0 {
		t.Errorf("loss report %v", loss)
	}
}

func TestAsyncCountsHandlerFailures(t *testing.T) {
	buf := &syncBuf{}
	fh := &flaky{Handler: slogaudit.NewJSONHandler(buf, nil)}
	a := slogaudit.NewAsync(fh, nil)
	l := slog.New(a)
	for i := range 10 {
		l.Info("m", "fail", i%2 == 0)
	}
	a.Shutdown(context.Background())
	if s := a.Stats(); s.Written != 5 || s.Failed != 5 || s.LossReports == 0 {
		t.Errorf("stats %+v", s)
	}
	if n, _ := lossRecords(t, buf.Bytes()); n == 0 {
		t.Error("no loss report")
	}
}

// flaky fails records whose "fail" attribute is true.
type flaky struct{ slog.Handler }

func (f *flaky) Handle(ctx context.Context, r slog.Record) error {
	fail := false
	r.Attrs(func(a slog.Attr) bool {
		fail = fail || a.Key == "fail" && a.Value.Bool()
		return true
	})
	if fail {
		return errors.New("disk full")
	}
	return f.Handler.Handle(ctx, r)
}

// Writer → Async → Files from many goroutines, under -race.
func TestConcurrentWritesToFiles(t *testing.T) {
	dir := t.TempDir()
	files, err := slogaudit.NewFiles(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := slogaudit.NewAsync(files, nil)
	w := slogaudit.NewWriter(a)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if err := w.Write(context.Background(), sampleEvents()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	files.Close()
	for name, per := range map[string]int{"audit.log": 3, "api.log": 3, "login.log": 1, "app.log": 2} {
		if got := countLines(t, dir+"/"+name); got != per*400 {
			t.Errorf("%s: %d lines, want %d", name, got, per*400)
		}
	}
}
