package grpcaudit_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// grpcaudit uses the standard library, the root package and gRPC only,
// so that a service that adds the interceptors pulls in nothing else.
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
			switch {
			case path == "github.com/activitylog/activitylog",
				path == "google.golang.org/grpc" || strings.HasPrefix(path, "google.golang.org/grpc/"),
				!strings.Contains(strings.Split(path, "/")[0], "."):
			default:
				t.Errorf("%s imports %s: grpcaudit may use the standard library, the root package and gRPC only", f, path)
			}
		}
	}
}
