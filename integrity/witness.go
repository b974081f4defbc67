package integrity

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/activitylog/activitylog"
)

// Witness keeps copies of checkpoints outside the store, so that the
// deletion of the newest events, of their checkpoints, or of the whole
// store still shows against the copies (VerifierOptions.Witness).
//
// Write returns once the checkpoint is durable in the witness, or with
// an error; the writer may retry it later, since writing a checkpoint
// twice is harmless. Implementations are safe for concurrent use.
type Witness interface {
	Write(ctx context.Context, cp Checkpoint) error
}

var _ Witness = (*FileWitness)(nil)

// FileWitness is a Witness that appends to a file, one checkpoint per
// line in its JSON form (Checkpoint.MarshalJSON), each line ended by
// "\n" and synced to disk before Write returns. The file is best kept on
// another machine or medium than the store (a mounted share, a
// write-once bucket through a FUSE mount); checkpoints are signed, so it
// need not be secret.
type FileWitness struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// OpenFileWitness opens, or creates with mode 0644, the witness file at
// path for appending. A last line without its "\n" is a write that
// never completed (Write had not returned); it is cut off, so that the
// next line starts clean.
func OpenFileWitness(path string) (*FileWitness, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open witness: %w", err)
	}
	if err := cutTornLine(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("open witness %s: %w", path, err)
	}
	return &FileWitness{f: f, path: path}, nil
}

// cutTornLine truncates f after its last "\n" and leaves the offset at
// the end.
func cutTornLine(f *os.File) error {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil || size == 0 {
		return err
	}
	end := size
	buf := make([]byte, 4096)
	for end > 0 {
		n := int64(len(buf))
		if end < n {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if end == size {
		return nil
	}
	if err := f.Truncate(end); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	_, err = f.Seek(end, io.SeekStart)
	return err
}

// Write appends cp as one line and syncs the file.
func (w *FileWitness) Write(ctx context.Context, cp Checkpoint) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write witness: %w", err)
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("write witness: %w", err)
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("write witness %s: %w", w.path, os.ErrClosed)
	}
	if _, err := w.f.Write(b); err != nil {
		return fmt.Errorf("write witness %s: %w: %w", w.path, activitylog.ErrUnavailable, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync witness %s: %w: %w", w.path, activitylog.ErrUnavailable, err)
	}
	return nil
}

// Close closes the file.
func (w *FileWitness) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// MaxWitnessLine bounds one line of a witness, "\n" included; a
// checkpoint's line is under 1 KiB. A longer line is an error naming it,
// so that a damaged or hostile witness cannot make the reader hold an
// unbounded line.
const MaxWitnessLine = 64 << 10

// ReadWitness reads the checkpoints of a witness file, in file order.
// An unfinished last line (no "\n") is left out, as OpenFileWitness
// does; any other line that is not a valid checkpoint, or is longer
// than MaxWitnessLine, is an error that names the line, since a witness
// with a corrupt line cannot vouch for anything after it without saying
// so. Signatures are not checked here: the Verifier checks them.
func ReadWitness(r io.Reader) ([]Checkpoint, error) {
	return readWitness(r, false)
}

// readWitness is ReadWitness; with strict, an unfinished last line is
// an error too (an answer cut short), not a write that never returned.
func readWitness(r io.Reader, strict bool) ([]Checkpoint, error) {
	var cps []Checkpoint
	br := bufio.NewReaderSize(r, 4096)
	var line []byte
	for n := 1; ; n++ {
		line = line[:0]
		var err error
		for {
			var part []byte
			part, err = br.ReadSlice('\n')
			line = append(line, part...)
			if len(line) > MaxWitnessLine {
				return nil, fmt.Errorf("read witness line %d: longer than %d bytes: not a checkpoint", n, MaxWitnessLine)
			}
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err == io.EOF {
			if strict && len(line) > 0 {
				return nil, fmt.Errorf("read witness line %d: no \"\\n\" at its end: the answer was cut short", n)
			}
			return cps, nil // a torn last line, if any, is dropped
		}
		if err != nil {
			return nil, fmt.Errorf("read witness: %w", err)
		}
		var cp Checkpoint
		if err := json.Unmarshal(line, &cp); err != nil {
			return nil, fmt.Errorf("read witness line %d: %w", n, err)
		}
		cps = append(cps, cp)
	}
}

// ReadWitnessFile is ReadWitness on the file at path.
func ReadWitnessFile(path string) ([]Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read witness: %w", err)
	}
	defer f.Close()
	cps, err := ReadWitness(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cps, nil
}
