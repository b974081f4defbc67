package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOpenAPIErrorCodesDocumented: every error code a handler of the API
// writes (this package, access and the packages whose routes a host
// mounts) is in the description of the Error schema's code.
func TestOpenAPIErrorCodesDocumented(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Error struct {
							Properties struct {
								Code struct {
									Description string `json:"description"`
								} `json:"code"`
							} `json:"properties"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"Error"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatal(err)
	}
	desc := doc.Components.Schemas.Error.Properties.Error.Properties.Code.Description
	documented := map[string]bool{}
	for _, w := range regexp.MustCompile(`[a-z_]+`).FindAllString(desc, -1) {
		documented[w] = true
	}
	used := regexp.MustCompile(`Code: *"([a-z_]+)"|&conflict\{"([a-z_]+)"|writeError\(w, [^,()]+, "([a-z_]+)"`)
	seen := map[string]bool{}
	for _, dir := range []string{".", "../access", "../dbconfig/dbconfighttp", "../retention/retentionhttp", "../integrity/integrityhttp"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range used.FindAllStringSubmatch(string(b), -1) {
				code := m[1] + m[2] + m[3]
				seen[code] = true
				if !documented[code] {
					t.Errorf("%s writes error code %q, which the Error schema does not list", f, code)
				}
			}
		}
	}
	for _, c := range []string{"invalid", "conflict", "busy", "undecryptable", "proof_failed"} {
		if !seen[c] {
			t.Errorf("code %q not found in the handlers: the pattern misses how they write it", c)
		}
	}
}
