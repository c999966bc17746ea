package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/tools/go/packages"
)

// defaultOutput is the file written in the package directory without -output.
const defaultOutput = "accelerator_gen.go"

// loadMode is what the generator needs of the package: its syntax (for the
// annotations) and its types. Dependencies are type-checked from source too
// (NeedDeps, with parseFile keeping it cheap): with export data instead, the go
// command would compile the package itself, and fail on the names only the file being
// generated declares.
const loadMode = packages.NeedName | packages.NeedFiles | packages.NeedSyntax |
	packages.NeedTypes | packages.NeedTypesInfo | packages.NeedImports | packages.NeedDeps

// generate type-checks the package in dir and returns the decorators of the
// interfaces typeNames (every annotated interface when empty) as a gofmt'ed Go file
// meant for the path out. The errors it returns name file:line:column.
func generate(dir string, typeNames []string, out string) ([]byte, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	cfg := &packages.Config{Mode: loadMode, Dir: dir, Fset: token.NewFileSet(), ParseFile: parseFile(absDir)}
	// A file generated before must not stand in the way: it may no longer compile
	// with the interface it was generated from. It is read as an empty file.
	if overlay, ok := blankGenerated(out); ok {
		abs, err := filepath.Abs(out)
		if err != nil {
			return nil, err
		}
		cfg.Overlay = map[string][]byte{abs: overlay}
	}
	pkgs, err := packages.Load(cfg, ".")
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	if len(pkgs) != 1 {
		return nil, fmt.Errorf("load %s: %d packages, want 1", dir, len(pkgs))
	}
	return generatePackage(cfg.Fset, pkgs[0], typeNames)
}

// parseFile parses the files of the package in dir in full, and those of its
// dependencies without function bodies, which their types do not need: type-checking
// the dependencies from source then costs little.
func parseFile(dir string) func(*token.FileSet, string, []byte) (*ast.File, error) {
	return func(fset *token.FileSet, filename string, src []byte) (*ast.File, error) {
		mode := parser.AllErrors | parser.ParseComments
		if filepath.Dir(filename) == dir {
			return parser.ParseFile(fset, filename, src, mode)
		}
		f, err := parser.ParseFile(fset, filename, src, mode|parser.SkipObjectResolution)
		if f != nil {
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok {
					fd.Body = nil
				}
			}
		}
		return f, err
	}
}

// blankGenerated returns, when path holds a file written by accelerator-gen, a file
// of the same package with nothing else in it.
func blankGenerated(path string) ([]byte, bool) {
	src, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(src, []byte(header)) {
		return nil, false
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.PackageClauseOnly)
	if err != nil {
		return nil, false
	}
	return []byte(header + "\n\npackage " + f.Name.Name + "\n"), true
}

// generatePackage returns the decorators of a loaded package.
//
// Type errors outside the interfaces it decorates do not stop it: the rest of the
// package may use names that only the file being generated declares.
func generatePackage(fset *token.FileSet, pkg *packages.Package, typeNames []string) ([]byte, error) {
	if errs := fatalErrors(pkg); errs != nil {
		return nil, errs
	}
	el := &errorList{fset: fset}
	a := &analyzer{pkg: pkg, errs: el, anns: map[*types.Func][]*annotation{}, files: map[*annotation]*ast.File{},
		seen: map[token.Pos]bool{}, specs: map[*types.TypeName]*ast.TypeSpec{}}
	annotated := a.collect()
	targets := annotated
	if len(typeNames) > 0 {
		targets = nil
		for _, name := range typeNames {
			tn, ok := pkg.Types.Scope().Lookup(strings.TrimSpace(name)).(*types.TypeName)
			if !ok {
				return nil, fmt.Errorf("package %s has no type %s", pkg.PkgPath, name)
			}
			targets = append(targets, tn)
		}
	}
	if len(targets) == 0 && len(el.errs) == 0 {
		return nil, fmt.Errorf("package %s has no interface with //accelerator: annotations", pkg.PkgPath)
	}
	if errs := a.typeErrors(targets); errs != nil {
		return nil, errs
	}
	var decs []*decorator
	for _, tn := range targets {
		if d := a.analyze(tn); d != nil {
			decs = append(decs, d)
		}
	}
	reserved := a.checkNames(decs)
	if len(el.errs) > 0 {
		return nil, errors.Join(el.sorted()...)
	}
	return render(pkg.Types, reserved, decs)
}

// fatalErrors returns the errors that leave nothing to generate from: those of
// listing and parsing the package and its dependencies. Type errors of the
// dependencies, whose function bodies parseFile drops, are no concern; those of the
// package are filtered by typeErrors.
func fatalErrors(pkg *packages.Package) error {
	var errs []error
	packages.Visit([]*packages.Package{pkg}, nil, func(p *packages.Package) {
		for _, e := range p.Errors {
			if e.Kind != packages.TypeError {
				errs = append(errs, errors.New(e.Error()))
			}
		}
	})
	return errors.Join(errs...)
}

// typeErrors returns the type errors inside the declarations of targets.
func (a *analyzer) typeErrors(targets []*types.TypeName) error {
	var errs []error
	for _, te := range a.pkg.TypeErrors {
		for _, tn := range targets {
			if ts := a.specs[tn]; ts != nil && ts.Pos() <= te.Pos && te.Pos < ts.End() {
				errs = append(errs, errors.New(te.Error()))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// loadErrors returns the errors of loading and type-checking pkg, joined, or nil.
func loadErrors(pkg *packages.Package) error {
	var errs []error
	packages.Visit([]*packages.Package{pkg}, nil, func(p *packages.Package) {
		for _, e := range p.Errors {
			errs = append(errs, errors.New(e.Error()))
		}
	})
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}

// checkNames reports the names the generated file would declare that the package
// already declares, and returns the package-level names, which the imports must not
// take.
func (a *analyzer) checkNames(decs []*decorator) map[string]bool {
	scope := a.pkg.Types.Scope()
	// The generated functions declare these locals; an import of the same name would
	// be shadowed where a type names it.
	reserved := map[string]bool{"inner": true, "caches": true, "opts": true, "with": true, "d": true, "a": true, "r": true, "ctx": true}
	for _, name := range scope.Names() {
		reserved[name] = true
	}
	for _, d := range decs {
		names := []string{"Cached" + d.name, d.name + "Caches", "NewCached" + d.name}
		for _, m := range d.methods {
			if m.argsType != "" {
				names = append(names, m.argsType)
			}
		}
		for _, n := range names {
			if obj := scope.Lookup(n); obj != nil {
				a.errs.add(obj.Pos(), "%s is already declared; accelerator-gen writes it for %s", n, d.name)
			}
		}
	}
	return reserved
}
