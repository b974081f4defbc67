package spool_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/spool"
)

const fuzzSegment = "00000000000000000001.seg"

// FuzzOpenSegment opens a spool whose only segment holds random bytes,
// after a crash (no clean marker) or a clean Close, and replays it.
// Open and Replay must not panic, must fail only with a *CorruptError,
// and must allocate at most a fixed 8 MiB plus 64 times the segment's
// size. Every batch Replay writes must be a record with a good CRC:
// the batches are, in order, a prefix of the chain of good records that
// starts after the segment's magic.
func FuzzOpenSegment(f *testing.F) {
	dir := f.TempDir()
	s, err := spool.Open(dir, nil)
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		if err := s.Write(context.Background(), batch(i*3, i+1)); err != nil {
			f.Fatal(err)
		}
	}
	s.Close()
	good, err := os.ReadFile(filepath.Join(dir, fuzzSegment))
	if err != nil {
		f.Fatal(err)
	}
	n1 := int(binary.LittleEndian.Uint32(good[8:]))
	off2 := 8 + 12 + n1
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x41
		return b
	}
	junk := func(fill func(b []byte)) []byte {
		b := make([]byte, 4096)
		copy(b, "ALSPOOL\x01")
		fill(b[8:])
		return b
	}
	for _, clean := range []bool{false, true} {
		f.Add(good, clean)
		f.Add(good[:len(good)-20], clean) // torn last record
		f.Add(flip(off2+12+30), clean)    // damaged middle payload
		f.Add(flip(off2+2), clean)        // damaged middle length
		f.Add(flip(off2+4), clean)        // damaged middle count
		f.Add(append(bytes.Clone(good), make([]byte, 100)...), clean)
		f.Add(junk(func(b []byte) {
			for i := range b {
				b[i] = 1
			}
		}), clean)
		f.Add(junk(func(b []byte) {
			r := rand.New(rand.NewChaCha8([32]byte{2}))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
		}), clean)
		f.Add(junk(func(b []byte) { // fake headers ending at the end with "}]\n"
			for p := 0; p+16 <= len(b); p += 16 {
				binary.LittleEndian.PutUint32(b[p:], uint32(len(b)-p-12))
				binary.LittleEndian.PutUint32(b[p+4:], 1)
				copy(b[p+12:], "[{")
			}
			copy(b[len(b)-3:], "}]\n")
		}), clean)
		f.Add([]byte{}, clean)
		f.Add([]byte("ALSPOOL\x01"), clean)
	}
	f.Fuzz(func(t *testing.T, data []byte, clean bool) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, fuzzSegment), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if clean {
			if err := os.WriteFile(filepath.Join(dir, "CLEAN"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		w := &batchRecorder{}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := spool.Open(dir, nil)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		_, rerr := s.Replay(context.Background(), w)
		runtime.ReadMemStats(&after)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if rerr != nil && !errors.Is(rerr, spool.ErrCorrupt) {
			t.Fatalf("Replay: %v", rerr)
		}
		if got, max := after.TotalAlloc-before.TotalAlloc, uint64(8<<20+64*len(data)); got > max {
			t.Errorf("Open and Replay of a %d-byte segment allocated %d bytes, want at most %d", len(data), got, max)
		}
		chain := goodRecords(data)
		if len(w.batches) > len(chain) {
			t.Fatalf("replayed %d batches; the segment holds a chain of %d good records", len(w.batches), len(chain))
		}
		for i, b := range w.batches {
			got, _ := json.Marshal(b)
			want, _ := json.Marshal(chain[i])
			if !bytes.Equal(got, want) {
				t.Fatalf("batch %d replayed as %s, the record holds %s", i, got, want)
			}
		}
	})
}

// batchRecorder is a Writer that keeps every batch.
type batchRecorder struct{ batches [][]activitylog.Event }

func (r *batchRecorder) Write(_ context.Context, es []activitylog.Event) error {
	r.batches = append(r.batches, es)
	return nil
}

// goodRecords walks a segment from its magic and returns the batches of
// its records, up to the first that does not fit, fails its CRC32C, or
// does not decode to as many events as its header says.
func goodRecords(data []byte) [][]activitylog.Event {
	if !bytes.HasPrefix(data, []byte("ALSPOOL\x01")) {
		return nil
	}
	table := crc32.MakeTable(crc32.Castagnoli)
	var out [][]activitylog.Event
	for off := 8; off+12 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		count := int(binary.LittleEndian.Uint32(data[off+4:]))
		if n > len(data)-off-12 {
			break
		}
		payload := data[off+12 : off+12+n]
		crc := crc32.Update(crc32.Checksum(data[off:off+8], table), table, payload)
		if crc != binary.LittleEndian.Uint32(data[off+8:]) {
			break
		}
		var es []activitylog.Event
		if json.Unmarshal(payload, &es) != nil || len(es) != count {
			break
		}
		out = append(out, es)
		off += 12 + n
	}
	return out
}
