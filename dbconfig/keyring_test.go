package dbconfig_test

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/sqlite"
)

func newKey(t testing.TB, id string) dbconfig.Key {
	t.Helper()
	k, err := dbconfig.GenerateKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyring(t testing.TB, keys ...dbconfig.Key) *dbconfig.Keyring {
	t.Helper()
	var parts []string
	for _, k := range keys {
		parts = append(parts, k.String())
	}
	kr, err := dbconfig.ParseKeyring(strings.Join(parts, ", "))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestKeyringRoundTrip(t *testing.T) {
	kr := keyring(t, newKey(t, "k2"), newKey(t, "k1"))
	for _, pw := range []string{"x", "hunter2", strings.Repeat("é", 300), "with:colons:and,commas"} {
		s, err := kr.Encrypt("dbc_1", pw)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, "v1:k2:") {
			t.Fatalf("sealed %q, want it to start v1:k2:", s)
		}
		if len(pw) > 4 && strings.Contains(s, pw) {
			t.Fatal("the sealed form holds the password")
		}
		got, err := kr.Decrypt("dbc_1", s)
		if err != nil || got != pw {
			t.Fatalf("Decrypt = %q, %v; want %q", got, err, pw)
		}
		s2, _ := kr.Encrypt("dbc_1", pw)
		if s2 == s {
			t.Fatal("two seals of one password are equal: the nonce is not random")
		}
	}
	if s, err := kr.Encrypt("dbc_1", ""); s != "" || err != nil {
		t.Fatalf("Encrypt of no password = %q, %v; want \"\"", s, err)
	}
}

// A flipped byte anywhere in the ciphertext, or a seal moved to another
// config, does not decrypt.
func TestKeyringTamper(t *testing.T) {
	kr := keyring(t, newKey(t, "k1"))
	s, err := kr.Encrypt("dbc_1", "hunter2")
	if err != nil {
		t.Fatal(err)
	}
	prefix, data, _ := strings.Cut(strings.TrimPrefix(s, "v1:"), ":")
	raw, _ := base64.StdEncoding.DecodeString(data)
	for i := range raw {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		bad := "v1:" + prefix + ":" + base64.StdEncoding.EncodeToString(b)
		if _, err := kr.Decrypt("dbc_1", bad); !errors.Is(err, dbconfig.ErrDecrypt) {
			t.Fatalf("byte %d flipped: Decrypt = %v, want ErrDecrypt", i, err)
		}
	}
	if _, err := kr.Decrypt("dbc_2", s); !errors.Is(err, dbconfig.ErrDecrypt) {
		t.Fatalf("seal moved to another config: Decrypt = %v, want ErrDecrypt", err)
	}
	if _, err := kr.Decrypt("dbc_1", "v1:k1:AAAA"); !errors.Is(err, dbconfig.ErrDecrypt) {
		t.Fatalf("short seal: Decrypt = %v, want ErrDecrypt", err)
	}
	if _, err := kr.Decrypt("dbc_1", "v2:k1:AAAA"); !errors.Is(err, activitylog.ErrInvalid) {
		t.Fatalf("unknown version: Decrypt = %v, want ErrInvalid", err)
	}
	other := keyring(t, dbconfig.Key{ID: "k1", Secret: newKey(t, "x").Secret})
	if _, err := other.Decrypt("dbc_1", s); !errors.Is(err, dbconfig.ErrDecrypt) {
		t.Fatalf("another key with the same id: Decrypt = %v, want ErrDecrypt", err)
	}
}

func TestKeyringUnknownKey(t *testing.T) {
	old := keyring(t, newKey(t, "k1"))
	s, _ := old.Encrypt("dbc_1", "hunter2")
	kr := keyring(t, newKey(t, "k2"), newKey(t, "k3"))
	_, err := kr.Decrypt("dbc_1", s)
	if !errors.Is(err, dbconfig.ErrUnknownKey) || !strings.Contains(err.Error(), `"k1"`) || !strings.Contains(err.Error(), "k2, k3") {
		t.Fatalf("Decrypt = %v, want ErrUnknownKey naming k1 and the keys known", err)
	}
}

// A bad key configuration is refused, naming the entry and its id,
// never the key.
func TestParseKeysErrors(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(make([]byte, 32))
	short := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	cases := []struct {
		name, in, field, value, reason string
	}{
		{"empty", "", "keys", "", "is required"},
		{"no colon", "k1" + good, "keys[0]", "(46 characters)", "is not id:base64key"},
		{"short key", "k1:" + good + ",k2:" + short, "keys[1]", "k2", "16 bytes"},
		{"not base64", "k1:!!!notbase64!!!", "keys[0]", "k1", "not base64"},
		{"duplicate id", "k1:" + good + ",k1:" + good, "keys[1]", "k1", "used by an earlier key"},
		{"bad id", "k/1:" + good, "keys[0]", "k/1", "its id"},
		{"empty entry", "k1:" + good + ",,", "keys[1]", "", "is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dbconfig.ParseKeyring(tc.in)
			var fe *activitylog.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseKeyring = %v, want a *FieldError", err)
			}
			if fe.Field != tc.field || fe.Value != tc.value || !strings.Contains(fe.Reason, tc.reason) {
				t.Fatalf("got %q %q %q, want %q %q …%s…", fe.Field, fe.Value, fe.Reason, tc.field, tc.value, tc.reason)
			}
			if strings.Contains(err.Error(), good) || strings.Contains(err.Error(), short) {
				t.Fatalf("the error shows a key: %v", err)
			}
		})
	}
	// Unpadded and URL base64 are accepted.
	raw := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	if _, err := dbconfig.ParseKeyring(" k1 : " + raw + " "); err != nil {
		t.Fatalf("unpadded URL base64: %v", err)
	}
}

func openRepo(t testing.TB) (*sqlite.Store, *sqlite.DatabaseConfigs) {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "control.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, s.DatabaseConfigs()
}

// Rotate re-seals every password with the current key; the old key
// then is no longer needed.
func TestRotate(t *testing.T) {
	ctx := context.Background()
	_, repo := openRepo(t)
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	old := keyring(t, k1)
	passwords := map[string]string{}
	for i, name := range []string{"a", "b", "c"} {
		c := validConfig()
		c.ID, c.Name, c.Tenant = dbconfig.NewID(), name, name
		if i == 2 {
			c.Password = "" // no password: nothing to rotate
		}
		passwords[c.ID] = c.Password
		c, err := old.Conceal(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	both := keyring(t, k2, k1)
	res, err := both.Rotate(ctx, repo)
	if err != nil || res != (dbconfig.RotateResult{Rotated: 2}) {
		t.Fatalf("Rotate = %+v, %v; want 2 rotated", res, err)
	}
	res, err = both.Rotate(ctx, repo)
	if err != nil || res != (dbconfig.RotateResult{Current: 2}) {
		t.Fatalf("second Rotate = %+v, %v; want 2 current", res, err)
	}
	onlyNew := keyring(t, k2)
	cs, _ := repo.List(ctx)
	for _, c := range cs {
		if c.Secret != "" && !strings.HasPrefix(c.Secret, "v1:k2:") {
			t.Fatalf("config %s sealed %q after rotation", c.Name, c.Secret)
		}
		got, err := onlyNew.Decrypt(c.ID, c.Secret)
		if err != nil || got != passwords[c.ID] {
			t.Fatalf("config %s: Decrypt with the new key alone = %q, %v; want %q", c.Name, got, err, passwords[c.ID])
		}
	}
	// A keyring that lacks the key a password was sealed with reports
	// it, naming the config, and goes on.
	k3 := newKey(t, "k3")
	c := validConfig()
	c.ID, c.Name, c.Tenant = dbconfig.NewID(), "lost", "lost"
	c, _ = keyring(t, k3).Conceal(c)
	if err := repo.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	res, err = keyring(t, newKey(t, "k4"), k2).Rotate(ctx, repo)
	if !errors.Is(err, dbconfig.ErrUnknownKey) || !strings.Contains(err.Error(), "lost") || res.Rotated != 2 || res.Failed != 1 {
		t.Fatalf("Rotate = %+v, %v; want 2 rotated, 1 failed naming config lost", res, err)
	}
}
