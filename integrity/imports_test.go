package integrity

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// integrity depends on the root package, the standard library,
// internal/urlsecret (standard library only) and transparency-dev/merkle
// only: no store, no driver.
func TestImports(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if !strings.Contains(strings.Split(p, "/")[0], ".") || p == "github.com/activitylog/activitylog" || p == "github.com/activitylog/activitylog/internal/urlsecret" ||
				strings.HasPrefix(p, "github.com/transparency-dev/merkle") {
				continue
			}
			t.Errorf("%s imports %s", f, p)
		}
	}
}
