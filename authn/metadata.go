package authn

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// metadataWellKnown is the RFC 9728 well-known path prefix.
const metadataWellKnown = "/.well-known/oauth-protected-resource"

// MetadataPaths returns the paths that serve the protected resource metadata
// of the MCP endpoint at mcpPath: the path-inserted form (RFC 9728 §3.1),
// which clients try first, then the root form. MetadataPaths("/mcp") is
// ["/.well-known/oauth-protected-resource/mcp",
// "/.well-known/oauth-protected-resource"].
func MetadataPaths(mcpPath string) []string {
	p := strings.TrimRight(mcpPath, "/")
	if p == "" {
		return []string{metadataWellKnown}
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return []string{metadataWellKnown + p, metadataWellKnown}
}

// MetadataHandler serves the RFC 9728 protected resource metadata: resource
// (the canonical /mcp URL), authorization_servers (issuer identifiers, not
// discovery URLs), scopes_supported, bearer_methods_supported ["header"] and
// resource_name "mcpgate". "offline_access" is never advertised: it is
// dropped with a warning. The document is public: any origin may read it,
// caches may keep it for an hour. GET and HEAD only; OPTIONS answers a CORS
// preflight; other methods get 405.
func MetadataHandler(resource string, authorizationServers []string, scopes []string) http.Handler {
	return metadataHandler(resource, authorizationServers, scopes, slog.Default())
}

func metadataHandler(resource string, authorizationServers, scopes []string, logger *slog.Logger) http.Handler {
	meta := oauthex.ProtectedResourceMetadata{
		Resource:               resource,
		AuthorizationServers:   authorizationServers,
		ScopesSupported:        supportedScopes(scopes, logger),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "mcpgate",
	}
	body, err := json.Marshal(meta)
	if err != nil { // cannot happen: strings and slices of strings only
		panic("authn: marshal protected resource metadata: " + err.Error())
	}
	body = append(body, '\n')
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		switch r.Method {
		case http.MethodOptions:
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, MCP-Protocol-Version")
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
		case http.MethodGet, http.MethodHead:
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "max-age=3600")
			h.Set("Content-Length", strconv.Itoa(len(body)))
			if r.Method == http.MethodGet {
				_, _ = w.Write(body)
			}
		default:
			h.Set("Allow", "GET, HEAD, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

// supportedScopes drops "offline_access" (MCP: SHOULD NOT be advertised)
// and empty entries.
func supportedScopes(scopes []string, logger *slog.Logger) []string {
	var out []string
	for _, s := range scopes {
		switch s {
		case "":
		case "offline_access":
			logger.Warn("authn: offline_access is not advertised in scopes_supported (MCP authorization: minimal scopes, no offline_access)")
		default:
			out = append(out, s)
		}
	}
	return out
}
