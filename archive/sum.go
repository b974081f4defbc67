package archive

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"path"
)

// SumSuffix ends the name of an archive file's checksum file: the
// SHA-256 of the file's bytes as sha256sum writes it, "HEX  NAME\n",
// NAME being the file's base name, so that `sha256sum -c` checks it.
const SumSuffix = ".sha256"

// maxSumFile bounds a checksum file.
const maxSumFile = 4096

// sumLine is the checksum file of the file name with SHA-256 sum.
func sumLine(name string, sum []byte) []byte {
	return fmt.Appendf(nil, "%x  %s\n", sum, path.Base(name))
}

// parseSum reads a checksum file for the archive file name: the first
// line must be 64 hex digits, two spaces (or a space and a star) and
// name's base name. Errors wrap ErrDamaged.
func parseSum(name string, r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxSumFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s%s: %w", name, SumSuffix, err)
	}
	bad := func(why string) error {
		return fmt.Errorf("checksum file %s%s: %s: %w", name, SumSuffix, why, ErrDamaged)
	}
	if len(b) > maxSumFile {
		return nil, bad(fmt.Sprintf("longer than %d bytes", maxSumFile))
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) < 66 {
		return nil, bad(fmt.Sprintf("line 1 %q is not \"SHA256  NAME\"", trunc(string(line), 100)))
	}
	sum, err := hex.DecodeString(string(line[:64]))
	if err != nil {
		return nil, bad(fmt.Sprintf("line 1: the checksum %q is not 64 hex digits", trunc(string(line[:64]), 64)))
	}
	sep, file := line[64:66], string(line[66:])
	if string(sep) != "  " && string(sep) != " *" {
		return nil, bad(fmt.Sprintf("line 1: %q after the checksum, want two spaces", sep))
	}
	if file != path.Base(name) {
		return nil, bad(fmt.Sprintf("line 1: it names %q, not %q", trunc(file, 100), path.Base(name)))
	}
	return sum, nil
}
