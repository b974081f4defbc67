package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Archive is where archive files go: a local directory (Dir) or object
// storage (docs/archive.md shows an S3-compatible one). Names are
// slash-separated paths that ValidName accepts.
//
// Put stores everything r yields under name, durably and whole or not
// at all: when it returns nil the bytes are on stable storage (a
// directory: the file and its directory fsynced; object storage: the
// upload acknowledged). It never replaces a file: a name that exists
// gets an error wrapping fs.ErrExist. Open returns the stored bytes,
// or an error wrapping fs.ErrNotExist. List returns the names that
// begin with prefix, sorted. The methods may be called from several
// goroutines at once.
type Archive interface {
	Put(ctx context.Context, name string, r io.Reader) error
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	List(ctx context.Context, prefix string) ([]string, error)
}

// ErrDamaged is wrapped by the errors of an archive file that cannot be
// restored or checked: its checksum differs or is missing, it is not
// gzip or NDJSON, it is truncated or over a limit, or a record is not
// valid. The error names the file and, for a record, the line and the
// field.
var ErrDamaged = errors.New("archive file is damaged")

// MaxNameLen bounds a name, in bytes.
const MaxNameLen = 1024

// ValidName reports why name cannot name an archive file: it must be
// 1 to MaxNameLen bytes of slash-separated segments, each of ASCII
// letters, digits and . _ - = + %, none empty, none beginning with a
// dot (so no "." or "..", nor a temporary file's name), and no
// leading or trailing slash. Names outside the archive cannot be
// reached through it.
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("archive name %q: must be 1 to %d bytes", trunc(name, 80), MaxNameLen)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" {
			return fmt.Errorf("archive name %q: an empty segment (a leading, trailing or double slash)", trunc(name, 80))
		}
		if seg[0] == '.' {
			return fmt.Errorf("archive name %q: segment %q begins with a dot", trunc(name, 80), trunc(seg, 40))
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._-=+%", c) >= 0) {
				return fmt.Errorf("archive name %q: byte %q at %d is not allowed (letters, digits and . _ - = + %% only)", trunc(name, 80), c, i)
			}
		}
	}
	return nil
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
