package integrity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"strconv"

	"github.com/activitylog/activitylog"
)

// HMACKeySize is the size of a key that GenerateHMACKey makes, and the
// least NewHMACKey accepts.
const HMACKeySize = 32

// hmacPEMType is the PEM block type of an HMAC key file.
const hmacPEMType = "ACTIVITYLOG HMAC KEY"

// hmacKeyIDTag prefixes the secret when its key id is derived.
const hmacKeyIDTag = "activitylog/hmac-key-id/v1\x00"

// HMACKey is a secret for keyed chains: with one, event hashes are
// HMAC-SHA-256 under the key instead of SHA-256, so that someone who can
// write to the store but does not hold the key cannot make a hash the
// verifier accepts. The key's id, which is not secret, is stored with
// the chain (ChainInfo.KeyID) so the verifier knows which key to use.
//
// String and the fmt verbs print the id only, never the secret.
type HMACKey struct {
	id     string
	secret []byte
}

// NewHMACKey returns the key for secret, which must be at least
// HMACKeySize bytes. The secret is copied.
func NewHMACKey(secret []byte) (*HMACKey, error) {
	if len(secret) < HMACKeySize {
		return nil, activitylog.Invalid("hmac key", strconv.Itoa(len(secret))+" bytes", "must be at least "+strconv.Itoa(HMACKeySize)+" bytes")
	}
	s := append([]byte(nil), secret...)
	h := sha256.New()
	h.Write([]byte(hmacKeyIDTag))
	h.Write(s)
	return &HMACKey{id: hex.EncodeToString(h.Sum(nil)[:8]), secret: s}, nil
}

// GenerateHMACKey returns a new random key of HMACKeySize bytes.
func GenerateHMACKey() (*HMACKey, error) {
	b := make([]byte, HMACKeySize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate hmac key: %w", err)
	}
	return NewHMACKey(b)
}

// ID returns the key id: the first 8 bytes, as 16 lowercase hex digits,
// of SHA-256("activitylog/hmac-key-id/v1" || 0x00 || secret).
func (k *HMACKey) ID() string { return k.id }

// String returns "hmac-key:" and the id.
func (k *HMACKey) String() string { return "hmac-key:" + k.id }

// GoString is String, so that %#v does not print the secret either.
func (k *HMACKey) GoString() string { return k.String() }

// MarshalHMACKey returns k as a PEM block of type "ACTIVITYLOG HMAC KEY"
// holding the raw secret.
func MarshalHMACKey(k *HMACKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: hmacPEMType, Bytes: k.secret})
}

// ParseHMACKey parses the PEM form MarshalHMACKey writes.
func ParseHMACKey(data []byte) (*HMACKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != hmacPEMType {
		return nil, activitylog.Invalid("hmac key", "", "is not a PEM block of type "+hmacPEMType)
	}
	return NewHMACKey(b.Bytes)
}

// WriteHMACKeyFile writes k to a new file at path, readable by its owner
// only (0600). It refuses to replace a file that exists.
func WriteHMACKeyFile(path string, k *HMACKey) error {
	if err := writeNewFile(path, MarshalHMACKey(k), 0o600); err != nil {
		return fmt.Errorf("write hmac key: %w", err)
	}
	return nil
}

// LoadHMACKey reads a key file that WriteHMACKeyFile wrote.
func LoadHMACKey(path string) (*HMACKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load hmac key: %w", err)
	}
	k, err := ParseHMACKey(b)
	if err != nil {
		return nil, fmt.Errorf("load hmac key %s: %w", path, err)
	}
	return k, nil
}
