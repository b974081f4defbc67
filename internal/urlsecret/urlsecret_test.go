package urlsecret

import (
	"net/url"
	"strings"
	"testing"
)

func TestStrayAt(t *testing.T) {
	for raw, want := range map[string]bool{
		"postgres://app:2024/s3cr3t@127.0.0.1/prod": true,  // path
		"mysql://u:1?s3cr3t@h/db":                   true,  // query
		"clickhouse://u:1#s3cr3t@h/db":              true,  // fragment
		"postgres://u:p@s3cr3t/x@h/db":              true,  // the rest of a password with an '@'
		"postgres://u:s3cr3t@h:5432/db":             false, // userinfo only
		"https://idp.example/jwks":                  false,
		"https://idp.example/a%40b":                 false, // written escaped
		"https://idp.example/w#a%40b":               false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got := StrayAt(u); got != want {
			t.Errorf("StrayAt(%s) = %v, want %v", raw, got, want)
		}
	}
}

func TestParseReasonHidesTheURL(t *testing.T) {
	for _, raw := range []string{"postgres://u:s3cr3t/x@h/db", "postgres://u:s3cr3t%zz@h/db", "http://[::1/s3cr3t"} {
		_, err := url.Parse(raw)
		if err == nil {
			t.Fatalf("%s parsed", raw)
		}
		if r := ParseReason(err); r == "" || strings.Contains(r, "cr3t") {
			t.Errorf("ParseReason(%s) = %q", raw, r)
		}
	}
}
