package main

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/tools/go/packages"
)

// decorator is what the generator writes for one interface.
type decorator struct {
	name    string // the interface
	caches  []*cacheSpec
	methods []*method
}

// cacheSpec is one cache= name of an interface's annotations.
type cacheSpec struct {
	name  string // as written in cache=
	field string // its field in the caches struct
	key   types.Type
	value types.Type
	// keyAt and valueAt are the annotations that gave the key and value types.
	keyAt, valueAt *annotation
	methods        []string
}

// method is one method of the interface, annotated or delegated.
type method struct {
	fn     *types.Func
	sig    *types.Signature
	params []param // every parameter, named
	anns   []*annotation
	// The rest is set for annotated methods only.
	hasResult bool   // results are (R, error), not just error
	argsType  string // the struct grouping the parameters after ctx; "" when there is one
	wrappers  []wrapper
}

// param is one parameter with the name the generated code gives it.
type param struct {
	name string
	typ  types.Type
}

// wrapper is one resolved annotation of a method.
type wrapper struct {
	ann   *annotation
	cache *cacheSpec
	// keyRoot is the parameter index (into method.params) the key path starts from,
	// or -1 for the result.
	keyRoot int
	keyPath []string // the selectors after the root
	key     types.Type
	// notFound is the resolved notfound= variable.
	notFound *types.Var
}

// errorList collects errors that name a position.
type errorList struct {
	fset *token.FileSet
	errs []error
}

func (l *errorList) add(pos token.Pos, format string, args ...any) {
	l.errs = append(l.errs, &posError{pos: l.fset.Position(pos), msg: fmt.Sprintf(format, args...)})
}

// posError is an error at a position of the input, printed file:line:column.
type posError struct {
	pos token.Position
	msg string
}

func (e *posError) Error() string { return fmt.Sprintf("%s: %s", e.pos, e.msg) }

// sorted returns the errors in the order of their positions.
func (l *errorList) sorted() []error {
	slices.SortStableFunc(l.errs, func(a, b error) int {
		pa, pb := a.(*posError).pos, b.(*posError).pos
		if c := strings.Compare(pa.Filename, pb.Filename); c != 0 {
			return c
		}
		if pa.Line != pb.Line {
			return pa.Line - pb.Line
		}
		return pa.Column - pb.Column
	})
	return l.errs
}

// at names the position of an annotation in a message about another: file:line,
// with the file's base name.
func (l *errorList) at(a *annotation) string {
	p := l.fset.Position(a.pos)
	return fmt.Sprintf("%s:%d", filepath.Base(p.Filename), p.Line)
}

// analyzer checks the annotations of one package and resolves what to generate.
type analyzer struct {
	pkg  *packages.Package
	errs *errorList
	// anns are the annotations of every interface method of the package.
	anns map[*types.Func][]*annotation
	// files maps an annotation to the file it is in, to resolve notfound=pkg.Name.
	files map[*annotation]*ast.File
	// seen holds the positions of the annotations collected.
	seen map[token.Pos]bool
	// specs are the declarations of the interfaces of the package.
	specs map[*types.TypeName]*ast.TypeSpec
}

var (
	errorType   = types.Universe.Lookup("error").Type()
	contextPath = "context"
)

// collect parses the annotations of every method of every interface declared in the
// package, and returns the interfaces that have some, in declaration order.
func (a *analyzer) collect() []*types.TypeName {
	var annotated []*types.TypeName
	for _, f := range a.pkg.Syntax {
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			it, ok := ts.Type.(*ast.InterfaceType)
			if !ok {
				return false
			}
			tn, _ := a.pkg.TypesInfo.Defs[ts.Name].(*types.TypeName)
			if tn != nil {
				a.specs[tn] = ts
			}
			found := false
			for _, field := range it.Methods.List {
				if a.collectField(f, field) {
					found = true
				}
			}
			if found && tn != nil {
				annotated = append(annotated, tn)
			}
			return false
		})
	}
	a.strays()
	return annotated
}

// strays reports the annotations that are not in the doc comment of an interface
// method, such as one separated from its method by a blank line.
func (a *analyzer) strays() {
	for _, f := range a.pkg.Syntax {
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				if strings.HasPrefix(c.Text, prefix) && !a.seen[c.Pos()] {
					a.errs.add(c.Pos(), "annotation is not in the doc comment of an interface method; put it right above the method, with no blank line")
				}
			}
		}
	}
}

// collectField parses the annotations in the doc comment of one interface element and
// reports whether it had any.
func (a *analyzer) collectField(f *ast.File, field *ast.Field) bool {
	if field.Doc == nil {
		return false
	}
	var fn *types.Func
	if len(field.Names) == 1 {
		fn, _ = a.pkg.TypesInfo.Defs[field.Names[0]].(*types.Func)
	}
	found := false
	for _, c := range field.Doc.List {
		if !strings.HasPrefix(c.Text, prefix) {
			continue
		}
		found = true
		if fn == nil {
			continue // reported by strays
		}
		a.seen[c.Pos()] = true
		ann, err := parseAnnotation(c.Pos(), c.Text)
		if err != nil {
			a.errs.add(c.Pos(), "method %s: %s", fn.Name(), err)
			continue
		}
		a.anns[fn] = append(a.anns[fn], ann)
		a.files[ann] = f
	}
	return found
}

// analyze resolves the decorator of the interface tn.
func (a *analyzer) analyze(tn *types.TypeName) *decorator {
	named, ok := tn.Type().(*types.Named)
	if !ok {
		a.errs.add(tn.Pos(), "%s is not a defined type", tn.Name())
		return nil
	}
	it, ok := named.Underlying().(*types.Interface)
	if !ok {
		a.errs.add(tn.Pos(), "%s is not an interface", tn.Name())
		return nil
	}
	switch {
	case named.TypeParams().Len() > 0:
		a.errs.add(tn.Pos(), "interface %s: generic interfaces are not supported", tn.Name())
		return nil
	case !it.IsMethodSet():
		a.errs.add(tn.Pos(), "interface %s: constraint interfaces are not supported", tn.Name())
		return nil
	}
	d := &decorator{name: tn.Name()}
	caches := map[string]*cacheSpec{}
	for fn := range it.Methods() {
		if !fn.Exported() && fn.Pkg() != a.pkg.Types {
			a.errs.add(tn.Pos(), "interface %s has the unexported method %s of package %s, which no other package can implement", tn.Name(), fn.Name(), fn.Pkg().Path())
			continue
		}
		m := &method{fn: fn, sig: fn.Signature(), anns: a.anns[fn]}
		m.params = paramsOf(m.sig)
		if len(m.anns) > 0 {
			a.method(d, m, caches)
		}
		d.methods = append(d.methods, m)
	}
	for _, c := range d.caches {
		if c.value == nil {
			a.errs.add(c.keyAt.pos, "cache %s: no cacheable, cacheable-batch or put annotation of %s gives its value type", c.name, tn.Name())
		}
	}
	return d
}

// paramsOf names every parameter of sig: unnamed and blank ones get p0, p1, ...
func paramsOf(sig *types.Signature) []param {
	ps := make([]param, sig.Params().Len())
	used := map[string]bool{}
	for i := range ps {
		v := sig.Params().At(i)
		ps[i] = param{name: v.Name(), typ: v.Type()}
		used[v.Name()] = true
	}
	for i := range ps {
		if ps[i].name != "" && ps[i].name != "_" {
			continue
		}
		name := "ctx"
		if i > 0 || !isContext(ps[i].typ) {
			name = fmt.Sprintf("p%d", i)
		}
		for used[name] {
			name += "_"
		}
		ps[i].name, used[name] = name, true
	}
	return ps
}

func isContext(t types.Type) bool {
	n, ok := t.(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == contextPath && n.Obj().Name() == "Context"
}

// method checks the signature of an annotated method and resolves its annotations.
func (a *analyzer) method(d *decorator, m *method, caches map[string]*cacheSpec) {
	first := m.anns[0]
	if !a.checkSignature(m, first) {
		return
	}
	for _, ann := range m.anns {
		if (ann.verb == verbCacheable || ann.verb == verbCacheableBatch) && len(m.anns) > 1 {
			a.errs.add(ann.pos, "method %s: %s cannot be combined with other annotations", m.fn.Name(), ann.verb)
			return
		}
	}
	if len(m.params) > 2 {
		m.argsType = lowerFirst(d.name) + m.fn.Name() + "Args"
	}
	for _, ann := range m.anns {
		w, ok := a.wrapper(m, ann)
		if !ok {
			continue
		}
		w.cache = a.cache(d, caches, m, ann, w.key, valueOf(m, ann))
		if w.cache == nil {
			continue
		}
		m.wrappers = append(m.wrappers, w)
	}
}

// checkSignature checks the shape every annotated method needs: ctx first, at least
// one more parameter, no variadic, and results that suit the verbs.
func (a *analyzer) checkSignature(m *method, at *annotation) bool {
	name, sig := m.fn.Name(), m.sig
	switch {
	case sig.Variadic():
		a.errs.add(at.pos, "method %s: variadic methods are not supported", name)
		return false
	case len(m.params) == 0 || !isContext(m.params[0].typ):
		a.errs.add(at.pos, "method %s: unsupported signature %s: the first parameter must be a context.Context", name, a.sigString(sig))
		return false
	case len(m.params) == 1:
		a.errs.add(at.pos, "method %s: unsupported signature %s: a key needs a parameter after the context", name, a.sigString(sig))
		return false
	}
	res := sig.Results()
	last := res.Len() > 0 && types.Identical(res.At(res.Len()-1).Type(), errorType)
	m.hasResult = res.Len() == 2 && last
	for _, ann := range m.anns {
		switch ann.verb {
		case verbEvict, verbEvictBatch:
			if !last || res.Len() > 2 {
				a.errs.add(ann.pos, "method %s: %s needs results (error) or (R, error), have %s", name, ann.verb, a.tupleString(res))
				return false
			}
		default:
			if !m.hasResult {
				hint := ""
				if ann.verb == verbPut && res.Len() == 1 && last {
					hint = "; to drop the cached value of a method that returns only an error, use evict"
				}
				a.errs.add(ann.pos, "method %s: %s needs results (V, error), have %s%s", name, ann.verb, a.tupleString(res), hint)
				return false
			}
		}
	}
	return true
}

// valueOf returns the value type an annotation gives its cache, or nil.
func valueOf(m *method, ann *annotation) types.Type {
	switch ann.verb {
	case verbCacheable, verbPut:
		return m.sig.Results().At(0).Type()
	case verbCacheableBatch:
		if mt, ok := m.sig.Results().At(0).Type().Underlying().(*types.Map); ok {
			return mt.Elem()
		}
	}
	return nil
}

// wrapper resolves the key= path (and notfound=) of one annotation.
func (a *analyzer) wrapper(m *method, ann *annotation) (wrapper, bool) {
	w := wrapper{ann: ann, keyRoot: -2, keyPath: ann.key[1:]}
	root := ann.key[0]
	for i, p := range m.params[1:] {
		if p.name == root {
			w.keyRoot = i + 1
		}
	}
	var typ types.Type
	switch {
	case root == m.params[0].name:
		a.errs.add(ann.pos, "method %s: key=%s: the context cannot be the key", m.fn.Name(), strings.Join(ann.key, "."))
		return w, false
	case w.keyRoot > 0:
		typ = m.params[w.keyRoot].typ
	case ann.verb == verbPut && (root == "result" || root == m.sig.Results().At(0).Name()):
		w.keyRoot = -1
		typ = m.sig.Results().At(0).Type()
	default:
		var names []string
		for _, p := range m.params[1:] {
			names = append(names, p.name)
		}
		if ann.verb == verbPut {
			names = append(names, "result")
		}
		a.errs.add(ann.pos, "method %s: key=%s: unknown parameter %q; want one of %s", m.fn.Name(), strings.Join(ann.key, "."), root, strings.Join(names, ", "))
		return w, false
	}
	for i, sel := range w.keyPath {
		obj, _, _ := types.LookupFieldOrMethod(typ, true, a.pkg.Types, sel)
		path := strings.Join(ann.key[:i+2], ".")
		switch obj := obj.(type) {
		case *types.Var:
			typ = obj.Type()
			continue
		case *types.Func:
			a.errs.add(ann.pos, "method %s: key=%s: %s is a method; key paths select fields only", m.fn.Name(), strings.Join(ann.key, "."), path)
		default:
			a.errs.add(ann.pos, "method %s: key=%s: %s has no field %s", m.fn.Name(), strings.Join(ann.key, "."), a.typeString(typ), sel)
		}
		return w, false
	}
	if !a.keyType(m, ann, &w, typ) {
		return w, false
	}
	if ann.notFound != "" {
		w.notFound = a.notFound(m, ann)
		if w.notFound == nil {
			return w, false
		}
	}
	return w, true
}

// keyType sets the key type of w from the type the key path selects: the type itself,
// or its element for the batch verbs.
func (a *analyzer) keyType(m *method, ann *annotation, w *wrapper, typ types.Type) bool {
	name, key := m.fn.Name(), strings.Join(ann.key, ".")
	switch ann.verb {
	case verbCacheableBatch:
		sl, isSlice := typ.Underlying().(*types.Slice)
		mt, isMap := m.sig.Results().At(0).Type().Underlying().(*types.Map)
		switch {
		case len(m.params) != 2 || len(w.keyPath) > 0:
			a.errs.add(ann.pos, "method %s: cacheable-batch needs the signature func(ctx, keys []K) (map[K]V, error), with key= naming keys; have %s", name, a.sigString(m.sig))
			return false
		case !isSlice:
			a.errs.add(ann.pos, "method %s: key=%s: cacheable-batch needs a slice of keys, have %s", name, key, a.typeString(typ))
			return false
		case !isMap || !types.Identical(mt.Key(), sl.Elem()):
			a.errs.add(ann.pos, "method %s: cacheable-batch needs results (map[%s]V, error), have %s", name, a.typeString(sl.Elem()), a.tupleString(m.sig.Results()))
			return false
		}
		typ = sl.Elem()
	case verbEvictBatch:
		sl, ok := typ.Underlying().(*types.Slice)
		if !ok {
			a.errs.add(ann.pos, "method %s: key=%s: evict-batch needs a slice of keys, have %s", name, key, a.typeString(typ))
			return false
		}
		typ = sl.Elem()
	}
	if !types.Comparable(typ) {
		a.errs.add(ann.pos, "method %s: key=%s: key type %s is not comparable", name, key, a.typeString(typ))
		return false
	}
	w.key = typ
	return true
}

// notFound resolves notfound=Name (a variable of the package) or notfound=pkg.Name (of
// a package the annotation's file imports).
func (a *analyzer) notFound(m *method, ann *annotation) *types.Var {
	pkgName, name, qualified := strings.Cut(ann.notFound, ".")
	scope := a.pkg.Types.Scope()
	if qualified {
		scope = nil
		for _, spec := range a.files[ann].Imports {
			path := strings.Trim(spec.Path.Value, `"`)
			i := slices.IndexFunc(a.pkg.Types.Imports(), func(p *types.Package) bool { return p.Path() == path })
			if i < 0 {
				continue
			}
			imp := a.pkg.Types.Imports()[i]
			local := imp.Name()
			if spec.Name != nil {
				local = spec.Name.Name
			}
			if local == pkgName {
				scope = imp.Scope()
			}
		}
		if scope == nil {
			a.errs.add(ann.pos, "method %s: notfound=%s: the file does not import a package named %s", m.fn.Name(), ann.notFound, pkgName)
			return nil
		}
	} else {
		name = pkgName
	}
	v, ok := scope.Lookup(name).(*types.Var)
	switch {
	case !ok:
		a.errs.add(ann.pos, "method %s: notfound=%s: no package-level variable %s", m.fn.Name(), ann.notFound, ann.notFound)
		return nil
	case qualified && !v.Exported():
		a.errs.add(ann.pos, "method %s: notfound=%s: %s is not exported", m.fn.Name(), ann.notFound, name)
		return nil
	case !types.AssignableTo(v.Type(), errorType):
		a.errs.add(ann.pos, "method %s: notfound=%s: %s has type %s, not error", m.fn.Name(), ann.notFound, ann.notFound, a.typeString(v.Type()))
		return nil
	}
	return v
}

// cache returns the cache named by ann, checking that its key and value types agree
// with the other annotations of the interface.
func (a *analyzer) cache(d *decorator, caches map[string]*cacheSpec, m *method, ann *annotation, key, value types.Type) *cacheSpec {
	c := caches[ann.cache]
	if c == nil {
		c = &cacheSpec{name: ann.cache, field: upperFirst(ann.cache), key: key, keyAt: ann}
		for _, other := range d.caches {
			if other.field == c.field {
				a.errs.add(ann.pos, "cache=%s and cache=%s (at %s) both make the field %s", ann.cache, other.name, a.errs.at(other.keyAt), c.field)
				return nil
			}
		}
		caches[ann.cache] = c
		d.caches = append(d.caches, c)
	}
	if !types.Identical(c.key, key) {
		a.errs.add(ann.pos, "method %s: cache %s: key type %s conflicts with %s at %s", m.fn.Name(), ann.cache, a.typeString(key), a.typeString(c.key), a.errs.at(c.keyAt))
		return nil
	}
	if value != nil && c.value != nil && !types.Identical(c.value, value) {
		a.errs.add(ann.pos, "method %s: cache %s: value type %s conflicts with %s at %s", m.fn.Name(), ann.cache, a.typeString(value), a.typeString(c.value), a.errs.at(c.valueAt))
		return nil
	}
	if value != nil && c.value == nil {
		c.value, c.valueAt = value, ann
	}
	if !slices.Contains(c.methods, m.fn.Name()) {
		c.methods = append(c.methods, m.fn.Name())
	}
	return c
}

func (a *analyzer) typeString(t types.Type) string {
	return types.TypeString(t, types.RelativeTo(a.pkg.Types))
}

func (a *analyzer) tupleString(t *types.Tuple) string {
	s := types.TypeString(t, types.RelativeTo(a.pkg.Types))
	if t.Len() == 0 {
		return "no results"
	}
	return s
}

func (a *analyzer) sigString(s *types.Signature) string {
	return "func" + strings.TrimPrefix(types.TypeString(s, types.RelativeTo(a.pkg.Types)), "func")
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[n:]
}
