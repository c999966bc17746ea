package accelerator_test

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestRootPackageServesNothing: the root package holds what users call; serving
// (package admin) and exporting (package metrics, the exporter modules) live
// elsewhere, so a service that only caches does not link an HTTP server or JSON
// views through it.
func TestRootPackageServesNothing(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		files++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "net/http" || path == "encoding/json" || strings.HasSuffix(path, "/admin") || strings.HasSuffix(path, "/metrics") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
	if files < 10 {
		t.Fatalf("only %d files read", files)
	}
}
