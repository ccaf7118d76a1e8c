package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// unsafeBuiltins are refused at compile time: a policy must not reach the
// network (http.send, net.lookup_ip_addr) or read the process environment
// (opa.runtime).
var unsafeBuiltins = map[string]struct{}{
	"http.send":          {},
	"net.lookup_ip_addr": {},
	"opa.runtime":        {},
}

// EvalOptions are the evaluation settings of every decision the gateway
// makes: a built-in error (to_number("x"), a bad regex) is an error, which
// denies, not an undefined value; the unsafe built-ins are refused. Tools
// that evaluate policies for people (mcpgate policy eval) use them too, so
// they answer what the gateway would.
func EvalOptions() []func(*rego.Rego) {
	return []func(*rego.Rego){rego.StrictBuiltinErrors(true), rego.UnsafeBuiltins(unsafeBuiltins)}
}

// maskRef is OPA's default decision-log mask rule.
var maskRef = ast.MustParseRef("data.system.log.mask")

// LoadDir loads every .rego, .json, .yaml and .yml file under dir (files
// ending in _test.rego and hidden files and directories, such as a
// Kubernetes ConfigMap's ..data, are skipped), compiles the policy with
// Rego v1 syntax, together with Options.Library when set, and swaps it in.
// Data files merge at their directory's path under data, as with
// `opa eval -d dir`. On error the last good policy stays in use, and the
// error is returned and reported by Status.
func (e *Engine) LoadDir(dir string) error {
	res, err := loader.NewFileLoader().
		WithRegoVersion(ast.RegoV1).
		WithProcessAnnotation(true).
		Filtered([]string{dir}, policyFileFilter)
	if err != nil {
		return e.fail(fmt.Errorf("%w: %s: %w", ErrLoad, dir, err))
	}
	modules := make(map[string]*ast.Module, len(res.Modules)+len(e.opts.Library))
	raw := make(map[string][]byte, len(modules))
	files := make([]string, 0, len(res.Modules))
	for name, f := range res.Modules {
		modules[name], raw[name] = f.Parsed, f.Raw
		files = append(files, f.Name)
	}
	source := "dir:" + dir
	if e.opts.Library != nil {
		if err := addLibrary(modules, raw, files, e.opts.Library); err != nil {
			return e.fail(fmt.Errorf("%w: %s: %w", ErrLoad, dir, err))
		}
		source = "library+dir:" + dir
	}
	return e.install(modules, raw, res.Documents, source)
}

// LoadModules compiles the given Rego v1 modules (file name → source) with
// data as the base document and swaps them in, like LoadDir. For tests and
// development.
func (e *Engine) LoadModules(modules map[string]string, data map[string]any) error {
	parsed := make(map[string]*ast.Module, len(modules))
	raw := make(map[string][]byte, len(modules))
	if err := parseModules(parsed, raw, modules, ""); err != nil {
		return e.fail(fmt.Errorf("%w: %w", ErrLoad, err))
	}
	if data == nil {
		data = map[string]any{}
	}
	return e.install(parsed, raw, data, "modules")
}

// libraryPrefix keeps the names of library modules apart from the files of
// a directory, and says where a compile error is in the library.
const libraryPrefix = "library:"

// addLibrary parses the library into the modules of a directory, whose
// files are given. A directory file with the name of a library module is
// refused: it is almost always a copy of the library (an old rego/), whose
// rules would conflict with the library's, or an attempt to replace one
// module, which the library does not support.
func addLibrary(modules map[string]*ast.Module, raw map[string][]byte, files []string, library map[string]string) error {
	slices.Sort(files)
	for _, path := range files {
		if _, ok := library[filepath.Base(path)]; ok {
			return fmt.Errorf("%s has the name of the library's module %s%s: rename it, or load the directory without the library",
				path, libraryPrefix, filepath.Base(path))
		}
	}
	return parseModules(modules, raw, library, libraryPrefix)
}

// parseModules parses Rego v1 sources (file name → source) into parsed and
// raw, under prefix + file name.
func parseModules(parsed map[string]*ast.Module, raw map[string][]byte, sources map[string]string, prefix string) error {
	for name, src := range sources {
		m, err := ast.ParseModuleWithOpts(prefix+name, src, ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			return err
		}
		parsed[prefix+name], raw[prefix+name] = m, []byte(src)
	}
	return nil
}

// policyFileFilter excludes what LoadDir must not load; true means skip.
func policyFileFilter(_ string, info fs.FileInfo, depth int) bool {
	name := info.Name()
	if depth > 0 && strings.HasPrefix(name, ".") {
		return true
	}
	if info.IsDir() {
		return false
	}
	if strings.HasSuffix(name, "_test.rego") {
		return true
	}
	switch filepath.Ext(name) {
	case ".rego", ".json", ".yaml", ".yml":
		return false
	}
	return true
}

// install compiles, prepares and swaps in a policy; on error it keeps the
// last good one.
func (e *Engine) install(modules map[string]*ast.Module, raw map[string][]byte, data map[string]any, source string) error {
	revision, err := contentRevision(raw, data)
	if err != nil {
		return e.fail(fmt.Errorf("%w: %w", ErrLoad, err))
	}
	if err := checkUnsafe(modules); err != nil {
		return e.fail(fmt.Errorf("%w: %w", ErrLoad, err))
	}
	compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if compiler.Compile(modules); compiler.Failed() {
		return e.fail(fmt.Errorf("%w: %w", ErrLoad, compiler.Errors))
	}
	store := inmem.NewFromObjectWithOpts(data, inmem.OptReturnASTValuesOnRead(true))
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	c, err := e.prepare(compiler, store)
	if err != nil {
		return e.fail(fmt.Errorf("%w: %w", ErrLoad, err))
	}
	c.revision, c.source, c.parsed = revision, source, modules
	e.swap(c)
	return nil
}

// prepare builds the prepared decision, grant and upstream-scopes queries
// (and the mask query when the policy defines one) over a compiled policy
// and its store.
func (e *Engine) prepare(compiler *ast.Compiler, store storage.Store) (*compiled, error) {
	ctx := context.Background()
	common := append([]func(*rego.Rego){rego.Compiler(compiler), rego.Store(store)}, EvalOptions()...)
	c := &compiled{timeout: e.opts.Timeout, path: queryPath(e.opts.Query), store: store,
		grantPath: queryPath(e.opts.GrantQuery), upstreamPath: queryPath(e.opts.UpstreamScopesQuery)}
	for _, q := range []struct {
		query string
		into  *rego.PreparedEvalQuery
	}{{e.opts.Query, &c.decision}, {e.opts.GrantQuery, &c.grant}, {e.opts.UpstreamScopesQuery, &c.upstream}} {
		pq, err := rego.New(append(common, rego.Query(q.query), rego.GenerateJSON(keepAST))...).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("prepare %s: %w", q.query, err)
		}
		*q.into = pq
	}
	// Shallow inlining also turns off copy propagation, which rewrites terms
	// in place, interned ones included, while other goroutines evaluate
	// decisions (a data race in OPA v1.22.4 that -race shows).
	partial, err := rego.New(append(common, rego.Query(partialQuery(e.opts.Query)),
		rego.ParsedUnknowns(perCallUnknowns), rego.ShallowInlining(true))...).PrepareForPartial(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare partial %s: %w", e.opts.Query, err)
	}
	c.partial, c.perCall, c.cache = partial, newPerCallRules(compiler), newDecisionCache(e.opts.CacheSize)
	c.lists.max, c.masks.max = maxListResults, maxMaskResults
	if queryRef, err := ast.ParseRef(e.opts.Query); err == nil {
		c.clockBound = c.perCall.usesClock(queryRef)
	}
	c.learning = make(chan struct{}, 1)
	if listRef, err := ast.ParseRef(e.opts.ListQuery); err == nil && len(compiler.GetRules(listRef)) > 0 && listOwnsPackage(compiler, listRef, e.opts.Library) {
		list, err := rego.New(append(common, rego.Query(e.opts.ListQuery), rego.GenerateJSON(keepAST))...).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("prepare %s: %w", e.opts.ListQuery, err)
		}
		c.list, c.listPath = &list, queryPath(e.opts.ListQuery)
		if c.cache != nil {
			c.listReads = c.perCall.listReads(listRef)
		}
	}
	if len(compiler.GetRules(maskRef)) == 0 {
		return c, nil
	}
	mask, err := rego.New(append(common, rego.ParsedQuery(ast.NewBody(ast.NewExpr(ast.NewTerm(maskRef)))))...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare %s: %w", maskRef, err)
	}
	c.mask = &mask
	c.maskReads = c.perCall.inputReads(maskRef)
	return c, nil
}

// listOwnsPackage reports whether the list query can stand for the
// decision of each entry: the library's list rule evaluates the library's
// own rules, so a rule another module adds to the package (a deny of the
// security team's, as docs/policy.md invites) would be missed, and a
// list would show what the decision refuses. Then each entry is decided
// on its own. The library's modules are those LoadDir adds (named with
// libraryPrefix) or, for LoadModules, those named as in library; a module
// that defines the list rule itself owns it.
func listOwnsPackage(compiler *ast.Compiler, listRef ast.Ref, library map[string]string) bool {
	pkg := listRef[:len(listRef)-1]
	name, _ := listRef[len(listRef)-1].Value.(ast.String)
	for file, m := range compiler.Modules {
		_, named := library[file]
		if !m.Package.Path.Equal(pkg) || named || strings.HasPrefix(file, libraryPrefix) {
			continue
		}
		definesList := false
		for _, r := range m.Rules {
			v, _ := r.Head.Ref()[0].Value.(ast.Var)
			definesList = definesList || string(v) == string(name)
		}
		if !definesList {
			return false
		}
	}
	return true
}

// keepAST hands results back as ast.Value, so reading the decision needs no
// conversion to Go values.
func keepAST(t *ast.Term, _ *rego.EvalContext) (any, error) { return t.Value, nil }

// checkUnsafe refuses modules that mention an unsafe built-in, including as
// the value of a `with` replacement.
func checkUnsafe(modules map[string]*ast.Module) error {
	var errs ast.Errors
	for _, name := range slices.Sorted(maps.Keys(modules)) {
		ast.WalkRefs(modules[name], func(r ast.Ref) bool {
			if _, bad := unsafeBuiltins[r.String()]; bad {
				errs = append(errs, ast.NewError(ast.CompileErr, r[0].Location,
					"%s is not allowed: policies may not reach the network or the environment", r))
			}
			return false
		})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// contentRevision hashes module sources and data into a short revision.
func contentRevision(raw map[string][]byte, data map[string]any) (string, error) {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(raw[name]))
		h.Write(raw[name])
	}
	bs, err := json.Marshal(data) // map keys are sorted: canonical enough
	if err != nil {
		return "", fmt.Errorf("hash data: %w", err)
	}
	h.Write(bs)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// queryPath turns "data.a.b.c" into OPA's decision path "a/b/c".
func queryPath(query string) string {
	return strings.ReplaceAll(strings.TrimPrefix(query, "data."), ".", "/")
}
