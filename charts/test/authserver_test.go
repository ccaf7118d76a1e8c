package charttest

import (
	"errors"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/mcpgate/mcpgate/config"
)

// authServer is a complete install in authorization-server mode: the IdP
// client's secret and the signing key come from mounted Secrets, and there
// is no auth.issuers.
const authServer = `
config:
  public_url: https://mcp.example.com
  servers:
    - name: notes
      url: https://notes.internal.example/mcp
  scopes: [{name: "notes:read", server: notes, level: read}]
  auth: {scopes_supported: [], challenge_scopes: []}
  authorization_server:
    enabled: true
    idp:
      issuer: https://login.example.com/realms/corp
      client_id: mcpgate
      client_secret: {value_from_file: /var/run/secrets/mcpgate/idp/client-secret}
    signing_keys:
      - value_from_file: /var/run/secrets/mcpgate/as-keys/current.pem
secretMounts:
  - {name: idp, existingSecret: mcpgate-idp}
  - {name: as-keys, existingSecret: mcpgate-as-keys}
`

// withStore returns authServer with config.store set to store (flow YAML).
func withStore(store string) string {
	return strings.Replace(authServer, "  authorization_server:\n", "  store: "+store+"\n  authorization_server:\n", 1)
}

// modeOff is authServer with the mode switched off and an issuer instead.
var modeOff = strings.Replace(strings.Replace(authServer, "auth: {scopes_supported: [], challenge_scopes: []}", "auth: {issuers: [{issuer: https://login.example.com/realms/corp}]}", 1), "  authorization_server:\n    enabled: true\n",
	"  authorization_server:\n    enabled: false\n", 1)

// postgresStore is a PostgreSQL store whose DSN comes from a mounted Secret.
const postgresStore = "{kind: postgres, dsn_from_file: /var/run/secrets/mcpgate/store/dsn}"

// TestAuthorizationServerReplicas checks that authorization-server mode
// with more than one replica is refused unless the store is PostgreSQL:
// a file store is per pod, and a sign-in that starts on one replica must
// end on another. What renders, the gateway must accept as `serve` does.
func TestAuthorizationServerReplicas(t *testing.T) {
	const refused = "config.authorization_server.enabled is true and several replicas may run"
	pg := withStore(postgresStore) + "  - {name: store, existingSecret: mcpgate-store}\n"
	for name, tc := range map[string]struct{ values, want string }{
		"one replica, file store": {authServer, ""},
		"three replicas, file store": {authServer + "replicaCount: 3\n",
			refused + ` (replicaCount: 3), but config.store.kind is "file"`},
		"three replicas, explicit file": {withStore("{kind: file, path: /data/store.db}") + "replicaCount: 3\n",
			refused + ` (replicaCount: 3), but config.store.kind is "file"`},
		"autoscaling, file store": {authServer + "autoscaling: {enabled: true, minReplicas: 2, maxReplicas: 4}\n",
			refused + ` (autoscaling.enabled with maxReplicas: 4), but config.store.kind is "file"`},
		"autoscaling up to one":       {authServer + "replicaCount: 3\nautoscaling: {enabled: true, minReplicas: 1, maxReplicas: 1}\n", ""},
		"three replicas, PostgreSQL":  {pg + "replicaCount: 3\n", ""},
		"autoscaling, PostgreSQL":     {pg + "autoscaling: {enabled: true}\n", ""},
		"mode off, three replicas":    {modeOff + "replicaCount: 3\n", ""},
		"mode off, no IdP, autoscale": {minimal + "autoscaling: {enabled: true}\n", ""},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.want != "" {
				msg := renderError(t, tc.values)
				wantContains(t, "the refusal", msg, tc.want,
					"Set config.store.kind: postgres with dsn_from_file", "or run one replica (replicaCount: 1, autoscaling.enabled: false)")
				return
			}
			cfg := servedConfig(t, mustRender(t, tc.values))
			if cfg.AuthorizationServer.Enabled && !cfg.Store.Configured() {
				t.Errorf("authorization-server mode renders without a store: %+v", cfg.Store)
			}
		})
	}
}

// servedConfig parses the rendered mcpgate.yaml with the gateway's loader
// and fails unless `mcpgate serve` would accept it, before it reads the
// files that exist only in the pod.
func servedConfig(t *testing.T, r *rendered) *config.Config {
	t.Helper()
	src := r.configMap(t, fullname).Data["mcpgate.yaml"]
	cfg, err := config.Parse([]byte(src), "mcpgate.yaml")
	if err != nil {
		t.Fatalf("the gateway refuses the rendered config: %v\n%s", err, src)
	}
	if err := errors.Join(cfg.RequireAuth(), cfg.RequirePolicy(), cfg.RequireStore()); err != nil {
		t.Fatalf("mcpgate serve would refuse: %v\n%s", err, src)
	}
	return cfg
}

// TestAuthorizationServerStore checks that the mode always gets a store:
// the gateway refuses to start without one, and the chart gives each pod a
// file on its emptyDir unless config.store says otherwise. NOTES warns that
// such a file forgets registrations, consents and refresh tokens at every
// restart, unless it is on a mounted volume or the store is PostgreSQL.
func TestAuthorizationServerStore(t *testing.T) {
	const warning = "config.authorization_server keeps client registrations, consents and refresh tokens in the store, a file on the pod's emptyDir (/var/lib/mcpgate/store.db)"
	r := mustRender(t, authServer)
	cfg := servedConfig(t, r)
	if cfg.Store.Kind != config.StoreFile || cfg.Store.Path != "/var/lib/mcpgate/store.db" {
		t.Errorf("store = %+v, want the chart's file on the state volume", cfg.Store)
	}
	wantContains(t, "NOTES with the default store", r.files["templates/NOTES.txt"], warning)

	pvc := withStore("{path: /var/lib/mcpgate-data/store.db}") + `
extraVolumes: [{name: data, persistentVolumeClaim: {claimName: mcpgate-data}}]
extraVolumeMounts: [{name: data, mountPath: /var/lib/mcpgate-data}]
strategy: {type: Recreate, rollingUpdate: null}
`
	r = mustRender(t, pvc)
	if cfg := servedConfig(t, r); cfg.Store.Path != "/var/lib/mcpgate-data/store.db" {
		t.Errorf("store = %+v, want the configured path kept", cfg.Store)
	}
	if d := r.deployment(t); d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("strategy = %+v, want Recreate alone (a second pod cannot open the locked file)", d.Spec.Strategy)
	}
	for name, values := range map[string]string{
		"file on a volume":   pvc,
		"PostgreSQL":         withStore(postgresStore) + "  - {name: store, existingSecret: mcpgate-store}\n",
		"mode off":           minimal,
		"mode off, explicit": modeOff,
	} {
		if notes := mustRender(t, values).files["templates/NOTES.txt"]; strings.Contains(notes, "keeps client registrations") {
			t.Errorf("%s: NOTES warns about the store:\n%s", name, notes)
		}
	}
}

// TestAuthorizationServerLiteralSecrets checks that the mode's secrets can
// only be references: the schema refuses a literal, and so do the
// templates when schema validation is skipped (helm --skip-schema-validation),
// since the value would land in the ConfigMap.
func TestAuthorizationServerLiteralSecrets(t *testing.T) {
	for name, tc := range map[string]struct{ from, to, schema, template string }{
		"IdP secret as a string": {"client_secret: {value_from_file: /var/run/secrets/mcpgate/idp/client-secret}", "client_secret: hunter2",
			"at '/config/authorization_server/idp/client_secret': got string, want object",
			"config.authorization_server.idp.client_secret has a literal value"},
		"IdP secret as a value": {"client_secret: {value_from_file: /var/run/secrets/mcpgate/idp/client-secret}", "client_secret: {value: hunter2}",
			"additional properties 'value' not allowed",
			"config.authorization_server.idp.client_secret has a literal value"},
		"signing key inline": {"      - value_from_file: /var/run/secrets/mcpgate/as-keys/current.pem\n",
			"      - value_from_file: /var/run/secrets/mcpgate/as-keys/current.pem\n      - \"-----BEGIN PRIVATE KEY-----\"\n",
			"at '/config/authorization_server/signing_keys/1': got string, want object",
			"config.authorization_server.signing_keys[1] has a literal value"},
		"client secret as a value": {"    signing_keys:\n",
			"    clients: [{client_id: agent, redirect_uris: ['http://127.0.0.1/cb'], client_secret: {value: s3cret}}]\n    signing_keys:\n",
			"additional properties 'value' not allowed",
			"config.authorization_server.clients[0].client_secret has a literal value"},
	} {
		t.Run(name, func(t *testing.T) {
			values := strings.Replace(authServer, tc.from, tc.to, 1)
			if values == authServer {
				t.Fatalf("%q is not in the values", tc.from)
			}
			msg := renderError(t, values)
			wantContains(t, "the schema's refusal", msg, "values don't meet the specifications of the schema", tc.schema)
			wantContains(t, "the template's refusal", renderSkippingSchema(t, values),
				tc.template, "which would put a credential into the ConfigMap: mount a Secret with secretMounts and use value_from_file")
		})
	}
}

// renderSkippingSchema renders values as `helm install
// --skip-schema-validation` would and returns the error, failing if there
// is none.
func renderSkippingSchema(t *testing.T, values string) string {
	t.Helper()
	c, top, err := renderValues(t, values, true)
	if err == nil {
		_, err = engine.Engine{Strict: true}.Render(c, top)
	}
	if err == nil {
		t.Fatalf("render succeeded, want an error; values:\n%s", values)
	}
	return err.Error()
}

// TestAuthorizationServerRoutes checks that the Ingress and the HTTPRoute
// route the authorization server's endpoints in that mode only, each once,
// after the configured paths.
func TestAuthorizationServerRoutes(t *testing.T) {
	const exposed = `
ingress: {enabled: true, hosts: [mcp.example.com]}
httpRoute: {enabled: true, parentRefs: [{name: public}], hostnames: [mcp.example.com]}
`
	const ownPaths = `
ingress: {enabled: true, hosts: [mcp.example.com], paths: [{path: /mcp, pathType: Prefix}, {path: /oauth, pathType: Prefix}]}
httpRoute: {enabled: true, parentRefs: [{name: public}], hostnames: [mcp.example.com], paths: [/mcp, /oauth]}
`
	const asPaths = " /.well-known/oauth-authorization-server /.well-known/openid-configuration"
	for name, tc := range map[string]struct{ values, want string }{
		"mode off":  {minimal + exposed, "/mcp /.well-known/oauth-protected-resource"},
		"mode on":   {authServer + exposed, "/mcp /.well-known/oauth-protected-resource /oauth" + asPaths},
		"own paths": {authServer + ownPaths, "/mcp /oauth" + asPaths},
		"employee pages": {minimal + exposed + `
config:
  web_sign_in: {enabled: true}
  servers: [{name: github, url: "https://api.githubcopilot.com/mcp/", auth: {kind: oauth}}]
`, "/mcp /.well-known/oauth-protected-resource /signin /signout /connect /connections"},
	} {
		t.Run(name, func(t *testing.T) {
			r := mustRender(t, tc.values)
			var ing networkingv1.Ingress
			r.one(t, "Ingress", fullname).decode(t, &ing)
			var got []string
			for _, p := range ing.Spec.Rules[0].HTTP.Paths {
				got = append(got, p.Path)
				if p.Path == "/oauth" && *p.PathType != networkingv1.PathTypePrefix {
					t.Errorf("/oauth has pathType %s, want Prefix", *p.PathType)
				}
			}
			equal(t, "Ingress paths", strings.Join(got, " "), tc.want)
			got = nil
			for _, m := range lookup(t, r.one(t, "HTTPRoute", fullname).m, "spec", "rules", 0, "matches").([]any) {
				got = append(got, lookup(t, m, "path", "value").(string))
			}
			equal(t, "HTTPRoute paths", strings.Join(got, " "), tc.want)
		})
	}
}

// TestAuthorizationServerNotes checks what the release notes say in the
// mode: where the IdP must send employees back, no demand for
// auth.issuers, and the mode's files that no volume mounts.
func TestAuthorizationServerNotes(t *testing.T) {
	notes := mustRender(t, authServer).files["templates/NOTES.txt"]
	wantContains(t, "NOTES in authorization-server mode", notes,
		"Authorization server: https://mcp.example.com (metadata: https://mcp.example.com/.well-known/oauth-authorization-server)",
		"Register https://mcp.example.com/oauth/callback as the redirect URI")
	for _, unwanted := range []string{"config.auth.issuers is empty", "Access tokens must carry the audience", "is not under a mounted directory"} {
		if strings.Contains(notes, unwanted) {
			t.Errorf("NOTES says %q in authorization-server mode:\n%s", unwanted, notes)
		}
	}
	unmounted := strings.Replace(authServer, "/var/run/secrets/mcpgate/as-keys/current.pem", "/etc/keys/current.pem", 1)
	unmounted = strings.Replace(unmounted, "  authorization_server:\n", "  store: {kind: postgres, dsn_from_file: /etc/store/dsn, vault_key_file: /etc/vault/keys}\n  authorization_server:\n", 1)
	wantContains(t, "NOTES with unmounted files", mustRender(t, unmounted).files["templates/NOTES.txt"],
		"config.authorization_server.signing_keys[0].value_from_file /etc/keys/current.pem is not under a mounted directory",
		"config.store.dsn_from_file /etc/store/dsn is not under a mounted directory",
		"config.store.vault_key_file /etc/vault/keys is not under a mounted directory")
}

// TestReadmeAuthorizationServerExample renders the values of the README's
// "Authorization-server mode": the example for several replicas as it is,
// and the one-replica variant over it without the PostgreSQL store.
func TestReadmeAuthorizationServerExample(t *testing.T) {
	readme := readFile(t, chartDir+"/README.md")
	_, section, ok := strings.Cut(readme, "\n## Authorization-server mode\n")
	if !ok {
		t.Fatal("README.md has no section Authorization-server mode")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks []string
	for _, part := range strings.Split(section, "```yaml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		blocks = append(blocks, block)
	}
	if len(blocks) != 2 {
		t.Fatalf("the section has %d YAML blocks, want 2 (several replicas, one replica)", len(blocks))
	}
	several := blocks[0]
	r := mustRender(t, several)
	if cfg := servedConfig(t, r); cfg.Store.Kind != config.StorePostgres || len(cfg.Scopes) == 0 {
		t.Errorf("the example's store %+v and scopes %+v, want PostgreSQL and a catalogue", cfg.Store, cfg.Scopes)
	}
	one := strings.NewReplacer("replicaCount: 3\n", "", "  store: {kind: postgres, dsn_from_file: /var/run/secrets/mcpgate/store/dsn}\n", "").Replace(several)
	var lines []string
	for _, l := range strings.Split(blocks[1], "\n") {
		lines = append(lines, strings.TrimPrefix(l, "  "))
	}
	merged := mergeValues(t, one, strings.Join(lines, "\n"))
	r = mustRender(t, merged)
	if cfg := servedConfig(t, r); cfg.Store.Path != "/var/lib/mcpgate-data/store.db" {
		t.Errorf("the one-replica example's store = %+v", cfg.Store)
	}
	if notes := r.files["templates/NOTES.txt"]; strings.Contains(notes, "keeps client registrations") || strings.Contains(notes, "not under a mounted directory") {
		t.Errorf("NOTES warns about the one-replica example's store or files:\n%s", notes)
	}
}

// mergeValues merges the YAML values over as Helm merges -f files: maps
// key by key, anything else replaced.
func mergeValues(t *testing.T, base, over string) string {
	t.Helper()
	b, err := chartutil.ReadValues([]byte(base))
	if err != nil {
		t.Fatalf("values YAML: %v", err)
	}
	o, err := chartutil.ReadValues([]byte(over))
	if err != nil {
		t.Fatalf("values YAML: %v\n%s", err, over)
	}
	out, err := chartutil.Values(chartutil.MergeTables(o, b)).YAML()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
