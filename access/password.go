package access

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/activitylog/activitylog"
)

// Argon2Params are the cost of an argon2id password hash. Every hash
// carries the parameters it was made with, so changing them affects new
// passwords only, and old hashes still verify.
type Argon2Params struct {
	// Time is the number of passes over the memory. Default: 3.
	Time uint32
	// Memory is the memory used, in KiB. Default: 65536 (64 MiB).
	Memory uint32
	// Threads is the parallelism. Default: 4.
	Threads uint8
}

// DefaultArgon2 is RFC 9106's second recommended option (section 4):
// argon2id with t=3 passes, 64 MiB of memory and 4 lanes, a 16-byte
// salt and a 32-byte tag. It takes about 100-200 ms on one server
// core, and the Service runs at most four hashes at once
// (maxConcurrentHashes), so that a flood of sign-ins cannot take more
// than 256 MiB.
var DefaultArgon2 = Argon2Params{Time: 3, Memory: 64 << 10, Threads: 4}

const (
	saltLen = 16
	tagLen  = 32

	// Bounds on the parameters of a hash read back, so that a
	// corrupted or planted row cannot make a login use 100 GiB.
	maxArgonTime   = 64
	maxArgonMemory = 1 << 20 // KiB: 1 GiB

	// MinPasswordLen and MaxPasswordLen bound a new password, in
	// characters and bytes. The maximum keeps hashing time bounded;
	// no composition rules apply (NIST SP 800-63B).
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

func (p *Argon2Params) withDefaults() Argon2Params {
	v := DefaultArgon2
	if p != nil {
		if p.Time > 0 {
			v.Time = p.Time
		}
		if p.Memory > 0 {
			v.Memory = p.Memory
		}
		if p.Threads > 0 {
			v.Threads = p.Threads
		}
	}
	return v
}

// CheckPassword refuses a password that is too short or too long, with
// an *activitylog.FieldError for "password" that never holds the
// password itself.
func CheckPassword(password string) error {
	switch n := utf8.RuneCountInString(password); {
	case n < MinPasswordLen:
		return activitylog.Invalid("password", "", "must be at least "+strconv.Itoa(MinPasswordLen)+" characters long (it has "+strconv.Itoa(n)+")")
	case len(password) > MaxPasswordLen:
		return activitylog.Invalid("password", "", "must be at most "+strconv.Itoa(MaxPasswordLen)+" bytes long")
	}
	return nil
}

// HashPassword returns the argon2id hash of password as a PHC string,
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<tag>
//
// with the salt (16 random bytes) and the tag (32 bytes) in base64
// without padding. p may be nil for DefaultArgon2.
func HashPassword(password string, p *Argon2Params) (string, error) {
	if err := CheckPassword(password); err != nil {
		return "", err
	}
	return hashPassword(password, p.withDefaults())
}

func hashPassword(password string, p Argon2Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	tag := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, tagLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(tag)), nil
}

// errBadHash says a stored hash cannot be read. It never holds the hash.
var errBadHash = errors.New("stored password hash is not an argon2id PHC string")

// VerifyPassword reports whether password hashes to encoded, a string
// HashPassword made. The tags are compared in constant time. An error
// means encoded is not such a string (or asks for more than 64 passes
// or 1 GiB of memory).
func VerifyPassword(encoded, password string) (bool, error) {
	p, salt, tag, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(tag)))
	return subtle.ConstantTimeCompare(got, tag) == 1, nil
}

// parseHash reads a PHC argon2id string.
func parseHash(encoded string) (p Argon2Params, salt, tag []byte, err error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, tag
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: version %s is not v=%d", errBadHash, clip(parts[2], 16), argon2.Version)
	}
	var m, t, par uint64
	seen := 0
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, perr := strconv.ParseUint(v, 10, 32)
		if !ok || perr != nil {
			return p, nil, nil, errBadHash
		}
		switch k {
		case "m":
			m, seen = n, seen|1
		case "t":
			t, seen = n, seen|2
		case "p":
			par, seen = n, seen|4
		default:
			return p, nil, nil, errBadHash
		}
	}
	if seen != 7 || t < 1 || t > maxArgonTime || par < 1 || par > 255 || m < 8*par || m > maxArgonMemory {
		return p, nil, nil, fmt.Errorf("%w: parameters %s out of bounds", errBadHash, clip(parts[3], 48))
	}
	salt, err1 := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	tag, err2 := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(salt) > 64 || len(tag) < 16 || len(tag) > 128 {
		return p, nil, nil, errBadHash
	}
	return Argon2Params{Time: uint32(t), Memory: uint32(m), Threads: uint8(par)}, salt, tag, nil
}

// clip shortens s for an error message, at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
