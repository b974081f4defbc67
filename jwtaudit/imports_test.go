package jwtaudit_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// jwtaudit uses the standard library, the root package and
// golang-jwt only.
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"github.com/activitylog/activitylog": true,
		"github.com/golang-jwt/jwt/v5":       true,
	}
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
			if !allowed[path] && strings.Contains(strings.Split(path, "/")[0], ".") {
				t.Errorf("%s imports %s: jwtaudit may use the standard library, the root package and golang-jwt only", f, path)
			}
		}
	}
}
