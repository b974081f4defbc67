package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// integrityFiles writes a signing key pair, an HMAC key and files that
// are not keys into a new directory.
func integrityFiles(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	if _, err := integrity.GenerateKeyFiles(filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")); err != nil {
		t.Fatal(err)
	}
	hk, err := integrity.GenerateHMACKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := integrity.WriteHMACKeyFile(filepath.Join(dir, "h.key"), hk); err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	os.WriteFile(filepath.Join(dir, "ec.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "short.hmac"), pem.EncodeToMemory(&pem.Block{Type: "ACTIVITYLOG HMAC KEY", Bytes: make([]byte, 16)}), 0o600)
	os.WriteFile(filepath.Join(dir, "text"), []byte("hello\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "token"), []byte("s3cr3t-from-file\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "badtoken"), []byte("s3cr3t x\n"), 0o600)
	return dir
}

func TestIntegritySettings(t *testing.T) {
	dir := integrityFiles(t)
	key := filepath.Join(dir, "k.key")

	c, err := load(t, "serve", nil, nil)
	if err != nil || c.Sealing() || c.IntegrityCheckpointInterval != 10*time.Second {
		t.Fatalf("defaults: sealing %v, interval %v, %v", c.Sealing(), c.IntegrityCheckpointInterval, err)
	}
	c, err = load(t, "serve", []string{"--integrity-signing-key", key, "--integrity-hmac-key", filepath.Join(dir, "h.key"),
		"--integrity-witness", "https://witness.example/w", "--integrity-checkpoint-interval", "0", "--integrity-chain", "web-1"},
		map[string]string{"ACTIVITYLOG_INTEGRITY_WITNESS_TOKEN": "tok-123"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Sealing() || !c.WitnessIsURL() || c.IntegrityWitnessToken != "tok-123" || c.IntegrityCheckpointInterval != 0 || c.IntegrityChain != "web-1" {
		t.Errorf("loaded %+v", c)
	}
	// Chains without checkpoints: the switch alone.
	if c, err = load(t, "serve", []string{"--integrity", "--integrity-chain", "x"}, nil); err != nil || !c.Sealing() {
		t.Errorf("--integrity: sealing %v, %v", c.Sealing(), err)
	}
	// A witness file that does not exist yet, in a directory that does.
	if _, err = load(t, "serve", []string{"--integrity-signing-key", key, "--integrity-witness", filepath.Join(dir, "new.jsonl")}, nil); err != nil {
		t.Errorf("new witness file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.jsonl")); err == nil {
		t.Error("loading the configuration created the witness file")
	}
}

func TestIntegrityBadSettings(t *testing.T) {
	dir := integrityFiles(t)
	key := filepath.Join(dir, "k.key")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"missing key file", []string{"--integrity-signing-key", filepath.Join(dir, "none.key")},
			nil, `config: integrity_signing_key "` + filepath.Join(dir, "none.key") + `": cannot read: no such file or directory (set by --integrity-signing-key)`},
		{"key is a directory", []string{"--integrity-signing-key", dir}, nil, `integrity_signing_key "` + dir + `": cannot read: is a directory`},
		{"public key given", []string{"--integrity-signing-key", filepath.Join(dir, "k.pub")}, nil, `integrity_signing_key "` + filepath.Join(dir, "k.pub") + `": is a public key`},
		{"not PEM", []string{"--integrity-signing-key", filepath.Join(dir, "text")}, nil, "integrity_signing_key \"" + filepath.Join(dir, "text") + "\": is not a PEM file"},
		{"wrong key type", nil, map[string]string{"ACTIVITYLOG_INTEGRITY_SIGNING_KEY": filepath.Join(dir, "ec.key")},
			`integrity_signing_key "` + filepath.Join(dir, "ec.key") + `": holds a *ecdsa.PrivateKey, not an Ed25519 private key (set by ACTIVITYLOG_INTEGRITY_SIGNING_KEY)`},
		{"hmac key is a signing key", []string{"--integrity", "--integrity-hmac-key", key}, nil, `integrity_hmac_key "` + key + `": is not a PEM block of type ACTIVITYLOG HMAC KEY`},
		{"hmac key too short", []string{"--integrity", "--integrity-hmac-key", filepath.Join(dir, "short.hmac")}, nil, `holds 16 bytes: an HMAC key must be at least 32 bytes`},
		{"hmac key missing", []string{"--integrity", "--integrity-hmac-key", filepath.Join(dir, "no.hmac")}, nil, `integrity_hmac_key "` + filepath.Join(dir, "no.hmac") + `": cannot read`},
		{"hmac key without sealing", []string{"--integrity-hmac-key", filepath.Join(dir, "h.key")}, nil, `integrity_hmac_key "` + filepath.Join(dir, "h.key") + `": needs sealing on: set integrity_signing_key, or integrity to true`},
		{"chain without sealing", []string{"--integrity-chain", "a"}, nil, `integrity_chain "a": needs sealing on`},
		{"bad chain", []string{"--integrity", "--integrity-chain", "a b"}, nil, `integrity_chain "a b": may hold only ASCII letters, digits`},
		{"witness without key", []string{"--integrity", "--integrity-witness", filepath.Join(dir, "w")}, nil, `integrity_witness "` + filepath.Join(dir, "w") + `": needs integrity_signing_key`},
		{"witness scheme", []string{"--integrity-signing-key", key, "--integrity-witness", "ftp://example.com/w"}, nil, `integrity_witness "ftp://example.com/w": must be an http:// or https:// URL (set by --integrity-witness)`},
		{"witness with a password", []string{"--integrity-signing-key", key, "--integrity-witness", "https://ann:s3cr3t@w.example/w"}, nil,
			`integrity_witness "https://ann:xxxxx@w.example/w": must not hold a user or password`},
		{"witness with a query credential", []string{"--integrity-signing-key", key, "--integrity-witness", "ftp://w.example/w?token=s3cr3t"}, nil,
			`integrity_witness "ftp://w.example/w?REDACTED": must be an http:// or https:// URL`},
		{"witness no host", []string{"--integrity-signing-key", key, "--integrity-witness", "https:///w"}, nil, `integrity_witness "https:///w": has no host`},
		{"witness dir missing", []string{"--integrity-signing-key", key, "--integrity-witness", filepath.Join(dir, "no", "w")}, nil, `integrity_witness "` + filepath.Join(dir, "no", "w") + `": cannot be created: directory`},
		{"witness is a dir", []string{"--integrity-signing-key", key, "--integrity-witness", dir}, nil, `integrity_witness "` + dir + `": is not a regular file`},
		{"token without URL", []string{"--integrity-signing-key", key, "--integrity-witness", filepath.Join(dir, "w"), "--integrity-witness-token", "s3cr3t"}, nil,
			`integrity_witness_token "[REDACTED]": needs integrity_witness to be an http:// or https:// URL`},
		{"token over http", []string{"--integrity-signing-key", key, "--integrity-witness", "http://witness.example/w"}, map[string]string{"ACTIVITYLOG_INTEGRITY_WITNESS_TOKEN": "s3cr3t"},
			`integrity_witness_token "[REDACTED]": would cross the network in the clear to witness.example`},
		{"token with a space", []string{"--integrity-signing-key", key, "--integrity-witness", "https://w.example/", "--integrity-witness-token", "s3cr3t x"}, nil,
			`integrity_witness_token "[REDACTED]": may hold only printable ASCII`},
		{"token file and token", []string{"--integrity-signing-key", key, "--integrity-witness", "https://w.example/",
			"--integrity-witness-token", "s3cr3t", "--integrity-witness-token-file", filepath.Join(dir, "token")}, nil,
			`integrity_witness_token_file "` + filepath.Join(dir, "token") + `": give integrity_witness_token or integrity_witness_token_file, not both`},
		{"token file without URL", []string{"--integrity-signing-key", key, "--integrity-witness", filepath.Join(dir, "w"), "--integrity-witness-token-file", filepath.Join(dir, "token")}, nil,
			`integrity_witness_token_file "` + filepath.Join(dir, "token") + `": needs integrity_witness to be an http:// or https:// URL`},
		{"token file missing", []string{"--integrity-signing-key", key, "--integrity-witness", "https://w.example/", "--integrity-witness-token-file", filepath.Join(dir, "none")}, nil,
			`integrity_witness_token_file "` + filepath.Join(dir, "none") + `": cannot read: no such file or directory`},
		{"token file empty", []string{"--integrity-signing-key", key, "--integrity-witness", "https://w.example/", "--integrity-witness-token-file", filepath.Join(dir, "empty")}, nil,
			`integrity_witness_token_file "` + filepath.Join(dir, "empty") + `": is empty`},
		{"token file bad token", []string{"--integrity-signing-key", key, "--integrity-witness", "https://w.example/", "--integrity-witness-token-file", filepath.Join(dir, "badtoken")}, nil,
			`integrity_witness_token_file "` + filepath.Join(dir, "badtoken") + `": its token: may hold only printable ASCII`},
		{"negative interval", []string{"--integrity-checkpoint-interval", "-1s"}, nil, `integrity_checkpoint_interval "-1s": must not be negative (set by --integrity-checkpoint-interval)`},
		{"tiny interval", []string{"--integrity-checkpoint-interval", "1ms"}, nil, `integrity_checkpoint_interval "1ms": must be between 100ms and 24h0m0s`},
		{"interval not a duration", []string{"--integrity-checkpoint-interval", "often"}, nil, `integrity_checkpoint_interval "often": is not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, "serve", tc.args, tc.env)
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
			if !errors.Is(err, activitylog.ErrInvalid) || !IsConfigError(err) {
				t.Errorf("error %v: want a config error wrapping ErrInvalid", err)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

// The token is a secret: no value of it is shown, whatever the error.
func TestSecretMasked(t *testing.T) {
	s := Lookup("integrity_witness_token")
	if s == nil || !s.Secret {
		t.Fatal("integrity_witness_token is not a Secret setting")
	}
	c := Default()
	c.IntegrityWitnessToken = "s3cr3t"
	if v := s.Value(&c); v != activitylog.DefaultMask {
		t.Errorf("Value = %q", v)
	}
	c.IntegrityWitnessToken = ""
	if v := s.Value(&c); v != "" {
		t.Errorf("Value of an empty token = %q", v)
	}
	secrets := map[string]bool{"integrity_witness_token": true, "database_config_keys": true}
	for _, s := range Settings {
		if s.Secret != secrets[s.Key] {
			t.Errorf("%s: Secret %v", s.Key, s.Secret)
		}
	}
}

// The token file's token is what WitnessToken returns, without its
// trailing newline; without a file it is integrity_witness_token.
func TestWitnessTokenFile(t *testing.T) {
	dir := integrityFiles(t)
	key := filepath.Join(dir, "k.key")
	c, err := load(t, "serve", []string{"--integrity-signing-key", key, "--integrity-witness", "https://w.example/",
		"--integrity-witness-token-file", filepath.Join(dir, "token")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := c.WitnessToken(); err != nil || tok != "s3cr3t-from-file" {
		t.Fatalf("WitnessToken() = %q, %v", tok, err)
	}
	c, err = load(t, "serve", []string{"--integrity-signing-key", key, "--integrity-witness", "https://w.example/",
		"--integrity-witness-token", "direct"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := c.WitnessToken(); err != nil || tok != "direct" {
		t.Fatalf("WitnessToken() = %q, %v", tok, err)
	}
}
