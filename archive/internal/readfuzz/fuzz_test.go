package readfuzz_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/archive"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/storetest"
)

// seedFile is a small archive file of n events, gzip-compressed or not.
func seedFile(t testing.TB, n int, compressed bool) []byte {
	var b bytes.Buffer
	bw, err := integrity.NewBundleWriter(&b, integrity.BundleHeader{Created: "2026-03-04T00:00:00Z", Filters: integrity.BundleFilters{Kinds: []string{"crud"}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		e := storetest.NewEvent(i)
		if err := bw.Event(&e, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	if compressed {
		return b.Bytes()
	}
	zr, err := gzip.NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	p, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzReadArchive feeds the archive reader any bytes: it returns an
// error wrapping ErrDamaged, or the events it counts, and never panics
// or reads past its limits.
func FuzzReadArchive(f *testing.F) {
	good := seedFile(f, 2, false)
	f.Add(seedFile(f, 2, true))
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Add([]byte("\n\n"))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	var zeros bytes.Buffer
	zw := gzip.NewWriter(&zeros)
	zw.Write(make([]byte, 1<<16))
	zw.Close()
	f.Add(zeros.Bytes())
	lines := strings.SplitAfter(string(good), "\n")
	f.Add([]byte(lines[0] + `{"type":"event","event":{"id":"\xff\xfe","kind":"crud"}}` + "\n" + lines[len(lines)-2]))
	f.Add([]byte(lines[0] + `{"type":"event","event":` + strings.Repeat("[", 5000) + "}\n"))
	f.Add([]byte(lines[0] + `{"type":"event","canonical":"AAAA"}` + "\n"))
	f.Add([]byte(lines[0] + `{"type":"end","chains":1e400}` + "\n"))
	f.Add([]byte(lines[0] + `{"type":"event","event":{"id":"01900000-0000-7000-8000-000000000000","time":"2026-03-01T00:00:00Z","kind":"crud","action":"x' OR 1=1; --","message":"\u0000"}}` + "\n"))
	opts := &archive.ReadOptions{MaxLineBytes: 1 << 16, MaxEvents: 100, MaxBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		info, err := archive.ReadArchive(bytes.NewReader(data), opts, func(line int, e *activitylog.Event) error {
			if line < 2 {
				t.Fatalf("an event on line %d", line)
			}
			if e.ID.IsZero() || e.Time.Before(activitylog.MinTime) || !e.Time.Before(activitylog.MaxTime) || !e.Kind.Valid() {
				t.Fatalf("line %d: an event a store cannot hold was given: %+v", line, e)
			}
			n++
			return nil
		})
		if err != nil {
			if !errors.Is(err, archive.ErrDamaged) {
				t.Fatalf("error %v does not wrap ErrDamaged", err)
			}
			return
		}
		if n != info.Events || info.Events > opts.MaxEvents || info.Lines < 2 {
			t.Fatalf("info %+v, %d events given", info, n)
		}
	})
}
