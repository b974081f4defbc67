package httpaudit_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// httpaudit uses the standard library and the root package only, so
// that a service that adds the middleware pulls in nothing else.
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
			path := strings.Trim(imp.Path.Value, `"`)
			if path != "github.com/activitylog/activitylog" && strings.Contains(strings.Split(path, "/")[0], ".") {
				t.Errorf("%s imports %s: httpaudit may use the standard library and the root package only", f, path)
			}
		}
	}
}
