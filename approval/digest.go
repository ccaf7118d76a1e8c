// Package approval pins what the security team approved of each upstream:
// every tool, prompt, resource and resource template by the SHA-256 of its
// canonical definition (issue #16: the lock file, its review in git, and
// the quarantine of what changed since).
//
// A definition is the item as the gateway hands it to clients (the go-sdk's
// encoding of what the upstream listed: a field the SDK does not know never
// reaches a client), _meta included (clients act on some of its keys, such
// as an MCP App's ui.resourceUri): for a tool its name, title,
// description, input and output schema, annotations, icons and _meta; for
// a prompt its arguments; for a resource or a template its URI or URI
// template, name, description and MIME type. What follows a resource's
// content rather than its definition (its size and
// annotations.lastModified) is left out. It is made canonical by the JSON
// Canonicalization Scheme (RFC 8785): keys sorted, no whitespace, numbers
// and strings in one spelling, so the order an upstream lists keys in, its
// whitespace and the spelling of its numbers ("1.0", "1E0") do not change
// the digest; a duplicate key (two readings of one definition) is refused.
package approval

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// DigestPrefix starts every digest, naming its algorithm.
const DigestPrefix = "sha256:"

// Definition returns the canonical definition of item (an *mcp.Tool,
// *mcp.Prompt, *mcp.Resource or *mcp.ResourceTemplate, or the JSON of one,
// as a lock file holds it): its JSON in RFC 8785 form.
func Definition(item any) (json.RawMessage, error) {
	raw, ok := item.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(item); err != nil {
			return nil, fmt.Errorf("approval: encode the definition: %w", err)
		}
	}
	if !utf8.Valid(raw) {
		return nil, errors.New("approval: the definition is not valid UTF-8")
	}
	// Canonical first: a duplicate key is refused before a reading of the
	// object could pick one of its values.
	canon, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("approval: the definition is not canonical JSON (RFC 8785): %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(canon, &fields); err != nil || fields == nil {
		return nil, errors.New("approval: a definition is a JSON object")
	}
	return canon, nil
}

// definitionOf is the canonical definition of an item of kind: Definition
// without what follows a resource's content (its size and
// annotations.lastModified), which changes with no change to the item.
func definitionOf(kind Kind, item any) (json.RawMessage, error) {
	canon, err := Definition(item)
	if err != nil || kind != KindResource {
		return canon, err
	}
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(canon))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		return nil, err
	}
	_, sized := fields["size"]
	delete(fields, "size")
	ann, _ := fields["annotations"].(map[string]any)
	_, dated := ann["lastModified"]
	if !sized && !dated {
		return canon, nil
	}
	delete(ann, "lastModified")
	if ann != nil && len(ann) == 0 {
		delete(fields, "annotations")
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return jcs.Transform(b)
}

// Digest returns the digest of item's canonical definition,
// "sha256:<hex>".
func Digest(item any) (string, error) {
	def, err := Definition(item)
	if err != nil {
		return "", err
	}
	return digestOf(def), nil
}

// digestOf is the digest of a canonical definition.
func digestOf(canon []byte) string {
	sum := sha256.Sum256(canon)
	return DigestPrefix + hex.EncodeToString(sum[:])
}
