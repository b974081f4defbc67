package access_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
)

func TestPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	h, err := access.HashPassword("correct horse battery", nil) // the defaults, once
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Errorf("hash %q is not a PHC argon2id string with the default parameters", h)
	}
	for _, tc := range []struct {
		password string
		want     bool
	}{
		{"correct horse battery", true},
		{"correct horse batterY", false},
		{"correct horse battery ", false},
		{"", false},
	} {
		got, err := access.VerifyPassword(h, tc.password)
		if err != nil || got != tc.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", tc.password, got, err, tc.want)
		}
	}
	// The same password hashes differently each time (a new salt).
	h2, err := access.HashPassword("correct horse battery", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if h2 == h || !strings.HasPrefix(h2, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("second hash %q", h2)
	}
	if ok, err := access.VerifyPassword(h2, "correct horse battery"); !ok || err != nil {
		t.Errorf("a hash made with other parameters does not verify: %v, %v", ok, err)
	}
}

func TestPasswordRefused(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"", "short", "seven77", strings.Repeat("x", access.MaxPasswordLen+1)} {
		_, err := access.HashPassword(pw, cheap)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != "password" {
			t.Errorf("HashPassword(%d bytes) = %v, want a FieldError for password", len(pw), err)
			continue
		}
		if pw != "" && strings.Contains(err.Error(), pw) {
			t.Errorf("the error %q holds the password", err)
		}
	}
	good, _ := access.HashPassword("correct horse", cheap)
	salt := strings.Split(good, "$")[4]
	tag := strings.Split(good, "$")[5]
	for _, bad := range []string{
		"",
		"plaintext",
		"$2a$10$abcdefghijklmnopqrstuv", // bcrypt
		strings.Replace(good, "argon2id", "argon2i", 1),
		strings.Replace(good, "v=19", "v=16", 1),
		"$argon2id$v=19$m=64,t=1$" + salt + "$" + tag,               // no p
		"$argon2id$v=19$m=64,t=1,p=1,x=2$" + salt + "$" + tag,       // unknown parameter
		"$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + tag,      // 4 GiB
		"$argon2id$v=19$m=64,t=1000,p=1$" + salt + "$" + tag,        // 1000 passes
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + tag,           // no lane
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + tag + "=",     // padding
		"$argon2id$v=19$m=64,t=1,p=1$" + "c2FsdA" + "$" + tag,       // 4-byte salt
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + tag + "$more", // extra part
	} {
		if ok, err := access.VerifyPassword(bad, "correct horse"); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}
