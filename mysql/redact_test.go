package mysql

import (
	"strings"
	"testing"
)

// redact hides a DSN's password wherever the DSN puts it: in the
// userinfo, in the URL form's password parameter, or (a password with an
// unescaped '/', '?' or '#') in what url.Parse took for the path, query
// or fragment.
func TestRedactHidesPasswords(t *testing.T) {
	for dsn, want := range map[string]string{
		"mysql://u:s3cr3t@127.0.0.1:3306/db":                 "mysql://u:xxxxx@127.0.0.1:3306/db",
		"mysql://u@127.0.0.1:1/db?password=s3cr3t&tls=bogus": "mysql://u@127.0.0.1:1/db?password=xxxxx&tls=bogus",
		"mysql://u:2024/s3cr3t@h/db":                         "mysql://REDACTED",
		"mariadb://u:1?s3cr3t@h/db":                          "mariadb://REDACTED",
		"mysql://u:1#s3cr3t@h/db":                            "mysql://REDACTED",
		"mysql://h/db#s3cr3t":                                "mysql://h/db",
		"u:s3cr3t@tcp(127.0.0.1:3306)/db":                    "u:xxxxx@tcp(127.0.0.1:3306)/db",
		"mysql://h:3306/db":                                  "mysql://h:3306/db",
	} {
		got := redact(dsn)
		if got != want {
			t.Errorf("redact(%q) = %q, want %q", dsn, got, want)
		}
		if strings.Contains(got, "s3cr3t") {
			t.Errorf("redact(%q) shows the password: %q", dsn, got)
		}
	}
}
