package integrity

import (
	"encoding/hex"
	"fmt"

	"github.com/activitylog/activitylog"
)

// Hash is a SHA-256 (or HMAC-SHA-256) value: an event hash, a Merkle
// node or root, a checkpoint hash. Its text form is 64 lowercase hex
// digits, which is also its JSON form.
type Hash [32]byte

// String returns h as 64 lowercase hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zero bytes.
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText implements encoding.TextMarshaler.
func (h Hash) MarshalText() ([]byte, error) {
	b := make([]byte, 64)
	hex.Encode(b, h[:])
	return b, nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts exactly
// 64 lowercase hex digits, the one form MarshalText writes.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// ParseHash parses 64 lowercase hex digits. Its error wraps
// activitylog.ErrInvalid and names the field "hash".
func ParseHash(s string) (Hash, error) {
	var h Hash
	if !isLowerHex(s, 64) {
		return h, activitylog.Invalid("hash", truncate(s, 80), "is not 64 lowercase hex digits")
	}
	hex.Decode(h[:], []byte(s))
	return h, nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func hashesToBytes(hs []Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

func bytesToHashes(bs [][]byte) ([]Hash, error) {
	out := make([]Hash, len(bs))
	for i, b := range bs {
		if len(b) != 32 {
			return nil, fmt.Errorf("hash %d has %d bytes, want 32", i, len(b))
		}
		out[i] = Hash(b)
	}
	return out, nil
}
