// Package charttest renders the mcpgate Helm chart with Helm's Go library
// and checks what it produces: the security context, probes, configuration
// and policy mounts, the optional resources, and that values.schema.json and
// the templates' checks refuse wrong values with a clear message.
//
// It is a module of its own so that Helm's and Kubernetes' libraries stay
// out of the gateway's go.mod. Run it with: cd charts/test && go test ./...
package charttest
