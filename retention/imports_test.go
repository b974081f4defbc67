package retention_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// Package retention uses the root package and the standard library
// only, so that sqlite (which implements its Repository) and any host
// can import it without pulling in a store or a server.
func TestImportsRootAndStandardLibraryOnly(t *testing.T) {
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
			path := strings.Trim(imp.Path.Value, `"`)
			if path != "github.com/activitylog/activitylog" && strings.Contains(strings.Split(path, "/")[0], ".") {
				t.Errorf("%s imports %s: package retention may use the root package and the standard library only", f, path)
			}
		}
	}
}
