package policy

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// perCallRules knows which rules of a compiled policy may read a per-call
// field of the input (perCallUnknowns), directly or through the rules they
// use, or call a non-deterministic built-in (time.now_ns, rand.intn, …).
// A residual of partial evaluation that uses one of them is not
// unconditional.
type perCallRules struct {
	compiler *ast.Compiler
	tainted  map[string]bool        // rule path → reads something per call
	clocked  map[string]bool        // rule path → calls a readsClock built-in
	deps     map[string][]string    // rule path → the paths of the rules it uses
	rules    map[string][]*ast.Rule // rule path → its rules (else branches included)
}

func newPerCallRules(compiler *ast.Compiler) *perCallRules {
	p := &perCallRules{compiler: compiler, tainted: map[string]bool{}, clocked: map[string]bool{}, deps: map[string][]string{},
		rules: map[string][]*ast.Rule{}}
	type node struct {
		path string
		deps []string
	}
	var nodes []node
	for _, m := range compiler.Modules {
		for _, r := range m.Rules {
			for rule := r; rule != nil; rule = rule.Else {
				path := rule.Path().String()
				if p.direct(rule) {
					p.tainted[path] = true
				}
				if callsClock(rule) {
					p.clocked[path] = true
				}
				p.rules[path] = append(p.rules[path], rule)
				deps := p.ruleDeps(rule)
				nodes = append(nodes, node{path, deps})
				p.deps[path] = append(p.deps[path], deps...)
			}
		}
	}
	for _, set := range []map[string]bool{p.tainted, p.clocked} {
		for changed := true; changed; {
			changed = false
			for _, n := range nodes {
				if set[n.path] {
					continue
				}
				for _, d := range n.deps {
					if set[d] {
						set[n.path], changed = true, true
						break
					}
				}
			}
		}
	}
	return p
}

// callsClock reports whether x calls a readsClock built-in.
func callsClock(x any) bool {
	found := false
	ast.WalkTerms(x, func(t *ast.Term) bool {
		if call, ok := t.Value.(ast.Call); ok && len(call) > 0 && readsClock[call[0].String()] {
			found = true
		}
		return found
	})
	ast.WalkExprs(x, func(e *ast.Expr) bool {
		if e.IsCall() && readsClock[e.Operator().String()] {
			found = true
		}
		return found
	})
	return found
}

// usesClock reports whether the rules at ref use a readsClock built-in,
// directly or through the rules they use.
func (p *perCallRules) usesClock(ref ast.Ref) bool {
	for _, r := range p.compiler.GetRules(ref) {
		if p.clocked[r.Path().String()] {
			return true
		}
	}
	return false
}

// direct reports whether x reads a per-call field itself, calls a
// non-deterministic or unknown built-in, or replaces a document with `with`.
func (p *perCallRules) direct(x any) bool {
	if p.unsafe(x) {
		return true
	}
	found := false
	ast.WalkRefs(x, func(r ast.Ref) bool {
		if readsPerCall(r) {
			found = true
		}
		return found
	})
	return found
}

// unsafe reports whether x calls a non-deterministic or unknown built-in,
// or replaces a document with `with`.
func (p *perCallRules) unsafe(x any) bool {
	found := false
	ast.WalkExprs(x, func(e *ast.Expr) bool {
		if len(e.With) > 0 || p.unsafeCall(e.Operator()) {
			found = true
		}
		return found
	})
	ast.WalkTerms(x, func(t *ast.Term) bool {
		if call, ok := t.Value.(ast.Call); ok && len(call) > 0 {
			if ref, ok := call[0].Value.(ast.Ref); ok && p.unsafeCall(ref) {
				found = true
			}
		}
		return found
	})
	return found
}

// readsPerCall reports whether a reference to input may read a per-call
// field: input itself, input[x] with x not a string, or a per-call field.
func readsPerCall(r ast.Ref) bool {
	if !r.HasPrefix(ast.InputRootRef) {
		return false
	}
	if len(r) < 2 {
		return true
	}
	key, ok := r[1].Value.(ast.String)
	if !ok {
		return true
	}
	for _, u := range perCallUnknowns {
		if u.Value.(ast.Ref)[1].Value.Compare(key) == 0 {
			return true
		}
	}
	return false
}

// partialRoot is where partial evaluation puts the support rules of a
// residual; reads walks them as they come.
var partialRoot = ast.MustParseRef("data.partial")

// unsafeCall reports whether ref, an operator, is a built-in that is
// non-deterministic or unknown (nil is no call).
func (p *perCallRules) unsafeCall(ref ast.Ref) bool {
	if ref == nil || p.isRule(ref) {
		return false
	}
	b, ok := ast.BuiltinMap[ref.String()]
	return !ok || b.Nondeterministic
}

// readsClock are built-ins that check against the wall clock although OPA
// does not mark them non-deterministic, so partial evaluation works them
// out once: a decision learned with one would outlive the certificate it
// checked. A policy whose decision uses one is never cached (usesClock).
var readsClock = map[string]bool{
	"crypto.x509.parse_and_verify_certificates":              true,
	"crypto.x509.parse_and_verify_certificates_with_options": true,
}

func (p *perCallRules) isRule(ref ast.Ref) bool {
	if ref.HasPrefix(partialRoot) {
		return true
	}
	return ref.HasPrefix(ast.DefaultRootRef) && len(p.compiler.GetRules(ref)) > 0
}

// ruleDeps are the paths of the rules x refers to. A reference with a
// variable (blocked[op], data.pkg[x].y) may reach every rule under its
// ground prefix: GetRules of the whole reference finds none of them.
func (p *perCallRules) ruleDeps(x any) []string {
	var deps []string
	ast.WalkRefs(x, func(r ast.Ref) bool {
		if r.HasPrefix(ast.DefaultRootRef) {
			for _, rule := range p.compiler.GetRules(r.GroundPrefix()) {
				deps = append(deps, rule.Path().String())
			}
		}
		return false
	})
	return deps
}

// reads reports whether a residual (a query or a support module) may read
// a per-call field: directly, or through a rule of the policy.
func (p *perCallRules) reads(x any) bool {
	if p.direct(x) {
		return true
	}
	for _, d := range p.ruleDeps(x) {
		if p.tainted[d] {
			return true
		}
	}
	return false
}
