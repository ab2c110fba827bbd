package atomicfile_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// renameOwners may call os.Rename themselves: this package, and the store's own blob commit (its
// fsync of the blob and the directory is its own, with the verification in between).
var renameOwners = map[string]bool{
	"internal/atomicfile/atomicfile.go": true,
	"store/blob.go":                     true,
	"store/store.go":                    true,
}

// TestOneWayToRename holds the rule of issue 12: every other rename goes through atomicfile.Rename
// (rename, then fsync of the directories), so no file write is durable in one place and not another.
func TestOneWayToRename(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if renameOwners[filepath.ToSlash(rel)] {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Rename" {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "os" {
					bad = append(bad, rel)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("not the repository root: %v", err)
	}
	if len(bad) > 0 {
		t.Errorf("os.Rename outside internal/atomicfile and the store's blob commit (use atomicfile.Rename): %v", bad)
	}
}
