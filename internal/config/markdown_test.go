package config

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md's table from Settings")

const (
	docPath  = "../../docs/configuration.md"
	docBegin = "<!-- settings:begin (made by internal/config.Markdown; go test ./internal/config -update) -->\n"
	docEnd   = "<!-- settings:end -->"
)

// TestConfigurationDoc holds docs/configuration.md to Settings: every
// flag, environment variable, key and default there is the loader's.
func TestConfigurationDoc(t *testing.T) {
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers %q … %q", docPath, docBegin, docEnd)
	}
	want := Markdown()
	if got := doc[i+len(docBegin) : j]; got != want {
		if *update {
			if err := os.WriteFile(docPath, []byte(doc[:i+len(docBegin)]+want+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s's settings table is stale; run go test ./internal/config -run TestConfigurationDoc -update\nwant:\n%s", docPath, want)
	}
}
