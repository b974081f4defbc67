package dbconfig

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/activitylog/activitylog"
)

// KeySize is the size of a key: AES-256.
const KeySize = 32

// SecretVersion is the prefix of every sealed password.
const SecretVersion = "v1"

// aadPrefix starts the additional data that binds a sealed password to
// its config's id.
const aadPrefix = "activitylog/dbconfig/v1\x00"

// Errors of Decrypt, beside malformed input (activitylog.ErrInvalid).
var (
	// ErrUnknownKey: the password was sealed with a key that is not in
	// the keyring (removed too early, or never configured here).
	ErrUnknownKey = errors.New("unknown key")
	// ErrDecrypt: the sealed password does not open with its key: it
	// was altered, or moved from another config, or the key with that
	// id is a different key.
	ErrDecrypt = errors.New("password does not decrypt")
)

// A Key is one AES-256 key of a Keyring, with the id that sealed
// passwords name it by.
type Key struct {
	ID     string // 1 to 32 letters, digits, _ or -
	Secret []byte // KeySize bytes
}

// String returns k as configured: "id:base64(secret)". It is the
// secret itself: never log it.
func (k Key) String() string { return k.ID + ":" + base64.StdEncoding.EncodeToString(k.Secret) }

// GenerateKey returns a new random key named id.
func GenerateKey(id string) (Key, error) {
	if !validKeyID(id) {
		return Key{}, activitylog.Invalid("id", clip(id), "is not a key id: 1 to 32 letters, digits, _ or -")
	}
	k := Key{ID: id, Secret: make([]byte, KeySize)}
	rand.Read(k.Secret) // never fails (crypto/rand)
	return k, nil
}

// ParseKeys parses keys as configured: "id:base64key,id2:base64key2",
// the current key first. Spaces around entries are ignored; the key is
// standard or URL base64, padded or not, of exactly 32 bytes. An error
// is a *activitylog.FieldError naming the entry ("keys[1]") and its id,
// never the key.
func ParseKeys(s string) ([]Key, error) {
	var keys []Key
	for i, entry := range strings.Split(s, ",") {
		field := "keys[" + strconv.Itoa(i) + "]"
		entry = strings.TrimSpace(entry)
		if entry == "" {
			if strings.TrimSpace(s) == "" {
				return nil, activitylog.Invalid("keys", "", "is required: at least one key, as id:base64key")
			}
			return nil, activitylog.Invalid(field, "", "is empty; write id:base64key, separated by commas")
		}
		id, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, activitylog.Invalid(field, "("+strconv.Itoa(len(entry))+" characters)", "is not id:base64key")
		}
		secret, err := decodeKey(strings.TrimSpace(b64))
		if err != nil {
			return nil, activitylog.Invalid(field, clip(strings.TrimSpace(id)), "its key is not base64 (standard or URL alphabet)")
		}
		keys = append(keys, Key{ID: strings.TrimSpace(id), Secret: secret})
	}
	if _, err := checkKeys(keys); err != nil {
		return nil, err
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var b []byte
		if b, err = enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, err
}

// checkKeys refuses an empty list, bad ids, duplicate ids and keys of
// the wrong size, naming the entry.
func checkKeys(keys []Key) (map[string]cipher.AEAD, error) {
	if len(keys) == 0 {
		return nil, activitylog.Invalid("keys", "", "is required: at least one key, as id:base64key")
	}
	out := make(map[string]cipher.AEAD, len(keys))
	for i, k := range keys {
		field := "keys[" + strconv.Itoa(i) + "]"
		if !validKeyID(k.ID) {
			return nil, activitylog.Invalid(field, clip(k.ID), "its id must be 1 to 32 letters, digits, _ or -")
		}
		if _, dup := out[k.ID]; dup {
			return nil, activitylog.Invalid(field, k.ID, "its id is used by an earlier key")
		}
		if len(k.Secret) != KeySize {
			return nil, activitylog.Invalid(field, k.ID, "its key is "+strconv.Itoa(len(k.Secret))+" bytes; AES-256 needs 32 (openssl rand -base64 32)")
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		out[k.ID] = gcm
	}
	return out, nil
}

func validKeyID(id string) bool { return len(id) <= 32 && validID(id) }

// Keyring seals and opens the passwords of configs with AES-256-GCM.
// The first key is current: Encrypt uses it; Decrypt uses whichever
// key a sealed password names, so that older keys keep working until
// Rotate has re-sealed everything and they are removed from the
// configuration. It is safe for concurrent use.
//
// A sealed password is self-describing:
//
//	v1:<key id>:<base64(12-byte nonce || ciphertext || 16-byte tag)>
//
// and its additional data is the config's id, so that a sealed
// password copied onto another config does not open.
type Keyring struct {
	current string
	ids     []string
	aeads   map[string]cipher.AEAD
}

// NewKeyring returns a keyring of keys, the current one first. An
// error is a *activitylog.FieldError naming the bad entry.
func NewKeyring(keys []Key) (*Keyring, error) {
	aeads, err := checkKeys(keys)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return &Keyring{current: keys[0].ID, ids: ids, aeads: aeads}, nil
}

// ParseKeyring is ParseKeys and NewKeyring.
func ParseKeyring(s string) (*Keyring, error) {
	keys, err := ParseKeys(s)
	if err != nil {
		return nil, err
	}
	return NewKeyring(keys)
}

// Current returns the id of the key Encrypt uses.
func (k *Keyring) Current() string { return k.current }

// KeyIDs returns the ids of the keys, the current one first.
func (k *Keyring) KeyIDs() []string { return append([]string(nil), k.ids...) }

func aad(configID string) []byte { return []byte(aadPrefix + configID) }

// Encrypt seals password for the config with id configID under the
// current key. An empty password seals to "" (no password).
func (k *Keyring) Encrypt(configID, password string) (string, error) {
	if password == "" {
		return "", nil
	}
	if configID == "" {
		return "", activitylog.Invalid("id", "", "is required to seal a password: it is bound to its config")
	}
	g := k.aeads[k.current]
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(password)+g.Overhead())
	rand.Read(nonce) // never fails (crypto/rand)
	sealed := g.Seal(nonce, nonce, []byte(password), aad(configID))
	return SecretVersion + ":" + k.current + ":" + base64.StdEncoding.EncodeToString(sealed), nil
}

// SecretKeyID returns the id of the key that sealed secret.
func SecretKeyID(secret string) (string, error) {
	id, _, err := splitSecret(secret)
	return id, err
}

func splitSecret(secret string) (keyID string, sealed []byte, err error) {
	v, rest, ok := strings.Cut(secret, ":")
	if !ok || v != SecretVersion {
		return "", nil, activitylog.Invalid("secret", redactedValue, "is not a sealed password (v1:key:data)")
	}
	keyID, data, ok := strings.Cut(rest, ":")
	if !ok || !validKeyID(keyID) {
		return "", nil, activitylog.Invalid("secret", redactedValue, "is not a sealed password (v1:key:data)")
	}
	sealed, err = base64.StdEncoding.DecodeString(data)
	if err != nil {
		return "", nil, activitylog.Invalid("secret", keyID, "its data is not base64")
	}
	return keyID, sealed, nil
}

// Decrypt opens secret, sealed for the config with id configID. An
// empty secret opens to "". A key id that is not in the keyring is an
// error wrapping ErrUnknownKey; a secret that does not open (altered,
// or sealed for another config) one wrapping ErrDecrypt.
func (k *Keyring) Decrypt(configID, secret string) (string, error) {
	if secret == "" {
		return "", nil
	}
	keyID, sealed, err := splitSecret(secret)
	if err != nil {
		return "", fmt.Errorf("decrypt password of %s: %w", configID, err)
	}
	g := k.aeads[keyID]
	if g == nil {
		return "", fmt.Errorf("decrypt password of %s: sealed with key %q, which is not in the keyring (%s): %w",
			configID, keyID, strings.Join(k.ids, ", "), ErrUnknownKey)
	}
	if len(sealed) < g.NonceSize()+g.Overhead() {
		return "", fmt.Errorf("decrypt password of %s: %w", configID, ErrDecrypt)
	}
	plain, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], aad(configID))
	if err != nil {
		return "", fmt.Errorf("decrypt password of %s with key %q: %w", configID, keyID, ErrDecrypt)
	}
	return string(plain), nil
}

// Reveal returns c with its Password opened from its Secret.
func (k *Keyring) Reveal(c Config) (Config, error) {
	p, err := k.Decrypt(c.ID, c.Secret)
	if err != nil {
		return c, err
	}
	c.Password = p
	return c, nil
}

// Conceal returns c with its Password sealed into Secret and cleared.
// A c without a Password keeps its Secret.
func (k *Keyring) Conceal(c Config) (Config, error) {
	if c.Password == "" {
		return c, nil
	}
	s, err := k.Encrypt(c.ID, c.Password)
	if err != nil {
		return c, err
	}
	c.Secret, c.Password = s, ""
	return c, nil
}

// RotateResult is what Rotate did.
type RotateResult struct {
	Rotated int // passwords re-sealed with the current key
	Current int // passwords sealed with it already
	Skipped int // configs changed or deleted while Rotate ran (a change seals with the current key)
	Failed  int // passwords that could not be re-sealed; see the error
}

// Rotate re-seals every stored password that is not sealed with the
// current key, through repo.SetSecret, which replaces a secret only if
// it is still the one read (a config changed meanwhile is sealed anew
// by that change). Once it reports no failure, the older keys can be
// removed from the configuration. It goes on past a failure (say, a
// key already removed) and returns every failure joined, each naming
// its config.
func (k *Keyring) Rotate(ctx context.Context, repo Repository) (RotateResult, error) {
	var res RotateResult
	cs, err := repo.List(ctx)
	if err != nil {
		return res, fmt.Errorf("rotate keys: %w", err)
	}
	var errs []error
	for _, c := range cs {
		if c.Secret == "" {
			continue
		}
		if id, err := SecretKeyID(c.Secret); err == nil && id == k.current {
			res.Current++
			continue
		}
		plain, err := k.Decrypt(c.ID, c.Secret)
		if err == nil {
			var next string
			if next, err = k.Encrypt(c.ID, plain); err == nil {
				err = repo.SetSecret(ctx, c.ID, c.Secret, next)
				if errors.Is(err, activitylog.ErrNotFound) {
					res.Skipped++
					continue
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return res, fmt.Errorf("rotate keys: %w", ctx.Err())
			}
			res.Failed++
			errs = append(errs, fmt.Errorf("config %s (%s): %w", c.Name, c.ID, err))
			continue
		}
		res.Rotated++
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("rotate keys: %w", errors.Join(errs...))
	}
	return res, nil
}
