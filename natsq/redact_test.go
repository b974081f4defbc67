package natsq

import (
	"strings"
	"testing"
)

// A NATS URL's user information (a token, user and password, an nkey)
// never shows in an error.
func TestRedactURL(t *testing.T) {
	for _, u := range []string{
		"nats://s3cr3t@127.0.0.1:4222",
		"nats://ann:s3cr3t@127.0.0.1:4222",
		"nats://127.0.0.1:4222,nats://s3cr3t@127.0.0.2:4222",
		"s3cr3t@127.0.0.1:4222",
	} {
		if got := redactURL(u); strings.Contains(got, "s3cr3t") || !strings.Contains(got, "127.0.0.1:4222") {
			t.Errorf("redactURL(%q) = %q", u, got)
		}
	}
	if got := redactURL("nats://127.0.0.1:4222"); got != "nats://127.0.0.1:4222" {
		t.Errorf("a URL without credentials changed: %q", got)
	}
}
