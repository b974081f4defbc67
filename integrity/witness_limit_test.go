package integrity

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// witnessLines returns n checkpoint lines of a witness.
func witnessLines(t *testing.T, n int) []byte {
	t.Helper()
	_, priv, _ := GenerateKey()
	c, err := NewChainer(&Options{Chain: "w", SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for range n {
		c.Next([]byte("x"))
		cp, err := c.Checkpoint(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		line, _ := json.Marshal(cp)
		b.Write(append(line, '\n'))
	}
	return b.Bytes()
}

// A line longer than MaxWitnessLine is an error naming it, before it
// is read in full.
func TestReadWitnessLineLimit(t *testing.T) {
	in := append(witnessLines(t, 2), bytes.Repeat([]byte("a"), 8<<20)...)
	in = append(in, '\n')
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadWitness(bytes.NewReader(in))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "line 3: longer than 65536 bytes") {
		t.Fatalf("err = %v, want line 3 longer than 65536 bytes", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("reading the long line allocated %d bytes", grew)
	}
	// A line of exactly the limit is read (and is not a checkpoint).
	ok := append(bytes.Repeat([]byte(" "), MaxWitnessLine-3), "{}\n"...)
	if _, err := ReadWitness(bytes.NewReader(ok)); err == nil || strings.Contains(err.Error(), "longer than") {
		t.Fatalf("a line of %d bytes: %v", len(ok), err)
	}
}

// From a file, a torn last line is a write that never returned and is
// dropped; from a URL it is an answer cut short: an error.
func TestReadWitnessURLTornLastLine(t *testing.T) {
	lines := witnessLines(t, 3)
	torn := append(bytes.Clone(lines), lines[:40]...)
	cps, err := ReadWitness(bytes.NewReader(torn))
	if err != nil || len(cps) != 3 {
		t.Fatalf("file: %d checkpoints, %v; want 3 and the torn line dropped", len(cps), err)
	}
	body := torn
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	if _, err := ReadWitnessURL(context.Background(), srv.URL, ""); err == nil || !strings.Contains(err.Error(), "line 4: no \"\\n\" at its end") {
		t.Fatalf("URL with a torn last line: %v", err)
	}
	body = lines
	if cps, err := ReadWitnessURL(context.Background(), srv.URL, ""); err != nil || len(cps) != 3 {
		t.Fatalf("URL: %d checkpoints, %v", len(cps), err)
	}
}

// A URL answer longer than the body limit is an error, not a partial
// read.
func TestReadWitnessURLBodyLimit(t *testing.T) {
	lines := witnessLines(t, 20)
	defer func(n int64) { witnessBodyLimit = n }(witnessBodyLimit)
	witnessBodyLimit = int64(len(lines)) - 1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(lines) }))
	defer srv.Close()
	if _, err := ReadWitnessURL(context.Background(), srv.URL, ""); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("an answer over the limit: %v", err)
	}
	witnessBodyLimit = int64(len(lines))
	if cps, err := ReadWitnessURL(context.Background(), srv.URL, ""); err != nil || len(cps) != 20 {
		t.Fatalf("an answer at the limit: %d checkpoints, %v", len(cps), err)
	}
}

// A witness endpoint that answers one endless line (256 MiB, no
// newline) is refused after MaxWitnessLine bytes, not buffered.
func TestReadWitnessURLEndlessLine(t *testing.T) {
	chunk := strings.Repeat("a", 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 256 {
			if _, err := w.Write([]byte(chunk)); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadWitnessURL(context.Background(), srv.URL, "")
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "line 1: longer than") {
		t.Errorf("err = %v, want line 1 longer than the limit", err)
	}
	if grew := (after.TotalAlloc - before.TotalAlloc) >> 20; grew > 16 {
		t.Errorf("reading a witness allocated %d MiB for one line", grew)
	}
}
