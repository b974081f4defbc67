package spool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/spool"
	"github.com/activitylog/activitylog/storetest"
)

// memWriter is an idempotent in-memory Writer that counts how often each
// id was delivered in a successful Write. failAfter > 0 makes it fail
// every Write after that many successful ones; down makes every Write
// fail.
type memWriter struct {
	mu        sync.Mutex
	count     map[activitylog.ID]int
	order     []activitylog.Event
	batches   int
	failAfter int
	down      atomic.Bool
	invalid   bool
}

func newMem() *memWriter { return &memWriter{count: map[activitylog.ID]int{}} }

var errDown = fmt.Errorf("test writer down: %w", activitylog.ErrUnavailable)

func (m *memWriter) Write(ctx context.Context, events []activitylog.Event) error {
	if m.down.Load() {
		return errDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.invalid {
		return activitylog.Invalid("kind", "x", "test refuses")
	}
	if m.failAfter > 0 && m.batches >= m.failAfter {
		return errDown
	}
	m.batches++
	for _, e := range events {
		m.count[e.ID]++
		m.order = append(m.order, e)
	}
	return nil
}

func (m *memWriter) snapshot() map[activitylog.ID]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := make(map[activitylog.ID]int, len(m.count))
	for k, v := range m.count {
		c[k] = v
	}
	return c
}

// batch returns n valid events with fresh ids, numbered from i.
func batch(i, n int) []activitylog.Event {
	es := make([]activitylog.Event, n)
	for j := range es {
		es[j] = storetest.NewEvent(i + j)
		es[j].ID = activitylog.NewID(es[j].Time)
	}
	return es
}

func open(t *testing.T, dir string, o *spool.Options) *spool.Spool {
	t.Helper()
	s, err := spool.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func write(t *testing.T, s *spool.Spool, es []activitylog.Event) {
	t.Helper()
	if err := s.Write(context.Background(), es); err != nil {
		t.Fatal(err)
	}
}

func segFiles(t *testing.T, dir, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// exactlyOnce checks that every id in want was delivered exactly once,
// and nothing else was delivered.
func exactlyOnce(t *testing.T, got map[activitylog.ID]int, want []activitylog.Event) {
	t.Helper()
	for _, e := range want {
		if got[e.ID] != 1 {
			t.Errorf("event %s delivered %d times, want 1", e.ID, got[e.ID])
		}
	}
	if len(got) != len(want) {
		t.Errorf("delivered %d distinct ids, want %d", len(got), len(want))
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, nil)
	var all []activitylog.Event
	for i := 0; i < 10; i++ {
		b := batch(i*7, 7)
		write(t, s, b)
		all = append(all, b...)
	}
	if ev, by := s.Len(); ev != 70 || by <= 0 {
		t.Fatalf("Len = %d events, %d bytes; want 70 events", ev, by)
	}
	m := newMem()
	n, err := s.Replay(context.Background(), m)
	if err != nil || n != 70 {
		t.Fatalf("Replay = %d, %v; want 70, nil", n, err)
	}
	if m.batches != 10 {
		t.Errorf("Replay made %d writes, want 10 (one per spooled batch)", m.batches)
	}
	if !reflect.DeepEqual(m.order, all) {
		t.Errorf("replayed events differ from those written")
	}
	if ev, by := s.Len(); ev != 0 || by != 0 {
		t.Errorf("Len after Replay = %d, %d; want 0, 0", ev, by)
	}
	if f := segFiles(t, dir, ".seg"); len(f) != 0 {
		t.Errorf("segments left after Replay: %v", f)
	}
	// Writes go on after the active segment was deleted.
	b := batch(100, 3)
	write(t, s, b)
	m2 := newMem()
	if n, err := s.Replay(context.Background(), m2); err != nil || n != 3 {
		t.Fatalf("second Replay = %d, %v", n, err)
	}
	exactlyOnce(t, m2.snapshot(), b)
	if n, err := s.Replay(context.Background(), m2); err != nil || n != 0 {
		t.Fatalf("Replay of an empty spool = %d, %v", n, err)
	}
}

func TestEmptyBatchIsNoop(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), nil)
	if err := s.Write(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if ev, by := s.Len(); ev != 0 || by != 0 {
		t.Errorf("Len = %d, %d", ev, by)
	}
}

func TestManySegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, &spool.Options{SegmentBytes: 16 << 10})
	var all []activitylog.Event
	for i := 0; i < 60; i++ {
		b := batch(i*5, 5)
		write(t, s, b)
		all = append(all, b...)
	}
	segs := segFiles(t, dir, ".seg")
	if len(segs) < 5 {
		t.Fatalf("%d segments, want many", len(segs))
	}
	s.Close()
	s = open(t, dir, &spool.Options{SegmentBytes: 16 << 10})
	if ev, _ := s.Len(); ev != int64(len(all)) {
		t.Fatalf("Len after reopen = %d, want %d", ev, len(all))
	}
	m := newMem()
	if n, err := s.Replay(context.Background(), m); err != nil || n != len(all) {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	if !reflect.DeepEqual(m.order, all) {
		t.Errorf("replay order or content differs")
	}
	exactlyOnce(t, m.snapshot(), all)
	if f := segFiles(t, dir, ".seg"); len(f) != 0 {
		t.Errorf("segments left: %v", f)
	}
}

func TestFull(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const max = 64 << 10
	s := open(t, dir, &spool.Options{MaxBytes: max, SegmentBytes: 16 << 10})
	var acked []activitylog.Event
	var full error
	for i := 0; i < 1000 && full == nil; i++ {
		b := batch(i*10, 10)
		_, before := s.Len()
		if err := s.Write(context.Background(), b); err != nil {
			full = err
			if _, after := s.Len(); after != before {
				t.Errorf("failed Write changed the size from %d to %d", before, after)
			}
			break
		}
		acked = append(acked, b...)
	}
	if !errors.Is(full, spool.ErrFull) || !errors.Is(full, activitylog.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrFull wrapping ErrUnavailable", full)
	}
	if msg := full.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, "MaxBytes 65536") {
		t.Errorf("error %q does not name the directory and the cap", msg)
	}
	_, by := s.Len()
	if by > max {
		t.Errorf("size %d over the cap %d", by, max)
	}
	var disk int64
	for _, f := range segFiles(t, dir, ".seg") {
		fi, _ := os.Stat(f)
		disk += fi.Size()
	}
	if disk != by {
		t.Errorf("segments on disk hold %d bytes, Len says %d", disk, by)
	}
	// Nothing half-written: a reopen finds exactly the acknowledged batches.
	s.Close()
	s = open(t, dir, &spool.Options{MaxBytes: max, SegmentBytes: 16 << 10})
	m := newMem()
	if _, err := s.Replay(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, m.snapshot(), acked)
	// Room again after the replay.
	write(t, s, batch(0, 10))
}

func TestTornTail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tear func(t *testing.T, path string)
	}{
		{"truncated mid-record", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()-50); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated mid-header", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			b, _ := os.ReadFile(path)
			// Cut right after the last record's first 5 header bytes.
			last := lastRecordOffset(t, b)
			if err := os.Truncate(path, last+5); err != nil {
				t.Fatal(err)
			}
			_ = fi
		}},
		{"zeros appended", func(t *testing.T, path string) {
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			f.Write(make([]byte, 4096))
			f.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := open(t, dir, nil)
			var kept []activitylog.Event
			for i := 0; i < 3; i++ {
				b := batch(i*4, 4)
				write(t, s, b)
				if i < 2 || tc.name == "zeros appended" {
					kept = append(kept, b...)
				}
			}
			s.Close()
			crash(t, dir)
			segs := segFiles(t, dir, ".seg")
			if len(segs) != 1 {
				t.Fatalf("segments %v", segs)
			}
			tc.tear(t, segs[0])
			s = open(t, dir, nil)
			if ev, _ := s.Len(); ev != int64(len(kept)) {
				t.Errorf("Len after reopen = %d, want %d", ev, len(kept))
			}
			// A write after the reopen must not land behind the torn bytes.
			more := batch(50, 2)
			write(t, s, more)
			s.Close()
			s = open(t, dir, nil)
			m := newMem()
			n, err := s.Replay(context.Background(), m)
			if err != nil {
				t.Fatalf("Replay: %v", err)
			}
			want := append(kept, more...)
			if n != len(want) {
				t.Errorf("Replay = %d events, want %d", n, len(want))
			}
			exactlyOnce(t, m.snapshot(), want)
		})
	}
}

// crash removes the marker of a clean Close, as a crash leaves none.
func crash(t *testing.T, dir string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, "CLEAN")); err != nil {
		t.Fatal(err)
	}
}

// After a clean Close there is no torn tail: a shortened last record is
// damage, reported by Replay, not silently cut off.
func TestTruncatedAfterCleanCloseIsReported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, nil)
	write(t, s, batch(0, 4))
	write(t, s, batch(4, 4))
	s.Close()
	path := segFiles(t, dir, ".seg")[0]
	fi, _ := os.Stat(path)
	if err := os.Truncate(path, fi.Size()-30); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, nil)
	if ev, _ := s.Len(); ev != 8 {
		t.Errorf("Len = %d, want 8 (the damaged record still counted)", ev)
	}
	m := newMem()
	n, err := s.Replay(context.Background(), m)
	var ce *spool.CorruptError
	if !errors.As(err, &ce) || ce.Lost != 4 || n != 4 {
		t.Fatalf("Replay = %d, %v; want 4 and a CorruptError with 4 lost", n, err)
	}
}

// lastRecordOffset walks a segment's records and returns the offset of
// the last one.
func lastRecordOffset(t *testing.T, b []byte) int64 {
	off, last := int64(8), int64(-1)
	for off+12 <= int64(len(b)) {
		n := int64(b[off]) | int64(b[off+1])<<8 | int64(b[off+2])<<16 | int64(b[off+3])<<24
		last = off
		off += 12 + n
	}
	if last < 0 {
		t.Fatal("no record")
	}
	return last
}

func TestCorruptMiddleRecord(t *testing.T) {
	t.Parallel()
	for _, crashed := range []bool{false, true} {
		t.Run(fmt.Sprint("crashed=", crashed), func(t *testing.T) {
			t.Parallel()
			testCorruptMiddleRecord(t, crashed)
		})
	}
}

func testCorruptMiddleRecord(t *testing.T, crashed bool) {
	dir := t.TempDir()
	s := open(t, dir, &spool.Options{SegmentBytes: 1 << 20})
	b1, b2, b3 := batch(0, 3), batch(3, 4), batch(7, 5)
	write(t, s, b1)
	write(t, s, b2)
	write(t, s, b3)
	s.Close()
	if crashed {
		crash(t, dir)
	}
	segs := segFiles(t, dir, ".seg")
	path := segs[0]
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The second record starts after the magic and the first record.
	n1 := int64(data[8]) | int64(data[9])<<8 | int64(data[10])<<16 | int64(data[11])<<24
	off2 := 8 + 12 + n1
	data[off2+12+40] ^= 0x55 // a payload byte of the second record
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, &spool.Options{SegmentBytes: 1 << 20})
	// A later segment is still replayed.
	b4 := batch(20, 2)
	write(t, s, b4)
	m := newMem()
	n, err := s.Replay(context.Background(), m)
	var ce *spool.CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, spool.ErrCorrupt) {
		t.Fatalf("Replay err = %v, want a *CorruptError", err)
	}
	if ce.Path != path || ce.Offset != off2 || ce.Lost != 9 {
		t.Errorf("CorruptError = %+v; want path %s, offset %d, 9 events lost", ce, path, off2)
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, fmt.Sprint(off2)) {
		t.Errorf("error %q does not name the file and offset", msg)
	}
	if n != len(b1)+len(b4) {
		t.Errorf("replayed %d events, want %d (first batch and the next segment)", n, len(b1)+len(b4))
	}
	exactlyOnce(t, m.snapshot(), append(b1, b4...))
	if _, err := os.Stat(path + ".corrupt"); err != nil {
		t.Errorf("segment not quarantined: %v", err)
	}
	if ev, by := s.Len(); ev != 0 || by != 0 {
		t.Errorf("Len = %d, %d after quarantine; want 0, 0", ev, by)
	}
	// The quarantined file's number is not reused.
	s.Close()
	s = open(t, dir, nil)
	write(t, s, batch(30, 1))
	if _, err := os.Stat(path + ".corrupt"); err != nil {
		t.Errorf("quarantined file gone: %v", err)
	}
}

// After a crash, a middle record whose length field was damaged is still
// told apart from a torn tail (a good record follows somewhere), and
// reported rather than cut off.
func TestDamagedLengthAfterCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, nil)
	b1 := batch(0, 3)
	write(t, s, b1)
	write(t, s, batch(3, 4))
	write(t, s, batch(7, 5))
	s.Close()
	crash(t, dir)
	path := segFiles(t, dir, ".seg")[0]
	data, _ := os.ReadFile(path)
	n1 := int64(data[8]) | int64(data[9])<<8 | int64(data[10])<<16 | int64(data[11])<<24
	off2 := 8 + 12 + n1
	data[off2+2] ^= 0x01 // length grows by 64 KiB: runs past the end
	os.WriteFile(path, data, 0o600)
	s = open(t, dir, nil)
	m := newMem()
	n, err := s.Replay(context.Background(), m)
	var ce *spool.CorruptError
	if !errors.As(err, &ce) || ce.Offset != off2 || ce.Lost < 4 {
		t.Fatalf("Replay = %d, %v; want a CorruptError at %d with at least 4 lost", n, err, off2)
	}
	exactlyOnce(t, m.snapshot(), b1)
}

func TestReplayFailsMidway(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, &spool.Options{SegmentBytes: 8 << 10})
	var all []activitylog.Event
	for i := 0; i < 20; i++ {
		b := batch(i*3, 3)
		write(t, s, b)
		all = append(all, b...)
	}
	m := newMem()
	m.failAfter = 7
	n, err := s.Replay(context.Background(), m)
	if !errors.Is(err, errDown) || n != 21 {
		t.Fatalf("Replay = %d, %v; want 21 and the writer's error", n, err)
	}
	if ev, _ := s.Len(); ev != int64(len(all)-21) {
		t.Errorf("Len = %d, want %d", ev, len(all)-21)
	}
	// Part of the rest after a reopen, from the checkpoint.
	s.Close()
	s = open(t, dir, &spool.Options{SegmentBytes: 8 << 10})
	if ev, _ := s.Len(); ev != int64(len(all)-21) {
		t.Errorf("Len after reopen = %d, want %d", ev, len(all)-21)
	}
	m.failAfter = 12
	if _, err := s.Replay(context.Background(), m); !errors.Is(err, errDown) {
		t.Fatalf("Replay err = %v", err)
	}
	m.failAfter = 0
	if _, err := s.Replay(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, m.snapshot(), all)
}

func TestReplayCancelled(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), nil)
	write(t, s, batch(0, 2))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Replay(ctx, newMem()); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	if ev, _ := s.Len(); ev != 2 {
		t.Errorf("Len = %d", ev)
	}
}

func TestInvalidRefused(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), nil)
	b := batch(0, 3)
	b[1].Kind = "nope"
	err := s.Write(context.Background(), b)
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) || fe.Field != "events[1].kind" {
		t.Fatalf("err = %v, want a FieldError for events[1].kind", err)
	}
	if ev, by := s.Len(); ev != 0 || by != 0 {
		t.Errorf("Len = %d, %d", ev, by)
	}
}

func TestOpenBadOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		field string
		o     spool.Options
	}{
		{"MaxBytes", spool.Options{MaxBytes: -1}},
		{"SegmentBytes", spool.Options{SegmentBytes: -1}},
		{"SyncInterval", spool.Options{SyncInterval: -time.Second}},
	} {
		_, err := spool.Open(t.TempDir(), &tc.o)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: err = %v", tc.field, err)
		}
	}
}

func TestLockedAgainstSecondOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, nil)
	if s2, err := spool.Open(dir, nil); err == nil {
		s2.Close()
		t.Skip("no directory lock on this platform")
	}
	s.Close()
	s2 := open(t, dir, nil)
	s2.Close()
}

func TestClosed(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), nil)
	s.Close()
	if err := s.Write(context.Background(), batch(0, 1)); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("Write after Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// Concurrent Writes and Replays: every acknowledged event reaches the
// writer exactly once. Run with -race.
func TestConcurrentWriteReplay(t *testing.T) {
	t.Parallel()
	for _, iv := range []time.Duration{0, time.Millisecond} {
		t.Run(fmt.Sprint("sync=", iv), func(t *testing.T) {
			t.Parallel()
			s := open(t, t.TempDir(), &spool.Options{SegmentBytes: 32 << 10, SyncInterval: iv})
			m := newMem()
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				acked []activitylog.Event
			)
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 25; i++ {
						b := batch(g*1000+i*4, 4)
						if err := s.Write(context.Background(), b); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						acked = append(acked, b...)
						mu.Unlock()
					}
				}()
			}
			stop := make(chan struct{})
			replayed := make(chan struct{})
			go func() {
				defer close(replayed)
				for {
					if _, err := s.Replay(context.Background(), m); err != nil {
						t.Error(err)
					}
					select {
					case <-stop:
						return
					default:
						time.Sleep(time.Millisecond)
					}
				}
			}()
			wg.Wait()
			close(stop)
			<-replayed
			if _, err := s.Replay(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			exactlyOnce(t, m.snapshot(), acked)
			if ev, _ := s.Len(); ev != 0 {
				t.Errorf("Len = %d after the last Replay", ev)
			}
		})
	}
}
