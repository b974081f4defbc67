package integrity

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
)

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "signing.pem"), filepath.Join(dir, "signing.pub.pem")
	k, err := GenerateKeyFiles(priv, pub)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(priv); fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(priv)
	if !strings.HasPrefix(string(b), "-----BEGIN PRIVATE KEY-----\n") {
		t.Errorf("private key file:\n%s", b)
	}
	b, _ = os.ReadFile(pub)
	if !strings.HasPrefix(string(b), "-----BEGIN PUBLIC KEY-----\n") {
		t.Errorf("public key file:\n%s", b)
	}
	sk, err := LoadPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if !pk.Equal(k) || !sk.Public().(ed25519.PublicKey).Equal(k) {
		t.Error("the loaded keys are not the generated ones")
	}
	if _, err := GenerateKeyFiles(priv, filepath.Join(dir, "other.pem")); !errors.Is(err, os.ErrExist) {
		t.Errorf("GenerateKeyFiles over an existing key = %v, want ErrExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a failed GenerateKeyFiles left a file behind")
	}
	if _, err := GenerateKeyFiles(filepath.Join(dir, "p2.pem"), pub); !errors.Is(err, os.ErrExist) {
		t.Errorf("GenerateKeyFiles over an existing public key = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "p2.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a failed GenerateKeyFiles left its private key behind")
	}
	if _, err := LoadPublicKey(priv); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("LoadPublicKey of a private key = %v", err)
	}
	if _, err := LoadPrivateKey(pub); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("LoadPrivateKey of a public key = %v", err)
	}

	// openssl reads the files, and the key id is what the docs say:
	// SHA-256 of the raw 32-byte key, first 8 bytes in hex.
	if _, err := exec.LookPath("openssl"); err == nil {
		out, err := exec.Command("openssl", "pkey", "-in", priv, "-pubout").Output()
		if err != nil || string(out) != string(b) {
			t.Errorf("openssl pkey -pubout: %v\n%s\nwant\n%s", err, out, b)
		}
		der, err := exec.Command("openssl", "pkey", "-pubin", "-in", pub, "-outform", "DER").Output()
		if err != nil || len(der) != 44 {
			t.Fatalf("openssl DER: %v, %d bytes", err, len(der))
		}
		sum, _ := exec.Command("sh", "-c", fmt.Sprintf("openssl pkey -pubin -in %s -outform DER | tail -c 32 | sha256sum | cut -c1-16", pub)).Output()
		if got := strings.TrimSpace(string(sum)); got != KeyID(k) {
			t.Errorf("key id from the shell %q, KeyID %q", got, KeyID(k))
		}
	}
}

func TestKeyID(t *testing.T) {
	pub := goldenKey.Public().(ed25519.PublicKey)
	id := KeyID(pub)
	if len(id) != 16 {
		t.Errorf("KeyID = %q", id)
	}
	if _, err := hex.DecodeString(id); err != nil {
		t.Error(err)
	}
	if KeyID(otherPub) == id {
		t.Error("two keys share an id")
	}
}

func TestHMACKey(t *testing.T) {
	if _, err := NewHMACKey(make([]byte, 31)); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("NewHMACKey(31 bytes) = %v", err)
	}
	k := testHMAC
	// SHA-256("activitylog/hmac-key-id/v1" 0x00 || 32 bytes of 0x01), first 8 bytes.
	if got, want := k.ID(), "6a926c96f9feb2d1"; got != want {
		t.Errorf("ID = %s, want %s", got, want)
	}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k)} {
		if strings.Contains(s, "0101") {
			t.Errorf("the key prints its secret: %s", s)
		}
	}
	path := filepath.Join(t.TempDir(), "hmac.pem")
	if err := WriteHMACKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("hmac key mode %v", fi.Mode().Perm())
	}
	back, err := LoadHMACKey(path)
	if err != nil || back.ID() != k.ID() || string(back.secret) != string(k.secret) {
		t.Errorf("LoadHMACKey: %v, %v", back, err)
	}
	if err := WriteHMACKeyFile(path, k); !errors.Is(err, os.ErrExist) {
		t.Errorf("WriteHMACKeyFile over a file = %v", err)
	}
	g, err := GenerateHMACKey()
	if err != nil || len(g.secret) != HMACKeySize || g.ID() == k.ID() {
		t.Errorf("GenerateHMACKey: %v, %v", g, err)
	}
}
