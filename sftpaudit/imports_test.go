package sftpaudit_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// sftpaudit uses the standard library, the root package, the sftp
// package and golang.org/x/crypto/ssh only.
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
				path == "github.com/pkg/sftp",
				path == "golang.org/x/crypto/ssh" || strings.HasPrefix(path, "golang.org/x/crypto/ssh/"),
				!strings.Contains(strings.Split(path, "/")[0], "."):
			default:
				t.Errorf("%s imports %s: sftpaudit may use the standard library, the root package, sftp and x/crypto/ssh only", f, path)
			}
		}
	}
}
