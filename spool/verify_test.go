package spool

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// hostileSize is the size of the segments TestOpenHostileSegment opens:
// the default SegmentBytes.
const hostileSize = 64 << 20

// hostileSegments returns segments of hostileSize bytes whose tail
// defeats a naive search for a good record after a bad one.
func hostileSegments() []struct {
	name  string
	data  []byte
	keeps bool // the search cannot settle: Open keeps the tail for Replay to report
} {
	seg := func(fill func(b []byte)) []byte {
		b := make([]byte, hostileSize)
		copy(b, segMagic)
		fill(b[segHeaderLen:])
		return b
	}
	// A fake header every 16 bytes, payload "[{", whose record would
	// end at n(p): every candidate passes the cheap checks.
	headers := func(b []byte, n func(p int) int, tail string) {
		for p := 0; p+16 <= len(b); p += 16 {
			binary.LittleEndian.PutUint32(b[p:], uint32(n(p)))
			binary.LittleEndian.PutUint32(b[p+4:], 1)
			copy(b[p+recHeaderLen:], payloadStart)
		}
		copy(b[len(b)-len(tail):], tail)
	}
	return []struct {
		name  string
		data  []byte
		keeps bool
	}{
		// The review's case: every offset reads as a length that fits.
		{"ones", seg(func(b []byte) {
			for i := range b {
				b[i] = 1
			}
		}), false},
		// Stale blocks after a crash on a data=writeback file system.
		{"random", seg(func(b []byte) {
			r := rand.New(rand.NewChaCha8([32]byte{1}))
			for i := 0; i+8 <= len(b); i += 8 {
				binary.LittleEndian.PutUint64(b[i:], r.Uint64())
			}
		}), false},
		// Every candidate's payload ends at the end of the file with
		// "}]\n": only the CRC can refuse them, each over megabytes.
		{"crc at every offset", seg(func(b []byte) {
			headers(b, func(p int) int { return len(b) - p - recHeaderLen }, payloadEnd)
		}), true},
		// Every candidate's payload ends outside the window it starts
		// in, on bytes that are not "}]\n".
		{"tail reads", seg(func(b []byte) {
			headers(b, func(p int) int { return len(b) - p - recHeaderLen - 1 }, "")
		}), true},
	}
}

// TestOpenHostileSegment opens a crashed spool whose last segment is
// 64 MiB of junk or of crafted fake records. Open must do work linear in
// the segment's size: the bytes it runs through CRC32C, reads and
// allocates are bounded here. (Before the bounds, "ones" took longer
// than 20 s and "random" hours, checking a CRC at every offset.)
func TestOpenHostileSegment(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB segments")
	}
	for _, tc := range hostileSegments() {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "00000000000000000001.seg")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			t0 := time.Now()
			s, err := Open(dir, nil)
			took := time.Since(t0)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			st := s.verify
			t.Logf("%+v, %d bytes allocated, Open took %v (logged, not checked)", st, after.TotalAlloc-before.TotalAlloc, took)
			size := int64(len(tc.data))
			// scan hashes the first record (at most size), validAfter at
			// most twice what it searches plus a window.
			if max := 3*size + verifyWindow; st.hashed > max {
				t.Errorf("hashed %d bytes, want at most %d", st.hashed, max)
			}
			if max := 4 * size; st.read > max {
				t.Errorf("validAfter read %d bytes, want at most %d", st.read, max)
			}
			if st.tailReads > maxTailReads {
				t.Errorf("%d tail reads, want at most %d", st.tailReads, maxTailReads)
			}
			if got, max := after.TotalAlloc-before.TotalAlloc, uint64(8<<20); got > max {
				t.Errorf("Open allocated %d bytes, want at most %d", got, max)
			}
			if st.exhausted != tc.keeps {
				t.Errorf("exhausted = %v, want %v", st.exhausted, tc.keeps)
			}
			_, err = os.Stat(path)
			if !tc.keeps {
				// A torn tail, cut off: nothing was left in the segment.
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("torn segment still there: %v", err)
				}
				return
			}
			// Undecided: kept, and Replay reports it.
			if err != nil {
				t.Fatalf("segment gone: %v", err)
			}
			n, err := s.Replay(context.Background(), discard{})
			var ce *CorruptError
			if n != 0 || !errors.As(err, &ce) || ce.Offset != segHeaderLen {
				t.Errorf("Replay = %d, %v; want a CorruptError at offset %d", n, err, segHeaderLen)
			}
		})
	}
}

type discard struct{}

func (discard) Write(context.Context, []activitylog.Event) error { return nil }

// record returns a record as Write encodes it, for n events.
func record(t testing.TB, n int) []byte {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	es := make([]activitylog.Event, n)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range es {
		es[i] = activitylog.Event{ID: activitylog.NewID(t0), Time: t0, Kind: activitylog.KindSystem,
			Action: "error", Severity: activitylog.SeverityInfo, Message: string(bytes.Repeat([]byte{'m'}, 1000))}
	}
	if err := s.Write(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	s.Close()
	b, err := os.ReadFile(filepath.Join(dir, "00000000000000000001.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return b[segHeaderLen:]
}

// validAfter finds a good record wherever it lies against its windows:
// its header or payload straddling a window's end, its payload running
// into later windows. Damaging any byte of it hides it.
func TestValidAfterWindows(t *testing.T) {
	t.Parallel()
	small, big := record(t, 1), record(t, 1500) // big: about 1.5 MiB
	if minEventJSON+3 > int64(len(small))-recHeaderLen {
		t.Fatalf("minEventJSON %d: a real one-event payload is %d bytes", minEventJSON, len(small)-recHeaderLen)
	}
	for _, rec := range [][]byte{small, big} {
		for _, at := range []int{0, 1, verifyWindow - 20, verifyWindow - 14, verifyWindow - 13, verifyWindow - 12,
			verifyWindow - 1, verifyWindow, verifyWindow + 5, 2*verifyWindow - 13} {
			b := make([]byte, at, at+len(rec)+7)
			b = append(b, rec...)
			b = append(b, "garbage"...)
			var st verifyStats
			ok, err := validAfter(bytes.NewReader(b), 0, int64(len(b)), &st)
			if err != nil || !ok || st.exhausted {
				t.Errorf("%d-byte record at %d: validAfter = %v, %v (%+v); want true", len(rec), at, ok, err, st)
			}
			for _, i := range []int{0, 4, 8, recHeaderLen, recHeaderLen + 1, len(rec) / 2, len(rec) - 1} {
				d := bytes.Clone(b)
				d[at+i] ^= 0x10
				st = verifyStats{}
				if ok, err := validAfter(bytes.NewReader(d), 0, int64(len(d)), &st); err != nil || ok {
					t.Errorf("%d-byte record at %d, byte %d damaged: validAfter = %v, %v; want false", len(rec), at, i, ok, err)
				}
			}
		}
	}
}

func TestPlausible(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n, count int64
		want     bool
	}{
		{0, 0, false},
		{100, 0, false},
		{minEventJSON + 3, 1, true},
		{minEventJSON + 2, 1, false},
		{2*minEventJSON + 4, 2, true},
		{2*minEventJSON + 3, 2, false},
		{1<<32 - 1, 1<<32 - 1, false},
	} {
		if got := plausible(tc.n, tc.count); got != tc.want {
			t.Errorf("plausible(%d, %d) = %v, want %v", tc.n, tc.count, got, tc.want)
		}
	}
}

// decodeBatch refuses a payload holding more events than its header
// says before decoding them all.
func TestDecodeBatch(t *testing.T) {
	t.Parallel()
	rec := record(t, 3)
	payload := rec[recHeaderLen:]
	if es, err := decodeBatch(payload, 3); err != nil || len(es) != 3 {
		t.Fatalf("decodeBatch = %d events, %v; want 3", len(es), err)
	}
	for _, tc := range []struct {
		name    string
		payload string
		count   int
	}{
		{"more than the header", string(payload), 2},
		{"fewer than the header", string(payload), 4},
		{"not an array", `{"id":1}` + "\n", 1},
		{"null", "null\n", 1},
		{"unclosed", `[{},{}`, 2},
		{"trailing", "[{}]x", 1},
		{"empty", "", 1},
	} {
		if _, err := decodeBatch([]byte(tc.payload), tc.count); err == nil {
			t.Errorf("%s: decodeBatch succeeded", tc.name)
		}
	}
}

// BenchmarkDecodeBatch decodes a 500-event record as Replay does.
// unmarshal is the baseline: json.Unmarshal of the same payload, which
// Replay used before it bounded the events it decodes by the header's
// count.
func BenchmarkDecodeBatch(b *testing.B) {
	payload := record(b, 500)[recHeaderLen:]
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var es []activitylog.Event
			if err := json.Unmarshal(payload, &es); err != nil || len(es) != 500 {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("decodeBatch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeBatch(payload, 500); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "events/s")
	})
}
