package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/yosida95/uritemplate/v3"

	"github.com/mcpgate/mcpgate/approval"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// features is what one upstream offered at its last listing, already renamed
// for the gateway's clients. Entries are immutable; an entry whose definition
// did not change between listings keeps its pointer, so views can tell what
// changed by comparing pointers.
type features struct {
	tools     []*toolEntry
	prompts   []*promptEntry
	resources []*resourceEntry
	templates []*templateEntry
	// skipped says which features were left out and why.
	skipped []string
}

type toolEntry struct {
	up           *upstream
	upstreamName string
	tool         *mcp.Tool // the definition clients see, with the gateway's name
	raw          []byte    // the upstream definition, to detect changes
	digest       string    // of raw: the definition's part of a decision cache key
	// params: the input schema maps arguments to Mcp-Param-* headers
	// (x-mcp-header), which the fast path does not send.
	params []paramBinding
	pin    pin // approval.go
}

type promptEntry struct {
	up           *upstream
	upstreamName string
	prompt       *mcp.Prompt
	raw          []byte
	digest       string
	pin          pin
}

type resourceEntry struct {
	up       *upstream
	resource *mcp.Resource
	raw      []byte
	digest   string
	pin      pin
}

type templateEntry struct {
	up       *upstream
	template *mcp.ResourceTemplate
	match    *regexp.Regexp // nil when the URI template does not parse
	raw      []byte
	digest   string
	pin      pin
}

// list fetches every page of every feature kind the upstream advertises.
func (u *upstream) list(ctx context.Context, cs *mcp.ClientSession) (*features, error) {
	f := &features{}
	caps := cs.InitializeResult().Capabilities
	if caps == nil {
		return f, nil
	}
	if caps.Tools != nil {
		for t, err := range cs.Tools(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("list tools: %w", err)
			}
			f.addTool(u, t)
		}
	}
	if caps.Prompts != nil {
		for p, err := range cs.Prompts(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("list prompts: %w", err)
			}
			f.addPrompt(u, p)
		}
	}
	if caps.Resources != nil {
		for r, err := range cs.Resources(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("list resources: %w", err)
			}
			raw := mustJSON(r)
			f.resources = append(f.resources, &resourceEntry{up: u, resource: r, raw: raw, digest: digestOf(raw),
				pin: pin{item: u.itemOf(approval.KindResource, r.URI, raw)}})
		}
		for t, err := range cs.ResourceTemplates(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("list resource templates: %w", err)
			}
			f.addTemplate(u, t)
		}
	}
	u.warnSkipped(f)
	return f, nil
}

// warnSkipped logs, at WARN, what the listing f leaves out that the last
// one did not (a listing is repeated at every change the upstream
// announces: the same reason is logged once).
func (u *upstream) warnSkipped(f *features) {
	var before map[string]bool
	if old := u.currentFeatures(); old != nil {
		before = make(map[string]bool, len(old.skipped))
		for _, s := range old.skipped {
			before[s] = true
		}
	}
	for _, s := range f.skipped {
		if !before[s] {
			u.log.Warn("upstream feature left out of the catalog", "reason", s)
		}
	}
}

func (f *features) addTool(u *upstream, t *mcp.Tool) {
	if err := checkUpstreamName(t.Name); err != nil {
		f.skipped = append(f.skipped, fmt.Sprintf("tool %s: %v", quoteName(t.Name), err))
		return
	}
	if err := checkObjectSchema(t.InputSchema); err != nil {
		f.skipped = append(f.skipped, fmt.Sprintf("tool %q: %v", t.Name, err))
		return
	}
	raw := mustJSON(t)
	exposed := *t
	exposed.Name = u.namer.name(u.prefix, t.Name)
	// Schemas as JSON: a list of a view encodes them as they are, where a
	// *jsonschema.Schema (which the SDK's AddTool would take without
	// re-encoding) costs reflection on every list. A view is shared by
	// what it shows, so it is built once and listed many times: the first
	// tools/list of 200 tools for a new group set took 13-14 ms with typed
	// schemas, 9 ms as JSON (BENCHMARKS.md).
	exposed.InputSchema = json.RawMessage(mustJSON(t.InputSchema))
	if t.OutputSchema != nil {
		exposed.OutputSchema = json.RawMessage(mustJSON(t.OutputSchema))
	}
	f.tools = append(f.tools, &toolEntry{up: u, upstreamName: t.Name, tool: &exposed, raw: raw, digest: digestOf(raw),
		params: paramBindings(raw), pin: pin{item: u.itemOf(approval.KindTool, t.Name, raw)}})
}

func (f *features) addPrompt(u *upstream, p *mcp.Prompt) {
	if err := checkUpstreamName(p.Name); err != nil {
		f.skipped = append(f.skipped, fmt.Sprintf("prompt %s: %v", quoteName(p.Name), err))
		return
	}
	raw := mustJSON(p)
	exposed := *p
	exposed.Name = u.namer.name(u.prefix, p.Name)
	f.prompts = append(f.prompts, &promptEntry{up: u, upstreamName: p.Name, prompt: &exposed, raw: raw, digest: digestOf(raw),
		pin: pin{item: u.itemOf(approval.KindPrompt, p.Name, raw)}})
}

func (f *features) addTemplate(u *upstream, t *mcp.ResourceTemplate) {
	tmpl, err := uritemplate.New(t.URITemplate)
	if err != nil {
		f.skipped = append(f.skipped, fmt.Sprintf("resource template %q: %v", t.URITemplate, err))
		return
	}
	raw := mustJSON(t)
	f.templates = append(f.templates, &templateEntry{up: u, template: t, match: tmpl.Regexp(), raw: raw, digest: digestOf(raw),
		pin: pin{item: u.itemOf(approval.KindTemplate, t.URITemplate, raw)}})
}

// reuse replaces entries that are unchanged since old with old's pointers.
func (f *features) reuse(old *features) {
	if old == nil {
		return
	}
	reuseEntries(f.tools, old.tools, func(e *toolEntry) (string, []byte) { return e.upstreamName, e.raw })
	reuseEntries(f.prompts, old.prompts, func(e *promptEntry) (string, []byte) { return e.upstreamName, e.raw })
	reuseEntries(f.resources, old.resources, func(e *resourceEntry) (string, []byte) { return e.resource.URI, e.raw })
	reuseEntries(f.templates, old.templates, func(e *templateEntry) (string, []byte) { return e.template.URITemplate, e.raw })
}

func reuseEntries[E any](cur, old []E, key func(E) (string, []byte)) {
	byKey := make(map[string]E, len(old))
	for _, e := range old {
		k, _ := key(e)
		byKey[k] = e
	}
	for i, e := range cur {
		k, raw := key(e)
		if o, ok := byKey[k]; ok {
			if _, oraw := key(o); bytes.Equal(raw, oraw) {
				cur[i] = o
			}
		}
	}
}

// checkObjectSchema refuses input schemas the SDK would panic on: a tool's
// input schema must be a JSON object with "type": "object".
func checkObjectSchema(schema any) error {
	if schema == nil {
		return fmt.Errorf("no input schema")
	}
	data, err := json.Marshal(schema)
	if err != nil {
		return fmt.Errorf("input schema does not encode as JSON: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return fmt.Errorf("input schema is not a JSON object")
	}
	if m["type"] != "object" {
		return fmt.Errorf(`input schema must have "type": "object" (got %v)`, m["type"])
	}
	return nil
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		// Values decoded from JSON always encode again.
		panic(fmt.Sprintf("gateway: encode %T: %v", v, err))
	}
	return data
}

// digestOf names an upstream definition in a decision cache key: SHA-256
// of its JSON, so a changed definition is a new key.
func digestOf(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}
