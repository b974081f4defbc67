package access

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeyPrefix starts every API key: alk_<id>_<secret>.
const KeyPrefix = "alk_"

// The parts of an API key and a session token.
const (
	keyIDLen       = 16 // hex digits: 8 random bytes, public, the row's key
	keySecretBytes = 32
	keySecretLen   = 52 // base32 (a-z, 2-7), no padding, of 32 bytes
	KeyLen         = len(KeyPrefix) + keyIDLen + 1 + keySecretLen
	tokenBytes     = 32
	tokenLen       = 43 // base64url, no padding, of 32 bytes
	csrfMessage    = "activitylog csrf v1"
)

var secretEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrMalformed is wrapped by the errors of ParseAPIKey and
// ParseSessionToken. Their text says what is wrong and never holds the
// secret.
var ErrMalformed = errors.New("malformed credential")

// newAPIKey returns a new key, its id and the SHA-256 of its secret.
func newAPIKey() (key, id string, hash []byte, err error) {
	var b [8 + keySecretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", nil, fmt.Errorf("make api key: %w", err)
	}
	id = hex.EncodeToString(b[:8])
	secret := b[8:]
	sum := sha256.Sum256(secret)
	return KeyPrefix + id + "_" + secretEncoding.EncodeToString(secret), id, sum[:], nil
}

// ParseAPIKey splits an API key, alk_ then 16 hex digits (the id) then
// _ then 52 characters of a-z and 2-7 (the secret, 32 random bytes), and
// returns the id and the SHA-256 of the secret. An error wraps
// ErrMalformed, says which part is wrong, and names the id only when
// that part is well formed.
func ParseAPIKey(key string) (id string, hash []byte, err error) {
	rest, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok {
		return "", nil, fmt.Errorf("%w: an API key starts with %s", ErrMalformed, KeyPrefix)
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || !isKeyID(id) {
		return "", nil, fmt.Errorf("%w: an API key has %d hex digits (0-9, a-f) after %s, then _", ErrMalformed, keyIDLen, KeyPrefix)
	}
	if len(secret) != keySecretLen {
		return "", nil, fmt.Errorf("%w: API key %s%s has a secret of %d characters, not %d (was it cut short?)",
			ErrMalformed, KeyPrefix, id, len(secret), keySecretLen)
	}
	b, derr := secretEncoding.DecodeString(secret)
	// Re-encoding refuses the other spellings of a secret (the last
	// character's spare bits set), so each key has one.
	if derr != nil || len(b) != keySecretBytes || secretEncoding.EncodeToString(b) != secret {
		return "", nil, fmt.Errorf("%w: API key %s%s has a secret that is not the base32 (a-z, 2-7) of 32 bytes", ErrMalformed, KeyPrefix, id)
	}
	sum := sha256.Sum256(b)
	return id, sum[:], nil
}

// KeyID returns the id of s, which is a key id, alk_<id>, or a whole
// key, or "" when it is none of those.
func KeyID(s string) string {
	if isKeyID(s) {
		return s
	}
	rest, ok := strings.CutPrefix(s, KeyPrefix)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "_")
	if isKeyID(id) {
		return id
	}
	return ""
}

func isKeyID(s string) bool {
	if len(s) != keyIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// newSessionToken returns a new session token (32 random bytes in
// base64url) and its SHA-256.
func newSessionToken() (token string, hash []byte, err error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("make session token: %w", err)
	}
	sum := sha256.Sum256(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]), sum[:], nil
}

// ParseSessionToken checks a session cookie's value, 43 characters of
// base64url for 32 bytes, and returns its SHA-256, under which the
// session is stored. An error wraps ErrMalformed.
func ParseSessionToken(token string) (hash []byte, err error) {
	if len(token) != tokenLen {
		return nil, fmt.Errorf("%w: a session token has %d characters, not %d", ErrMalformed, tokenLen, len(token))
	}
	b, derr := base64.RawURLEncoding.Strict().DecodeString(token)
	if derr != nil || len(b) != tokenBytes {
		return nil, fmt.Errorf("%w: a session token is base64url (A-Z, a-z, 0-9, -, _)", ErrMalformed)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// csrfToken derives the session's CSRF token from its token: an HMAC,
// so that it needs no storage, cannot be computed without the cookie,
// and dies with the session.
func csrfToken(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(csrfMessage))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfMatches compares a CSRF token sent with the session's, in
// constant time.
func csrfMatches(token, sent string) bool {
	return hmac.Equal([]byte(csrfToken(token)), []byte(sent))
}
