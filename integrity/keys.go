package integrity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/activitylog/activitylog"
)

// KeyID returns the id of a checkpoint signing key: the first 8 bytes,
// as 16 lowercase hex digits, of SHA-256 over the raw 32-byte Ed25519
// public key (not over its PEM or DER form).
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// GenerateKey returns a new Ed25519 key pair for signing checkpoints.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	return pub, priv, nil
}

// GenerateKeyFiles makes a new key pair and writes the private key to
// privPath (PEM "PRIVATE KEY", PKCS #8, mode 0600) and the public key
// to pubPath (PEM "PUBLIC KEY", PKIX, mode 0644). It refuses to replace
// files that exist, so that a key in use is never lost, and leaves no
// file behind when it fails. It returns the public key; KeyID gives its
// id.
func GenerateKeyFiles(privPath, pubPath string) (ed25519.PublicKey, error) {
	pub, priv, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	privPEM, err := MarshalPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pubPEM, err := MarshalPublicKey(pub)
	if err != nil {
		return nil, err
	}
	if err := writeNewFile(privPath, privPEM, 0o600); err != nil {
		return nil, fmt.Errorf("write private key: %w", err)
	}
	if err := writeNewFile(pubPath, pubPEM, 0o644); err != nil {
		os.Remove(privPath)
		return nil, fmt.Errorf("write public key: %w", err)
	}
	return pub, nil
}

// MarshalPrivateKey returns priv as a PEM block "PRIVATE KEY" in PKCS #8
// form, which openssl and other tools read.
func MarshalPrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey returns pub as a PEM block "PUBLIC KEY" in PKIX
// (SubjectPublicKeyInfo) form.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey parses the form MarshalPrivateKey writes. Its errors
// wrap activitylog.ErrInvalid.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, activitylog.Invalid("private key", "", "is not a PEM block of type PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, activitylog.Invalid("private key", "", err.Error())
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, activitylog.Invalid("private key", fmt.Sprintf("%T", k), "is not an Ed25519 key")
	}
	return priv, nil
}

// ParsePublicKey parses the form MarshalPublicKey writes. Its errors
// wrap activitylog.ErrInvalid.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, activitylog.Invalid("public key", "", "is not a PEM block of type PUBLIC KEY")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, activitylog.Invalid("public key", "", err.Error())
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, activitylog.Invalid("public key", fmt.Sprintf("%T", k), "is not an Ed25519 key")
	}
	return pub, nil
}

// LoadPrivateKey reads a private key file that GenerateKeyFiles wrote.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load private key: %w", err)
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("load private key %s: %w", path, err)
	}
	return k, nil
}

// LoadPublicKey reads a public key file that GenerateKeyFiles wrote.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load public key: %w", err)
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("load public key %s: %w", path, err)
	}
	return k, nil
}

// writeNewFile creates path with mode perm (O_EXCL: never replacing a
// file), writes data and syncs it. On failure it removes what it made.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	return nil
}
