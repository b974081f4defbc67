package archive

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// RestoreOptions configures Restore and RestoreFile. The zero value,
// or a nil pointer, means the defaults.
type RestoreOptions struct {
	// Read bounds the file (lines, events, bytes).
	Read ReadOptions
	// BatchSize is the number of events in each Write. Default: 500.
	BatchSize int
	// PublicKeys, when set, are the trusted keys of the store's
	// checkpoints: a file with sealed events must then verify offline
	// against them (integrity.Bundle.Verify), or nothing is written.
	PublicKeys []ed25519.PublicKey
}

// RestoreResult is what a restore did.
type RestoreResult struct {
	Name    string `json:"name"`
	SHA256  string `json:"sha256"`
	Events  int    `json:"events"` // events written, new or not (a store skips the ids it holds, without saying which)
	Sealed  int    `json:"sealed"` // of them, sealed in the file
	Batches int    `json:"batches"`
	// Verified is true when the file's seals and proofs were verified
	// against RestoreOptions.PublicKeys.
	Verified bool `json:"verified"`
}

// RestoreFile restores the archive file at path, whose checksum file
// is path + SumSuffix, into w. See Restore.
func RestoreFile(ctx context.Context, path string, w activitylog.Writer, opts *RestoreOptions) (RestoreResult, error) {
	sf, err := os.Open(path + SumSuffix)
	if err != nil {
		return RestoreResult{Name: path}, fmt.Errorf("restore %s: no checksum file %s%s (%v): %w", path, path, SumSuffix, err, ErrDamaged)
	}
	sum, err := parseSum(path, sf)
	sf.Close()
	if err != nil {
		return RestoreResult{Name: path}, fmt.Errorf("restore %s: %w", path, err)
	}
	return restore(ctx, path, func() (io.ReadCloser, error) { return os.Open(path) }, sum, w, opts)
}

// Restore loads the archive file name of a back into w (a store):
// first it checks the whole file, its SHA-256 against its checksum
// file (name + SumSuffix, which must exist) and every record
// (ReadArchive), and, with RestoreOptions.PublicKeys, its seals and
// proofs; only then does it write the events, in batches. A file that
// fails any check gets an error wrapping ErrDamaged that names the
// line and the field, and nothing of it is written. Restoring is
// idempotent: a store skips the ids it holds, so a file restored twice,
// or a restore that failed while writing, can be run again. The events
// come back without their seals: the archive file stays their proof.
func Restore(ctx context.Context, a Archive, name string, w activitylog.Writer, opts *RestoreOptions) (RestoreResult, error) {
	rc, err := a.Open(ctx, name+SumSuffix)
	if err != nil {
		return RestoreResult{Name: name}, fmt.Errorf("restore %s: no checksum file %s%s (%v): %w", name, name, SumSuffix, err, ErrDamaged)
	}
	sum, err := parseSum(name, rc)
	rc.Close()
	if err != nil {
		return RestoreResult{Name: name}, fmt.Errorf("restore %s: %w", name, err)
	}
	return restore(ctx, name, func() (io.ReadCloser, error) { return a.Open(ctx, name) }, sum, w, opts)
}

// checkFile reads the file once: its SHA-256 must be sum and its
// records valid. When the checksum differs, that is the error, whatever
// the records.
func checkFile(name string, open func() (io.ReadCloser, error), sum []byte, ro *ReadOptions) (Info, error) {
	o := ro.withDefaults()
	rc, err := open()
	if err != nil {
		return Info{}, fmt.Errorf("open %s: %w", name, err)
	}
	defer rc.Close()
	h := sha256.New()
	lim := &io.LimitedReader{R: rc, N: o.MaxBytes + 1}
	tee := io.TeeReader(lim, h)
	info, rerr := ReadArchive(tee, &o, nil)
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return info, fmt.Errorf("read %s: %w", name, err)
	}
	if lim.N <= 0 {
		return info, fmt.Errorf("%s: the file is more than %d bytes (MaxBytes): %w", name, o.MaxBytes, ErrDamaged)
	}
	if got := h.Sum(nil); !bytes.Equal(got, sum) {
		return info, fmt.Errorf("%s: its SHA-256 is %x, its checksum file says %x: the file was changed or cut: %w", name, got, sum, ErrDamaged)
	}
	if rerr != nil {
		return info, fmt.Errorf("%s: %w", name, rerr)
	}
	return info, nil
}

// verifySeals checks a file's seals, proofs and checkpoint signatures
// against keys. Events without a seal are not findings here: they are
// what an unsealed store archives.
func verifySeals(ctx context.Context, name string, open func() (io.ReadCloser, error), keys []ed25519.PublicKey) error {
	b, err := integrity.ReadBundle(open)
	if err != nil {
		return fmt.Errorf("%s: %v: %w", name, err, ErrDamaged)
	}
	rep, err := b.Verify(ctx, &integrity.VerifierOptions{PublicKeys: keys})
	if err != nil {
		return fmt.Errorf("verify %s: %w", name, err)
	}
	for _, f := range rep.Findings {
		if f.Reason == integrity.ReasonMissingHash && f.Chain == "" {
			continue
		}
		return fmt.Errorf("%s: it does not verify: %s (%d findings in all): %w", name, f, len(rep.Findings), ErrDamaged)
	}
	return nil
}

func restore(ctx context.Context, name string, open func() (io.ReadCloser, error), sum []byte, w activitylog.Writer, opts *RestoreOptions) (RestoreResult, error) {
	var o RestoreOptions
	if opts != nil {
		o = *opts
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	res := RestoreResult{Name: name, SHA256: fmt.Sprintf("%x", sum)}
	info, err := checkFile(name, open, sum, &o.Read)
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	if len(o.PublicKeys) > 0 && info.Sealed > 0 {
		if err := verifySeals(ctx, name, open, o.PublicKeys); err != nil {
			return res, fmt.Errorf("restore: %w", err)
		}
		res.Verified = true
	}
	// The file checked whole; now write it. A file that changes between
	// the two reads is caught by the second read's own checks and hash.
	rc, err := open()
	if err != nil {
		return res, fmt.Errorf("restore: open %s: %w", name, err)
	}
	defer rc.Close()
	h := sha256.New()
	tee := io.TeeReader(rc, h)
	batch := make([]activitylog.Event, 0, o.BatchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := w.Write(ctx, batch); err != nil {
			return fmt.Errorf("write events: %w", err)
		}
		res.Events += len(batch)
		res.Batches++
		batch = batch[:0]
		return nil
	}
	info2, err := ReadArchive(tee, &o.Read, func(line int, e *activitylog.Event) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch = append(batch, *e)
		if len(batch) == o.BatchSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		if _, err = io.Copy(io.Discard, tee); err == nil && !bytes.Equal(h.Sum(nil), sum) {
			err = fmt.Errorf("%s changed while it was restored: %w", name, ErrDamaged)
		}
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		return res, fmt.Errorf("restore %s: after %d events written: %w", name, res.Events, err)
	}
	res.Sealed = info2.Sealed
	return res, nil
}

// check reads a file that writeFile stored back, with its checksum
// file: both must match what was written, and its records the counts;
// with Options.PublicKeys, a file with sealed events must verify.
func (ar *Archiver) check(ctx context.Context, f *File) error {
	rc, err := ar.a.Open(ctx, f.Name+SumSuffix)
	if err != nil {
		return fmt.Errorf("read back the checksum of %s: %w", f.Name, err)
	}
	sum, err := parseSum(f.Name, rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if fmt.Sprintf("%x", sum) != f.SHA256 {
		return fmt.Errorf("read back the checksum of %s: %x, written %s: %w", f.Name, sum, f.SHA256, ErrDamaged)
	}
	open := func() (io.ReadCloser, error) { return ar.a.Open(ctx, f.Name) }
	info, err := checkFile(f.Name, open, sum, nil)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if info.Events != f.Events || info.Sealed != f.Sealed {
		return fmt.Errorf("read back %s: %d events, %d sealed; written %d, %d: %w", f.Name, info.Events, info.Sealed, f.Events, f.Sealed, ErrDamaged)
	}
	if len(ar.keys) > 0 && f.Sealed > 0 {
		if err := verifySeals(ctx, f.Name, open, ar.keys); err != nil {
			return fmt.Errorf("read back: %w", err)
		}
	}
	return nil
}
