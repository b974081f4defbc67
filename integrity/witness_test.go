package integrity

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileWitness(t *testing.T) {
	tr := buildTrail(t, 30, 10, 0, false)
	path := filepath.Join(t.TempDir(), "witness.jsonl")
	w, err := OpenFileWitness(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, cp := range tr.witness[:2] {
		if err := w.Write(ctx, cp); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if err := w.Write(ctx, tr.witness[2]); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close = %v", err)
	}

	// A torn write: half a line at the end. Reading leaves it out;
	// opening cuts it off, so the next line starts clean.
	b, _ := os.ReadFile(path)
	if n := bytes.Count(b, []byte("\n")); n != 2 {
		t.Fatalf("%d lines", n)
	}
	os.WriteFile(path, append(b, `{"version":1,"cha`...), 0o644)
	got, err := ReadWitnessFile(path)
	if err != nil || len(got) != 2 {
		t.Fatalf("ReadWitnessFile of a torn file: %d, %v", len(got), err)
	}
	w, err = OpenFileWitness(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, tr.witness[2]); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, err = ReadWitnessFile(path)
	if err != nil || len(got) != 3 {
		t.Fatalf("ReadWitnessFile: %d, %v", len(got), err)
	}
	for i, cp := range got {
		if !bytes.Equal(cp.Body(), tr.witness[i].Body()) || !bytes.Equal(cp.Signature, tr.witness[i].Signature) {
			t.Errorf("checkpoint %d read back differs", i)
		}
		if err := cp.Verify(testPub); err != nil {
			t.Error(err)
		}
	}

	// A corrupt line in the middle is an error that names it.
	b, _ = os.ReadFile(path)
	lines := strings.SplitAfter(string(b), "\n")
	os.WriteFile(path, []byte(lines[0]+"{}\n"+lines[1]), 0o644)
	if _, err := ReadWitnessFile(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ReadWitnessFile of a corrupt file = %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	w, _ = OpenFileWitness(filepath.Join(t.TempDir(), "w"))
	defer w.Close()
	if err := w.Write(cctx, tr.witness[0]); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a cancelled context = %v", err)
	}
}

func TestCutTornLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"a\n", "a\n"},
		{"a\nb", "a\n"},
		{"torn", ""},
		{"a\n" + strings.Repeat("x", 10000), "a\n"},
		{strings.Repeat("y", 5000) + "\n" + strings.Repeat("x", 5000), strings.Repeat("y", 5000) + "\n"},
	} {
		path := filepath.Join(t.TempDir(), "w")
		os.WriteFile(path, []byte(c.in), 0o644)
		w, err := OpenFileWitness(path)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		if b, _ := os.ReadFile(path); string(b) != c.want {
			t.Errorf("%.20q: file is %.20q, want %.20q", c.in, b, c.want)
		}
	}
}
