// Package approval pins what the security team approved of each upstream:
// every tool, prompt, resource and resource template by the SHA-256 of its
// canonical definition (issue #16: the lock file, its review in git, and
// the quarantine of what changed since).
//
// A definition is the item as the gateway hands it to clients (the go-sdk's
// encoding of what the upstream listed: a field the SDK does not know never
// reaches a client), without _meta (the protocol's own bookkeeping, which
// may change with no change to the item):
// for a tool its name, title, description, input and output schema,
// annotations and icons; for a prompt its arguments; for a resource or a
// template its URI or URI template and MIME type. It is made canonical by
// the JSON Canonicalization Scheme (RFC 8785): keys sorted, no whitespace,
// numbers and strings in one spelling, so the order an upstream lists keys
// in, its whitespace and the spelling of its numbers ("1.0", "1E0") do not
// change the digest; a duplicate key (two readings of one definition) is
// refused.
package approval

import (
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
// as a lock file holds it): its JSON without _meta, in RFC 8785 form.
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
	if _, ok := fields["_meta"]; !ok {
		return canon, nil
	}
	delete(fields, "_meta")
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
