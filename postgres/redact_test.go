package postgres

import (
	"strings"
	"testing"
)

// A keyword DSN's password is hidden however it is written.
func TestRedactKeywordPassword(t *testing.T) {
	for _, dsn := range []string{
		"host=db password=hunter2 user=a",
		"host=db password = hunter2 user=a",
		"host=db PASSWORD=hunter2",
		"host=db password='hunter2 with spaces' user=a",
		`host=db password='it\'s hunter2' user=a`,
		"password=hunter2",
	} {
		got := redact(dsn)
		if strings.Contains(got, "hunter2") || !strings.Contains(got, "xxxxx") {
			t.Errorf("redact(%q) = %q", dsn, got)
		}
		if strings.HasPrefix(dsn, "host=db") && !strings.HasPrefix(got, "host=db") {
			t.Errorf("redact(%q) = %q lost the host", dsn, got)
		}
	}
}
