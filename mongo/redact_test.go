package mongo

import (
	"strings"
	"testing"
)

// Neither the password nor an option's value (which may be a
// credential, as AWS_SESSION_TOKEN) shows in what errors print.
func TestRedact(t *testing.T) {
	for _, uri := range []string{
		"mongodb://ann:s3cr3t@127.0.0.1:27017/audit",
		"mongodb://127.0.0.1:27017/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:s3cr3t",
	} {
		got := redact(uri)
		if strings.Contains(got, "s3cr3t") || !strings.Contains(got, "127.0.0.1:27017") {
			t.Errorf("redact(%q) = %q", uri, got)
		}
	}
}
