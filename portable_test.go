package namespace

import (
	"bytes"
	"errors"
	"go/ast"
	"go/build"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestErrUnsupportedIsTheStandardOne(t *testing.T) {
	if !errors.Is(ErrUnsupported, errors.ErrUnsupported) {
		t.Error("errors.Is(ErrUnsupported, errors.ErrUnsupported) is false")
	}
	if ErrUnsupported.Error() != "not supported" {
		t.Errorf("ErrUnsupported says %q, not %q", ErrUnsupported, "not supported")
	}
	err := &SetupError{Step: "create namespaces time", Err: errors.New("invalid argument"), kind: ErrUnsupported}
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("a SetupError of kind ErrUnsupported is not both ErrUnsupported and errors.ErrUnsupported: %v", err)
	}
	// Not the other way round: the standard library's errors are not this
	// package's.
	//lint:ignore SA1032 the reverse order is the point here
	if errors.Is(errors.ErrUnsupported, ErrUnsupported) {
		t.Error("errors.ErrUnsupported counts as this package's ErrUnsupported")
	}
}

// apiTargets are the systems whose exported API must be Linux's: other
// systems build *_other.go files in place of the Linux ones.
var apiTargets = [][2]string{{"linux", "386"}, {"darwin", "arm64"}, {"windows", "amd64"}}

// TestSameAPIEverywhere: every public package of the module exports the same
// names, with the same signatures, types and exported struct fields, on
// the other systems as on linux/amd64 (constant values are not compared;
// syscalls checks its own).
func TestSameAPIEverywhere(t *testing.T) {
	var dirs []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// internal packages are Linux test and benchmark helpers, empty
		// on other systems.
		if d.IsDir() && path != "." && (d.Name() == "testdata" || d.Name() == "internal" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		want := exportedAPI(t, dir, "linux", "amd64")
		if want == nil {
			continue
		}
		for _, target := range apiTargets {
			got := exportedAPI(t, dir, target[0], target[1])
			for _, d := range want {
				if !slices.Contains(got, d) {
					t.Errorf("%s on %s/%s lacks %s", dir, target[0], target[1], d)
				}
			}
			for _, d := range got {
				if !slices.Contains(want, d) {
					t.Errorf("%s on %s/%s has %s, which linux/amd64 has not", dir, target[0], target[1], d)
				}
			}
		}
	}
}

// exportedAPI returns one line for each exported declaration of the
// non-test files of the package in dir, as built for goos/goarch, or nil
// for a main package or a directory without Go files.
func exportedAPI(t *testing.T, dir, goos, goarch string) []string {
	t.Helper()
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled = goos, goarch, false
	pkg, err := ctx.ImportDir(dir, 0)
	var noGo *build.NoGoError
	if errors.As(err, &noGo) || (err == nil && pkg.Name == "main") {
		return nil
	}
	if err != nil {
		t.Fatalf("%s for %s/%s: %v", dir, goos, goarch, err)
	}
	fset := token.NewFileSet()
	str := func(n ast.Node) string {
		var b bytes.Buffer
		if err := printer.Fprint(&b, fset, n); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	var api []string
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				recv := ""
				if d.Recv != nil {
					typ := d.Recv.List[0].Type
					star := ""
					if s, ok := typ.(*ast.StarExpr); ok {
						typ, star = s.X, "*"
					}
					switch x := typ.(type) {
					case *ast.IndexExpr:
						typ = x.X
					case *ast.IndexListExpr:
						typ = x.X
					}
					if !typ.(*ast.Ident).IsExported() {
						continue
					}
					recv = "(" + star + typ.(*ast.Ident).Name + ") "
				}
				api = append(api, "func "+recv+d.Name.Name+strings.TrimPrefix(str(d.Type), "func"))
			case *ast.GenDecl:
				var constType string // the type an iota run repeats
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						typ := s.Type
						if st, ok := typ.(*ast.StructType); ok {
							exported := &ast.StructType{Fields: &ast.FieldList{}}
							for _, f := range st.Fields.List {
								if len(f.Names) > 0 && f.Names[0].IsExported() {
									exported.Fields.List = append(exported.Fields.List, &ast.Field{Names: f.Names, Type: f.Type})
								}
							}
							typ = exported
						}
						params := ""
						if s.TypeParams != nil {
							var ps []string
							for _, f := range s.TypeParams.List {
								for _, n := range f.Names {
									ps = append(ps, n.Name+" "+str(f.Type))
								}
							}
							params = "[" + strings.Join(ps, ", ") + "]"
						}
						api = append(api, "type "+s.Name.Name+params+" "+str(typ))
					case *ast.ValueSpec:
						typ := ""
						switch {
						case s.Type != nil:
							typ = str(s.Type)
						case len(s.Values) > 0:
							// A conversion such as uintptr(…) gives the type.
							if c, ok := s.Values[0].(*ast.CallExpr); ok {
								if id, ok := c.Fun.(*ast.Ident); ok && !strings.Contains("len cap min max", id.Name) {
									typ = id.Name
								}
							}
						case d.Tok == token.CONST:
							typ = constType
						}
						if d.Tok == token.CONST {
							constType = typ
						}
						for _, n := range s.Names {
							if n.IsExported() {
								api = append(api, strings.ToLower(d.Tok.String())+" "+n.Name+" "+typ)
							}
						}
					}
				}
			}
		}
	}
	slices.Sort(api)
	return api
}
