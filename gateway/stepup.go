package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/policy"
)

// peekCall reads a POST body and, for a call-phase request, builds its
// input. It returns a body that replays what was read.
func (g *Gateway) peekCall(r *http.Request, id *authn.Identity) (io.ReadCloser, *policy.Input) {
	limit := int64(g.cfg.MaxRequestBytes)
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	body := readCloser{io.MultiReader(bytes.NewReader(data), r.Body), r.Body}
	if err != nil || int64(len(data)) > limit {
		return body, nil
	}
	var msg struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(data, &msg) != nil {
		return body, nil
	}
	mk, ok := callParams[msg.Method]
	if !ok {
		return body, nil
	}
	params := mk()
	if json.Unmarshal(msg.Params, params) != nil {
		return body, nil
	}
	in, err := g.callInput(id, msg.Method, params, g.catalog())
	if err != nil {
		return body, nil // the MCP layer refuses it
	}
	return body, in
}

type readCloser struct {
	io.Reader
	io.Closer
}

// missingScopes returns the scopes a decision requires that the token lacks.
func missingScopes(d policy.Decision, have []string) []string {
	var missing []string
	for _, s := range d.RequiredScopes {
		if !slices.Contains(have, s) {
			missing = append(missing, s)
		}
	}
	return missing
}

// stepUpChallenge answers a request whose decision needs scopes the token
// does not carry with HTTP 403 insufficient_scope, before the SDK handles
// it, so clients can ask for the scopes and retry (RFC 6750 §3.1, MCP
// scope step-up). It peeks at the JSON-RPC body; the body is passed on
// unchanged. Requests it cannot read are left to the SDK.
func (g *Gateway) stepUpChallenge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := authn.FromContext(r.Context())
		if r.Method != http.MethodPost || !ok || g.opts.ScopeChallenge == nil {
			next.ServeHTTP(w, r)
			return
		}
		body, in := g.peekCall(r, id)
		r.Body = body
		if in != nil {
			// A look ahead: the MCP layer decides (and logs) the request
			// again with what only the session knows. A step-up answer is
			// the decision of record, so it is decided again and logged.
			d := g.opts.Authorizer.Check(r.Context(), in)
			if missing := missingScopes(d, id.Scopes); !d.Allow && len(missing) > 0 {
				d = g.opts.Authorizer.Decide(r.Context(), in)
				if missing = missingScopes(d, id.Scopes); !d.Allow && len(missing) > 0 {
					g.opts.ScopeChallenge(w, d.RequiredScopes, fmt.Sprintf("%s needs scope %s", in.Method, strings.Join(missing, " ")))
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
