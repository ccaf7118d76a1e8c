package charttest

import (
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/plugins/bundle"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// TestOPAConfigIsAccepted hands the rendered opa.yaml to OPA's plugin
// manager, as the gateway does, and parses its bundle configuration: the
// service, credentials, polling, signing keys and what opaConfig merges in.
func TestOPAConfigIsAccepted(t *testing.T) {
	bundleValues := ciValuesFiles(t)["bundle-values.yaml"]
	for name, values := range map[string]string{
		"ci/bundle-values.yaml": bundleValues,
		"oci, no credentials":   minimal + "policy: {source: bundle, library: none, bundle: {url: https://ghcr.io, type: oci, resource: ghcr.io/acme/policy:1}}",
	} {
		t.Run(name, func(t *testing.T) {
			src := mustRender(t, values).configMap(t, fullname).Data["opa.yaml"]
			mgr, err := plugins.New([]byte(src), "mcpgate", inmem.New())
			if err != nil {
				t.Fatalf("OPA refuses the configuration: %v\n%s", err, src)
			}
			cfg, err := bundle.NewConfigBuilder().WithBytes(mgr.Config.Bundles).
				WithServices(mgr.Services()).WithKeyConfigs(mgr.PublicKeys()).Parse()
			if err != nil {
				t.Fatalf("OPA refuses the bundle configuration: %v\n%s", err, src)
			}
			b := cfg.Bundles["mcpgate"]
			if b == nil || b.Service != "policy" {
				t.Fatalf("bundle mcpgate = %+v", b)
			}
			if strings.Contains(values, "keyId") && (b.Signing == nil || b.Signing.KeyID != "policy-signer") {
				t.Errorf("signing = %+v, want key policy-signer", b.Signing)
			}
		})
	}

	// Not vacuous: a bundle naming a service that does not exist is refused.
	src := mustRender(t, minimal+"policy: {source: bundle, library: none, bundle: {url: https://b.example, resource: r, opaConfig: {bundles: {mcpgate: {service: nope}}}}}").
		configMap(t, fullname).Data["opa.yaml"]
	mgr, err := plugins.New([]byte(src), "mcpgate", inmem.New())
	if err == nil {
		_, err = bundle.NewConfigBuilder().WithBytes(mgr.Config.Bundles).WithServices(mgr.Services()).Parse()
	}
	if err == nil {
		t.Errorf("OPA accepts a bundle of an unknown service:\n%s", src)
	}
}
