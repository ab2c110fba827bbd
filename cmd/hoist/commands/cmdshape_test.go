package commands

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// maxFuncLines is the longest a function in this package may be (issue 12:
// commands wire flags to library calls; rules live in the packages that own
// them). Lines that only declare flags do not count.
const maxFuncLines = 40

// flagDeclMethods are the pflag/cobra calls whose statements are flag
// declarations: a command with many flags is long for no fault of its own.
var flagDeclMethods = map[string]bool{
	"MarkHidden": true, "MarkDeprecated": true, "MarkShorthandDeprecated": true,
	"SetInterspersed": true, "SetNormalizeFunc": true, "MarkFlagRequired": true,
	"RegisterFlagCompletionFunc": true, "MarkFlagsMutuallyExclusive": true,
	"MarkFlagFilename": true, "MarkFlagDirname": true, "Lookup": true,
	"AddFlagSet": true, "AddFlag": true, "Flags": true, "PersistentFlags": true,
	"LocalFlags": true, "SortFlags": true,
}

// isFlagDeclCall reports whether call is a pflag declaration (fs.StringVarP,
// c.Flags().BoolVar, fs.Var, ...) or one of flagDeclMethods.
func isFlagDeclCall(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	name := sel.Sel.Name
	if flagDeclMethods[name] {
		return true
	}
	if name == "Var" || name == "VarP" {
		return true
	}
	for _, suffix := range []string{"Var", "VarP", "P"} {
		base := strings.TrimSuffix(name, suffix)
		if base != name && isFlagType(base) {
			return true
		}
	}
	return isFlagType(name)
}

// isFlagType reports whether name is a pflag value kind (String, BoolSlice,
// StringToString, Duration, ...), the stem of pflag's declaration methods.
func isFlagType(name string) bool {
	for _, kind := range []string{"String", "Bool", "Int", "Int8", "Int16", "Int32", "Int64",
		"Uint", "Uint8", "Uint16", "Uint32", "Uint64", "Float32", "Float64", "Duration",
		"Count", "IP", "IPMask", "IPNet", "BytesHex", "BytesBase64"} {
		for _, s := range []string{"", "Slice", "Array", "ToString", "ToInt", "ToInt64"} {
			if name == kind+s {
				return true
			}
		}
	}
	return false
}

// flagLines returns the source lines covered by statements of body that are
// nothing but a flag declaration (possibly chained, as in
// c.Flags().StringVarP(...) or _ = fs.MarkHidden("x")).
func flagLines(fset *token.FileSet, body *ast.BlockStmt) map[int]bool {
	lines := map[int]bool{}
	ast.Inspect(body, func(n ast.Node) bool {
		var call ast.Expr
		switch s := n.(type) {
		case *ast.ExprStmt:
			call = s.X
		case *ast.AssignStmt:
			if len(s.Rhs) == 1 && len(s.Lhs) == 1 {
				if id, ok := s.Lhs[0].(*ast.Ident); ok && id.Name == "_" {
					call = s.Rhs[0]
				}
			}
		default:
			return true
		}
		c, ok := call.(*ast.CallExpr)
		if !ok || !isFlagDeclCall(c) {
			return true
		}
		for l := fset.Position(n.Pos()).Line; l <= fset.Position(n.End()).Line; l++ {
			lines[l] = true
		}
		return false
	})
	return lines
}

// funcLengths measures every function and method of the package's non-test
// files: lines from the opening to the closing line, less flag declarations.
func funcLengths(t *testing.T) map[string]int {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			start := fset.Position(fd.Pos()).Line
			end := fset.Position(fd.End()).Line
			n := end - start + 1 - len(flagLines(fset, fd.Body))
			out[fmt.Sprintf("%s:%d %s", name, start, funcName(fd))] = n
		}
	}
	return out
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	var recv string
	switch t := fd.Recv.List[0].Type.(type) {
	case *ast.StarExpr:
		if id, ok := t.X.(*ast.Ident); ok {
			recv = "*" + id.Name
		}
	case *ast.Ident:
		recv = t.Name
	}
	return "(" + recv + ")." + fd.Name.Name
}

// notYetShort are the functions still over the limit, with their length: the list may only shrink.
// A function listed here that has become short, or grown, fails the test, so the list stays exact.
var notYetShort = map[string]int{}

// TestCommandFunctionsAreShort enforces issue 12's rule for cmd/: no function
// longer than maxFuncLines lines, flag declarations not counted. A long
// function here is a rule that belongs in a library package, or a RunE body
// to split into named steps.
func TestCommandFunctionsAreShort(t *testing.T) {
	var long []string
	seen := map[string]bool{}
	for name, n := range funcLengths(t) {
		fn := name[strings.Index(name, " ")+1:]
		if max, ok := notYetShort[fn]; ok {
			seen[fn] = true
			switch {
			case n <= maxFuncLines:
				t.Errorf("%s is %d lines now: remove it from notYetShort", name, n)
			case n > max:
				t.Errorf("%s grew to %d lines (listed at %d): it may only shrink", name, n, max)
			}
			continue
		}
		if n > maxFuncLines {
			long = append(long, fmt.Sprintf("%4d %s", n, name))
		}
	}
	for fn := range notYetShort {
		if !seen[fn] {
			t.Errorf("%s is listed in notYetShort but no longer exists: remove it", fn)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(long)))
	if len(long) > 0 {
		t.Errorf("functions over %d lines (flag declarations not counted):\n%s",
			maxFuncLines, strings.Join(long, "\n"))
	}
}

// TestFlagLinesAreRecognised checks the measure itself on a small source.
func TestFlagLinesAreRecognised(t *testing.T) {
	src := `package p
func f() {
	fs := c.Flags()
	fs.StringVarP(&o.a, "a", "a", "",
		"usage")
	c.Flags().BoolVar(&o.b, "b", false, "usage")
	_ = fs.MarkHidden("b")
	fs.Var(&v, "v", "usage")
	fs.StringSlice("s", nil, "usage")
	doWork()
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	body := f.Decls[0].(*ast.FuncDecl).Body
	got := flagLines(fset, body)
	want := []int{4, 5, 6, 7, 8, 9}
	if len(got) != len(want) {
		t.Fatalf("flag lines = %v, want %v", got, want)
	}
	for _, l := range want {
		if !got[l] {
			t.Errorf("line %d not counted as a flag declaration (got %v)", l, got)
		}
	}
}
