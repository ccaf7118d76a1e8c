package charttest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// minimal is the least a working install sets.
const minimal = `
config:
  public_url: https://mcp.example.com
  servers:
    - name: notes
      url: https://notes.internal.example/mcp
  auth:
    issuers:
      - issuer: https://login.example.com/realms/corp
`

// optional are the kinds the chart renders only when asked to.
var optional = []string{"HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Ingress", "HTTPRoute", "ServiceMonitor"}

func TestDefaultValuesRender(t *testing.T) {
	r := mustRender(t, "")
	var got []string
	for _, o := range r.objects {
		got = append(got, o.kind+"/"+o.name)
	}
	slices.Sort(got)
	want := []string{
		"ConfigMap/" + fullname, "ConfigMap/" + fullname + "-policy", "Deployment/" + fullname,
		"Secret/" + fullname + "-session", "Service/" + fullname, "ServiceAccount/" + fullname,
	}
	if !slices.Equal(got, want) {
		t.Errorf("default values render\n  %v\nwant\n  %v", got, want)
	}
	for _, kind := range optional {
		if objs := r.find(kind); len(objs) > 0 {
			t.Errorf("%s rendered by default", kind)
		}
	}
	for _, o := range r.objects {
		if ns := lookup(t, o.m, "metadata", "namespace"); ns != namespace {
			t.Errorf("%s %s: namespace %v, want the release namespace", o.kind, o.name, ns)
		}
	}
}

// TestRestrictedPodSecurity checks the fields of the "restricted" Pod
// Security Standard on the pod and every container, with the default values
// and with every CI values file.
func TestRestrictedPodSecurity(t *testing.T) {
	cases := ciValuesFiles(t)
	cases["default"] = ""
	for name, values := range cases {
		t.Run(name, func(t *testing.T) {
			d := mustRender(t, values).deployment(t)
			pod := d.Spec.Template.Spec
			psc := pod.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
				t.Error("pod: runAsNonRoot is not true")
			}
			if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Error("pod: seccompProfile is not RuntimeDefault")
			}
			if psc != nil && (psc.RunAsUser == nil || *psc.RunAsUser == 0) {
				t.Errorf("pod: runAsUser = %v, want the image's non-root uid 65532", ptrValue(psc.RunAsUser))
			}
			if pod.HostNetwork || pod.HostPID || pod.HostIPC {
				t.Error("pod shares a host namespace")
			}
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Error("pod: automountServiceAccountToken is not false; the gateway never calls the Kubernetes API")
			}
			for _, v := range pod.Volumes {
				if v.HostPath != nil {
					t.Errorf("volume %s is a hostPath", v.Name)
				}
			}
			all := append(slices.Clone(pod.InitContainers), pod.Containers...)
			for _, c := range all {
				sc := c.SecurityContext
				if sc == nil {
					t.Errorf("container %s has no securityContext", c.Name)
					continue
				}
				check := func(what string, ok bool) {
					if !ok {
						t.Errorf("container %s: %s", c.Name, what)
					}
				}
				check("allowPrivilegeEscalation is not false", sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation)
				check("readOnlyRootFilesystem is not true", sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem)
				check("runAsNonRoot is not true", sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)
				check("privileged", sc.Privileged == nil || !*sc.Privileged)
				check("capabilities do not drop ALL", sc.Capabilities != nil && slices.Contains(sc.Capabilities.Drop, "ALL"))
				check("capabilities add something", sc.Capabilities == nil || len(sc.Capabilities.Add) == 0)
				check("seccompProfile is not RuntimeDefault", sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault)
			}
			// A read-only root filesystem needs a writable /tmp (OPA's
			// bundle store, Go's temporary files).
			if m, v := mount(t, d, "/tmp"); m.ReadOnly || v.EmptyDir == nil {
				t.Errorf("/tmp is not a writable emptyDir: %+v %+v", m, v)
			}
		})
	}
}

func TestProbes(t *testing.T) {
	for _, tc := range []struct {
		values string
		port   int32
	}{{"", 8080}, {"containerPort: 9090", 9090}} {
		t.Run(fmt.Sprint(tc.port), func(t *testing.T) {
			r := mustRender(t, tc.values)
			c := container(t, r.deployment(t))
			if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != tc.port {
				t.Fatalf("ports = %+v, want one named http on %d", c.Ports, tc.port)
			}
			for _, p := range []struct {
				name  string
				probe *corev1.Probe
				path  string
			}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}, {"startup", c.StartupProbe, "/healthz"}} {
				if p.probe == nil || p.probe.HTTPGet == nil {
					t.Errorf("%s probe: none, or not HTTP", p.name)
					continue
				}
				equal(t, p.name+" path", p.probe.HTTPGet.Path, p.path)
				equal(t, p.name+" port", p.probe.HTTPGet.Port, intstr.FromString("http"))
			}
			// The gateway listens on the port the probes and the Service use.
			equal(t, "config listen", r.gatewayConfig(t)["listen"], any(fmt.Sprintf("0.0.0.0:%d", tc.port)))
			var svc corev1.Service
			r.one(t, "Service", fullname).decode(t, &svc)
			equal(t, "service targetPort", svc.Spec.Ports[0].TargetPort, intstr.FromString("http"))
		})
	}
	// The probes can be replaced or turned off.
	c := container(t, mustRender(t, "startupProbe: null\nreadinessProbe: {periodSeconds: 3}").deployment(t))
	if c.StartupProbe != nil {
		t.Error("startupProbe: null still renders a startup probe")
	}
	equal(t, "readiness period", c.ReadinessProbe.PeriodSeconds, 3)
}

func TestGatewayConfig(t *testing.T) {
	r := mustRender(t, minimal+`
  session_idle_timeout: 10m
  naming: {separator: "."}
  telemetry: {traces_exporter: otlp}
`)
	cfg := r.gatewayConfig(t)
	// Chart-managed keys.
	equal(t, "listen", cfg["listen"], any("0.0.0.0:8080"))
	equal(t, "session_key_file", cfg["session_key_file"], any("/var/run/secrets/mcpgate/session/keys"))
	equal(t, "policy.dir", lookup(t, cfg, "policy", "dir"), any("/etc/mcpgate/policy"))
	if _, ok := cfg["policy"].(map[string]any)["opa_config_file"]; ok {
		t.Error("policy.opa_config_file is set with policy.source=values")
	}
	// User values, passed through as they are.
	equal(t, "public_url", cfg["public_url"], any("https://mcp.example.com"))
	equal(t, "servers[0].url", lookup(t, cfg, "servers", 0, "url"), any("https://notes.internal.example/mcp"))
	equal(t, "issuer", lookup(t, cfg, "auth", "issuers", 0, "issuer"), any("https://login.example.com/realms/corp"))
	equal(t, "session_idle_timeout", cfg["session_idle_timeout"], any("10m"))
	equal(t, "naming.separator", lookup(t, cfg, "naming", "separator"), any("."))
	equal(t, "telemetry.traces_exporter", lookup(t, cfg, "telemetry", "traces_exporter"), any("otlp"))
	// Defaults of values.yaml.
	equal(t, "shutdown_grace", cfg["shutdown_grace"], any("30s"))
	equal(t, "policy.timeout", lookup(t, cfg, "policy", "timeout"), any("1s"))

	// The file is mounted where the image's CMD and $MCPGATE_CONFIG look.
	d := r.deployment(t)
	m, v := mount(t, d, "/etc/mcpgate/mcpgate.yaml")
	if !m.ReadOnly || m.SubPath != "mcpgate.yaml" || v.ConfigMap == nil || v.ConfigMap.Name != fullname {
		t.Errorf("config mount %+v of volume %+v", m, v)
	}
	c := container(t, d)
	if !slices.Equal(c.Args[:3], []string{"serve", "--config", "/etc/mcpgate/mcpgate.yaml"}) {
		t.Errorf("args = %v", c.Args)
	}
	if e := env(c, "MCPGATE_CONFIG"); e == nil || e.Value != "/etc/mcpgate/mcpgate.yaml" {
		t.Errorf("MCPGATE_CONFIG = %+v", e)
	}
}

func env(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func TestPublicURL(t *testing.T) {
	for name, tc := range map[string]struct{ values, want string }{
		"explicit":            {"config: {public_url: https://gw.example.org/}", "https://gw.example.org"},
		"ingress with TLS":    {"ingress: {enabled: true, hosts: [mcp.example.com], tls: [{secretName: t, hosts: [mcp.example.com]}]}", "https://mcp.example.com"},
		"ingress without TLS": {"ingress: {enabled: true, hosts: [mcp.example.com]}", "http://mcp.example.com"},
		"httproute":           {"httpRoute: {enabled: true, parentRefs: [{name: gw}], hostnames: [mcp.example.com]}", "https://mcp.example.com"},
		"explicit wins":       {"config: {public_url: https://a.example}\ningress: {enabled: true, hosts: [b.example]}", "https://a.example"},
		"none":                {"", ""},
	} {
		t.Run(name, func(t *testing.T) {
			r := mustRender(t, tc.values)
			got, _ := r.gatewayConfig(t)["public_url"].(string)
			equal(t, "public_url", got, tc.want)
			wantURL := tc.want + "/mcp"
			if tc.want == "" {
				wantURL = "http://localhost:8080/mcp"
			}
			wantContains(t, "NOTES.txt", r.files["templates/NOTES.txt"], "MCP endpoint: "+wantURL,
				"claude mcp add --transport http mcpgate "+wantURL,
				`{"servers": {"mcpgate": {"type": "http", "url": "`+wantURL+`"}}}`)
		})
	}
}

func TestConfigChecksumRollsPods(t *testing.T) {
	checksum := func(values string) string {
		d := mustRender(t, values).deployment(t)
		return d.Spec.Template.Annotations["checksum/config"]
	}
	base := checksum(minimal)
	if base == "" {
		t.Fatal("no checksum/config annotation on the pod template")
	}
	if again := checksum(minimal); again != base {
		t.Error("checksum/config changes between two renders of the same values")
	}
	if c := checksum(minimal + "  session_idle_timeout: 5m\n"); c == base {
		t.Error("checksum/config does not change when the config changes")
	}
	if c := checksum(minimal + "podLabels: {a: b}\n"); c != base {
		t.Error("checksum/config changes with a value that is not in the config")
	}
	// The OPA configuration is part of the ConfigMap, and of the checksum.
	bundle := minimal + "policy: {source: bundle, library: none, bundle: {url: https://b.example, resource: r}}\n"
	if checksum(bundle) == checksum(strings.Replace(bundle, "resource: r", "resource: s", 1)) {
		t.Error("checksum/config does not follow the OPA configuration")
	}
	// The policy reloads in place; rolling on a policy change is opt-in.
	d := mustRender(t, minimal).deployment(t)
	if _, ok := d.Spec.Template.Annotations["checksum/policy"]; ok {
		t.Error("checksum/policy is set although policy.rollOnChange is false")
	}
	d = mustRender(t, minimal+"policy: {rollOnChange: true}").deployment(t)
	if d.Spec.Template.Annotations["checksum/policy"] == "" {
		t.Error("policy.rollOnChange: true sets no checksum/policy")
	}
}

func TestPolicyFromValues(t *testing.T) {
	r := mustRender(t, minimal+`
policy:
  values:
    data:
      groups:
        engineering:
          servers: {notes: {tools: {"*": read}}}
    files:
      extra.rego: |
        package mcpgate.authz
`)
	cm := r.configMap(t, fullname+"-policy")
	if got := keys(cm.Data); !slices.Equal(got, []string{"data.json", "extra.rego"}) {
		t.Errorf("policy ConfigMap has %v, want only the organisation's data.json and extra.rego (the library is built into the image)", got)
	}
	wantContains(t, "extra.rego", cm.Data["extra.rego"], "package mcpgate.authz")
	var data map[string]any
	if err := json.Unmarshal([]byte(cm.Data["data.json"]), &data); err != nil {
		t.Fatalf("data.json: %v\n%s", err, cm.Data["data.json"])
	}
	equal(t, "data.json groups", fmt.Sprint(lookup(t, data, "mcpgate", "config", "groups", "engineering", "servers", "notes", "tools", "*")), "read")
	equal(t, "data.json initialize (a default)", fmt.Sprint(lookup(t, data, "mcpgate", "config", "initialize", "groups")), "[]")

	d := r.deployment(t)
	m, v := mount(t, d, "/etc/mcpgate/policy")
	if !m.ReadOnly || m.SubPath != "" || v.ConfigMap == nil || v.ConfigMap.Name != fullname+"-policy" {
		t.Errorf("policy mount %+v of volume %+v: want the whole ConfigMap, read-only, without subPath (so updates reach the pod)", m, v)
	}
	equal(t, "policy.dir", lookup(t, r.gatewayConfig(t), "policy", "dir"), any("/etc/mcpgate/policy"))
	equal(t, "policy.library", lookup(t, r.gatewayConfig(t), "policy", "library"), any("builtin"))

	// null values render as their absence.
	for _, values := range []string{"policy: {values: {files: null}}", "policy: {values: {data: null}}", "terminationGracePeriodSeconds: null",
		"autoscaling: {enabled: true, targetMemoryUtilizationPercentage: null}", "podDisruptionBudget: {minAvailable: null}\nreplicaCount: 2"} {
		if _, err := render(t, minimal+values); err != nil {
			t.Errorf("%q: %v", values, err)
		}
	}

	// Without the library: only the user's files, and the gateway is told.
	r = mustRender(t, minimal+"policy: {library: none, values: {data: null, files: {own.rego: 'package mcpgate.authz'}}}")
	if cm = r.configMap(t, fullname+"-policy"); len(cm.Data) != 1 || cm.Data["own.rego"] == "" {
		t.Errorf("library: none, data: null renders %v, want only own.rego", keys(cm.Data))
	}
	equal(t, "policy.library", lookup(t, r.gatewayConfig(t), "policy", "library"), any("none"))
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestPolicyFromExistingConfigMap(t *testing.T) {
	r := mustRender(t, minimal+"policy: {source: configMap, configMap: {name: security-policy}}")
	for _, o := range r.find("ConfigMap") {
		if o.name != fullname {
			t.Errorf("ConfigMap %s rendered although the policy comes from an existing ConfigMap", o.name)
		}
	}
	m, v := mount(t, r.deployment(t), "/etc/mcpgate/policy")
	if !m.ReadOnly || m.SubPath != "" || v.ConfigMap == nil || v.ConfigMap.Name != "security-policy" {
		t.Errorf("policy mount %+v of volume %+v", m, v)
	}
	equal(t, "policy.dir", lookup(t, r.gatewayConfig(t), "policy", "dir"), any("/etc/mcpgate/policy"))
	equal(t, "policy.library", lookup(t, r.gatewayConfig(t), "policy", "library"), any("builtin"))
}

func TestPolicyFromBundle(t *testing.T) {
	r := mustRender(t, minimal+`
policy:
  source: bundle
  library: none
  bundle:
    url: https://bundles.example.com
    resource: bundles/mcpgate.tar.gz
    bearerToken: {existingSecret: bundle-token, key: tok}
    signing: {keyId: k1, publicKey: PEM, algorithm: ES256}
    opaConfig:
      decision_logs: {service: policy}
      bundles: {mcpgate: {persist: true}}
`)
	if objs := r.find("ConfigMap"); len(objs) != 1 {
		t.Errorf("ConfigMaps %s; want only the config (no policy ConfigMap for bundles)", r.kinds())
	}
	cfg := r.gatewayConfig(t)
	equal(t, "policy.opa_config_file", lookup(t, cfg, "policy", "opa_config_file"), any("/etc/mcpgate/opa.yaml"))
	if _, ok := cfg["policy"].(map[string]any)["dir"]; ok {
		t.Error("policy.dir is set with policy.source=bundle")
	}
	var opa map[string]any
	if err := yaml.Unmarshal([]byte(r.configMap(t, fullname).Data["opa.yaml"]), &opa); err != nil {
		t.Fatalf("opa.yaml: %v", err)
	}
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"services", "policy", "url"}, "https://bundles.example.com"},
		{[]any{"services", "policy", "credentials", "bearer", "token_path"}, "/var/run/secrets/mcpgate/policy-bundle/token"},
		{[]any{"services", "policy", "credentials", "bearer", "scheme"}, "Bearer"},
		{[]any{"bundles", "mcpgate", "service"}, "policy"},
		{[]any{"bundles", "mcpgate", "resource"}, "bundles/mcpgate.tar.gz"},
		{[]any{"bundles", "mcpgate", "polling", "min_delay_seconds"}, float64(60)},
		{[]any{"bundles", "mcpgate", "polling", "max_delay_seconds"}, float64(120)},
		{[]any{"bundles", "mcpgate", "signing", "keyid"}, "k1"},
		{[]any{"bundles", "mcpgate", "persist"}, true}, // merged from opaConfig
		{[]any{"keys", "k1", "key"}, "PEM"},
		{[]any{"keys", "k1", "algorithm"}, "ES256"},
		{[]any{"decision_logs", "service"}, "policy"},
		{[]any{"persistence_directory"}, "/tmp/opa"},
	} {
		equal(t, fmt.Sprint("opa.yaml ", c.path), lookup(t, opa, c.path...), c.want)
	}
	d := r.deployment(t)
	m, v := mount(t, d, "/etc/mcpgate/opa.yaml")
	if !m.ReadOnly || m.SubPath != "opa.yaml" || v.ConfigMap == nil || v.ConfigMap.Name != fullname {
		t.Errorf("opa.yaml mount %+v of volume %+v", m, v)
	}
	m, v = mount(t, d, "/var/run/secrets/mcpgate/policy-bundle")
	if !m.ReadOnly || v.Secret == nil || v.Secret.SecretName != "bundle-token" ||
		len(v.Secret.Items) != 1 || v.Secret.Items[0] != (corev1.KeyToPath{Key: "tok", Path: "token"}) {
		t.Errorf("bundle token mount %+v of volume %+v", m, v)
	}
	for _, vm := range container(t, d).VolumeMounts {
		if vm.MountPath == "/etc/mcpgate/policy" {
			t.Error("a policy directory is mounted with policy.source=bundle")
		}
	}
	// Without credentials and signing: neither is rendered.
	opa = nil
	r = mustRender(t, minimal+"policy: {source: bundle, library: none, bundle: {url: https://b.example, resource: r, type: oci}}")
	if err := yaml.Unmarshal([]byte(r.configMap(t, fullname).Data["opa.yaml"]), &opa); err != nil {
		t.Fatal(err)
	}
	services := opa["services"].(map[string]any)["policy"].(map[string]any)
	if _, ok := services["credentials"]; ok {
		t.Error("credentials rendered without bearerToken.existingSecret")
	}
	equal(t, "services.policy.type", services["type"], any("oci"))
	if _, ok := opa["keys"]; ok {
		t.Error("keys rendered without signing.keyId")
	}
}

func TestSecretMounts(t *testing.T) {
	r := mustRender(t, minimal+`
secretMounts:
  - name: notes
    existingSecret: notes-upstream
    items: [{key: api-key, path: api-key}]
  - name: idp
    existingSecret: idp-client
`)
	d := r.deployment(t)
	m, v := mount(t, d, "/var/run/secrets/mcpgate/notes")
	if !m.ReadOnly || v.Secret == nil || v.Secret.SecretName != "notes-upstream" || len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != "api-key" {
		t.Errorf("notes mount %+v of volume %+v", m, v)
	}
	if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o440 {
		t.Errorf("defaultMode = %v, want 0440 (readable by the gateway's group only)", ptrValue(v.Secret.DefaultMode))
	}
	if m.SubPath != "" {
		t.Error("a secret mounted with subPath is never updated: rotation would need a restart")
	}
	m, v = mount(t, d, "/var/run/secrets/mcpgate/idp")
	if !m.ReadOnly || v.Secret == nil || v.Secret.SecretName != "idp-client" || v.Secret.Items != nil {
		t.Errorf("idp mount %+v of volume %+v", m, v)
	}
	// Every Secret volume, the chart's own included, is mounted read-only.
	for _, vm := range container(t, d).VolumeMounts {
		for _, vol := range d.Spec.Template.Spec.Volumes {
			if vol.Name == vm.Name && vol.Secret != nil && !vm.ReadOnly {
				t.Errorf("secret volume %s is mounted writable", vm.Name)
			}
		}
	}
	// The chart renders no Secret but the session key, and puts no secret
	// value into the environment.
	for _, o := range r.find("Secret") {
		if o.name != fullname+"-session" {
			t.Errorf("Secret %s rendered: secrets are referenced, never created from values", o.name)
		}
	}
}

func TestSessionKeys(t *testing.T) {
	r := mustRender(t, minimal)
	var s corev1.Secret
	r.one(t, "Secret", fullname+"-session").decode(t, &s)
	if s.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Error("the session key Secret lacks helm.sh/resource-policy: keep")
	}
	lines := strings.Split(strings.TrimSpace(string(s.Data["keys"])), "\n")
	if len(lines) != 1 {
		t.Fatalf("keys file has %d lines, want 1", len(lines))
	}
	key, err := base64.StdEncoding.DecodeString(lines[0])
	if err != nil || len(key) != 32 {
		t.Errorf("keys file line %q is not a base64 32-byte key (%v, %d bytes)", lines[0], err, len(key))
	}
	d := r.deployment(t)
	m, v := mount(t, d, "/var/run/secrets/mcpgate/session")
	if !m.ReadOnly || v.Secret == nil || v.Secret.SecretName != fullname+"-session" ||
		len(v.Secret.Items) != 1 || v.Secret.Items[0] != (corev1.KeyToPath{Key: "keys", Path: "keys"}) {
		t.Errorf("session key mount %+v of volume %+v", m, v)
	}
	equal(t, "session_key_file", r.gatewayConfig(t)["session_key_file"], any("/var/run/secrets/mcpgate/session/keys"))
	// The session key never rolls the pods: it is not in the config checksum.
	if a, b := d.Spec.Template.Annotations["checksum/config"], mustRender(t, minimal).deployment(t).Spec.Template.Annotations["checksum/config"]; a != b {
		t.Error("checksum/config differs between renders: does it include the random session key?")
	}

	// An existing Secret: the chart creates none and mounts that one.
	r = mustRender(t, minimal+"sessions: {existingSecret: my-keys, key: session.keys}")
	if objs := r.find("Secret"); len(objs) > 0 {
		t.Errorf("Secret rendered with sessions.existingSecret: %s", r.kinds())
	}
	_, v = mount(t, r.deployment(t), "/var/run/secrets/mcpgate/session")
	if v.Secret == nil || v.Secret.SecretName != "my-keys" || v.Secret.Items[0] != (corev1.KeyToPath{Key: "session.keys", Path: "keys"}) {
		t.Errorf("session key volume %+v", v)
	}
	equal(t, "session_key_file", r.gatewayConfig(t)["session_key_file"], any("/var/run/secrets/mcpgate/session/keys"))
}

// TestSessionKeyKeptAcrossUpgrades renders against a cluster that already
// holds the session key Secret: an upgrade must keep its key, or every open
// session would end.
func TestSessionKeyKeptAcrossUpgrades(t *testing.T) {
	keys := base64.StdEncoding.EncodeToString([]byte("c2VhbGluZyBrZXkgb2YgdGhlIGZpcnN0IGluc3RhbGwh\n"))
	r, err := renderWith(t, minimal, newCluster(clusterObject("v1", "Secret", fullname+"-session", map[string]any{"data": map[string]any{"keys": keys}})))
	if err != nil {
		t.Fatal(err)
	}
	var s corev1.Secret
	r.one(t, "Secret", fullname+"-session").decode(t, &s)
	if got := base64.StdEncoding.EncodeToString(s.Data["keys"]); got != keys {
		t.Errorf("upgrade renders session keys %q, want the existing %q", got, keys)
	}
}

func TestGracefulTermination(t *testing.T) {
	for _, tc := range []struct {
		values string
		want   int64
	}{
		{"", 5 + 30 + 10},
		{"config: {shutdown_grace: 1m30s}", 5 + 90 + 10},
		{"config: {shutdown_grace: 2500ms}\npreStopSleepSeconds: 10", 10 + 3 + 10},
		{"config: {shutdown_grace: \"0\"}\npreStopSleepSeconds: 0", 10},
		{"terminationGracePeriodSeconds: 120", 120},
		{"terminationGracePeriodSeconds: 35", 35},
	} {
		d := mustRender(t, tc.values).deployment(t)
		equal(t, fmt.Sprintf("terminationGracePeriodSeconds with %q", tc.values), ptrValue(d.Spec.Template.Spec.TerminationGracePeriodSeconds), any(fmt.Sprint(tc.want)))
	}
	c := container(t, mustRender(t, "").deployment(t))
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds != 5 {
		t.Errorf("preStop = %+v, want the native sleep action for 5s (the image has no shell)", c.Lifecycle)
	}
	if c.Lifecycle.PreStop.Exec != nil {
		t.Error("preStop uses exec: the distroless image has no sleep binary")
	}
	if c := container(t, mustRender(t, "preStopSleepSeconds: 0").deployment(t)); c.Lifecycle != nil {
		t.Errorf("preStopSleepSeconds: 0 still renders %+v", c.Lifecycle)
	}
}

func TestOptionalResources(t *testing.T) {
	full := ciValuesFiles(t)["full-values.yaml"]
	r := mustRender(t, full)
	for _, kind := range optional {
		if len(r.find(kind)) != 1 {
			t.Errorf("full-values.yaml renders %d %s, want 1", len(r.find(kind)), kind)
		}
	}

	t.Run("Ingress", func(t *testing.T) {
		var ing networkingv1.Ingress
		r.one(t, "Ingress", fullname).decode(t, &ing)
		equal(t, "className", ptrValue(ing.Spec.IngressClassName), any("nginx"))
		for k, v := range map[string]string{
			"nginx.ingress.kubernetes.io/proxy-buffering":         "off",
			"nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
			"nginx.ingress.kubernetes.io/proxy-read-timeout":      "3600",
			"nginx.ingress.kubernetes.io/proxy-send-timeout":      "3600",
		} {
			equal(t, "annotation "+k, ing.Annotations[k], v)
		}
		if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "mcp-example-com-tls" {
			t.Errorf("tls = %+v", ing.Spec.TLS)
		}
		rule := ing.Spec.Rules[0]
		equal(t, "host", rule.Host, "mcp.example.com")
		var paths []string
		for _, p := range rule.HTTP.Paths {
			paths = append(paths, p.Path+" "+string(*p.PathType))
			equal(t, "backend", p.Backend.Service.Name, fullname)
			equal(t, "backend port", p.Backend.Service.Port.Number, 80)
		}
		// /readyz and /metrics stay inside the cluster; ingress-nginx refuses
		// a '.' in a Prefix path.
		if !slices.Equal(paths, []string{"/mcp Prefix", "/.well-known/oauth-protected-resource ImplementationSpecific"}) {
			t.Errorf("paths = %v", paths)
		}
		// A default annotation can be dropped with null.
		var ing2 networkingv1.Ingress
		mustRender(t, "ingress: {enabled: true, hosts: [a.example], annotations: {nginx.ingress.kubernetes.io/proxy-body-size: null}}").
			one(t, "Ingress", fullname).decode(t, &ing2)
		if _, ok := ing2.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"]; ok || ing2.Annotations["nginx.ingress.kubernetes.io/proxy-buffering"] != "off" {
			t.Errorf("annotations after dropping one: %v", ing2.Annotations)
		}
	})

	t.Run("HTTPRoute", func(t *testing.T) {
		o := r.one(t, "HTTPRoute", fullname)
		equal(t, "apiVersion", o.m["apiVersion"], any("gateway.networking.k8s.io/v1"))
		equal(t, "parentRef", lookup(t, o.m, "spec", "parentRefs", 0, "name"), any("public"))
		equal(t, "hostname", lookup(t, o.m, "spec", "hostnames", 0), any("mcp.example.com"))
		rule := lookup(t, o.m, "spec", "rules", 0)
		equal(t, "match", lookup(t, rule, "matches", 0, "path", "value"), any("/mcp"))
		equal(t, "match type", lookup(t, rule, "matches", 0, "path", "type"), any("PathPrefix"))
		equal(t, "backend", lookup(t, rule, "backendRefs", 0, "name"), any(fullname))
		equal(t, "timeouts.request", lookup(t, rule, "timeouts", "request"), any("1h"))
		equal(t, "timeouts.backendRequest", lookup(t, rule, "timeouts", "backendRequest"), any("1h"))
	})

	t.Run("HorizontalPodAutoscaler", func(t *testing.T) {
		var hpa autoscalingv2.HorizontalPodAutoscaler
		r.one(t, "HorizontalPodAutoscaler", fullname).decode(t, &hpa)
		equal(t, "target", hpa.Spec.ScaleTargetRef.Name, fullname)
		equal(t, "minReplicas", ptrValue(hpa.Spec.MinReplicas), any("3"))
		equal(t, "maxReplicas", hpa.Spec.MaxReplicas, 12)
		var got []string
		for _, m := range hpa.Spec.Metrics {
			got = append(got, fmt.Sprintf("%s=%d", m.Resource.Name, *m.Resource.Target.AverageUtilization))
		}
		if !slices.Equal(got, []string{"cpu=70", "memory=80"}) {
			t.Errorf("metrics %v", got)
		}
		if d := r.deployment(t); d.Spec.Replicas != nil {
			t.Error("the Deployment sets replicas although the HPA owns them")
		}
	})

	t.Run("PodDisruptionBudget", func(t *testing.T) {
		var pdb policyv1.PodDisruptionBudget
		r.one(t, "PodDisruptionBudget", fullname).decode(t, &pdb)
		equal(t, "maxUnavailable", pdb.Spec.MaxUnavailable.String(), "1")
		equal(t, "selector", pdb.Spec.Selector.MatchLabels["app.kubernetes.io/instance"], releaseName)
		// Only when more than one replica runs: with one, a budget blocks
		// node drains or protects nothing.
		for values, want := range map[string]int{
			"replicaCount: 1": 0, "replicaCount: 2": 1,
			"autoscaling: {enabled: true, minReplicas: 1}": 0, "autoscaling: {enabled: true}": 1,
			"replicaCount: 3\npodDisruptionBudget: {enabled: false}": 0,
		} {
			if n := len(mustRender(t, values).find("PodDisruptionBudget")); n != want {
				t.Errorf("%q renders %d PodDisruptionBudgets, want %d", values, n, want)
			}
		}
		pdb = policyv1.PodDisruptionBudget{}
		mustRender(t, "replicaCount: 3\npodDisruptionBudget: {minAvailable: 2}").one(t, "PodDisruptionBudget", fullname).decode(t, &pdb)
		if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 || pdb.Spec.MaxUnavailable != nil {
			t.Errorf("minAvailable: 2 renders %+v", pdb.Spec)
		}
	})

	t.Run("NetworkPolicy", func(t *testing.T) {
		var np networkingv1.NetworkPolicy
		r.one(t, "NetworkPolicy", fullname).decode(t, &np)
		if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{"Ingress", "Egress"}) {
			t.Errorf("policyTypes %v", np.Spec.PolicyTypes)
		}
		in := np.Spec.Ingress
		if len(in) != 1 || len(in[0].Ports) != 1 || in[0].Ports[0].Port.String() != "http" || len(in[0].From) != 2 {
			t.Errorf("ingress %+v: want the http port from the ingress controller and the monitoring namespaces", in)
		}
		eg := np.Spec.Egress
		if len(eg) != 5 {
			t.Fatalf("%d egress rules, want DNS, public HTTPS, idp, upstreams, otlp", len(eg))
		}
		dns := eg[0]
		if len(dns.Ports) != 2 || dns.Ports[0].Port.IntValue() != 53 || *dns.Ports[0].Protocol != "UDP" || *dns.Ports[1].Protocol != "TCP" {
			t.Errorf("DNS rule %+v", dns)
		}
		public := eg[1]
		if public.Ports[0].Port.IntValue() != 443 || public.To[0].IPBlock == nil || public.To[0].IPBlock.CIDR != "0.0.0.0/0" ||
			!slices.Contains(public.To[0].IPBlock.Except, "169.254.0.0/16") || !slices.Contains(public.To[0].IPBlock.Except, "10.0.0.0/8") {
			t.Errorf("public HTTPS rule %+v: want 443 to 0.0.0.0/0 except private and link-local ranges", public)
		}
		equal(t, "idp rule port", eg[2].Ports[0].Port.IntValue(), 8443)
		equal(t, "upstreams rule", eg[3].To[0].IPBlock.CIDR, "10.20.0.0/16")
		equal(t, "otlp rule port", eg[4].Ports[0].Port.IntValue(), 4318)

		// Strict: only the lists (and DNS).
		np = networkingv1.NetworkPolicy{}
		mustRender(t, "networkPolicy: {enabled: true, egress: {publicHTTPS: {enabled: false}, dns: {enabled: false}}}").
			one(t, "NetworkPolicy", fullname).decode(t, &np)
		if np.Spec.Egress == nil || len(np.Spec.Egress) != 0 {
			t.Errorf("egress with everything off = %#v, want [] (deny all)", np.Spec.Egress)
		}
		if len(np.Spec.Ingress) != 1 || np.Spec.Ingress[0].From != nil {
			t.Errorf("ingress with no sources = %+v, want the port open to any source", np.Spec.Ingress)
		}
	})

	t.Run("ServiceMonitor", func(t *testing.T) {
		o := r.one(t, "ServiceMonitor", fullname)
		equal(t, "apiVersion", o.m["apiVersion"], any("monitoring.coreos.com/v1"))
		equal(t, "path", lookup(t, o.m, "spec", "endpoints", 0, "path"), any("/metrics"))
		equal(t, "port", lookup(t, o.m, "spec", "endpoints", 0, "port"), any("http"))
		equal(t, "label", lookup(t, o.m, "metadata", "labels", "release"), any("kube-prometheus-stack"))
		equal(t, "selector", lookup(t, o.m, "spec", "selector", "matchLabels", "app.kubernetes.io/instance"), any(releaseName))
	})
}

func TestScheduling(t *testing.T) {
	d := mustRender(t, "").deployment(t)
	spread := d.Spec.Template.Spec.TopologySpreadConstraints
	var got []string
	for _, c := range spread {
		got = append(got, fmt.Sprintf("%s/%s", c.TopologyKey, c.WhenUnsatisfiable))
		if c.LabelSelector == nil || c.LabelSelector.MatchLabels["app.kubernetes.io/instance"] != releaseName {
			t.Errorf("constraint on %s does not select this release's pods", c.TopologyKey)
		}
		if !slices.Equal(c.MatchLabelKeys, []string{"pod-template-hash"}) {
			t.Errorf("constraint on %s: matchLabelKeys %v, want [pod-template-hash] (spread each rollout's pods)", c.TopologyKey, c.MatchLabelKeys)
		}
	}
	if !slices.Equal(got, []string{"topology.kubernetes.io/zone/ScheduleAnyway", "kubernetes.io/hostname/ScheduleAnyway"}) {
		t.Errorf("topology spread %v", got)
	}
	if d.Spec.Template.Spec.Affinity != nil {
		t.Error("affinity set by default")
	}
	d = mustRender(t, "podAntiAffinity: hard").deployment(t)
	if a := d.Spec.Template.Spec.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("podAntiAffinity: hard renders %+v", a)
	}
	d = mustRender(t, "podAntiAffinity: soft").deployment(t)
	if a := d.Spec.Template.Spec.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("podAntiAffinity: soft renders %+v", a)
	}
	// Rollouts surge before draining.
	if s := d.Spec.Strategy; s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("strategy %+v", s)
	}
	// GOMEMLIMIT follows the memory limit.
	c := container(t, d)
	if e := env(c, "GOMEMLIMIT"); e == nil || e.Value != "$(MCPGATE_MEMORY_LIMIT_MIB)MiB" {
		t.Errorf("GOMEMLIMIT = %+v", e)
	}
	if e := env(c, "MCPGATE_MEMORY_LIMIT_MIB"); e == nil || e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
		t.Errorf("MCPGATE_MEMORY_LIMIT_MIB = %+v", e)
	}
	if e := env(container(t, mustRender(t, "resources: {limits: null}").deployment(t)), "GOMEMLIMIT"); e != nil {
		t.Error("GOMEMLIMIT set without a memory limit")
	}
}

func TestImage(t *testing.T) {
	for values, want := range map[string]string{
		"":                         "ghcr.io/mcpgate/mcpgate:0.1.0",
		"image: {tag: v9}":         "ghcr.io/mcpgate/mcpgate:v9",
		"image: {repository: r/m}": "r/m:0.1.0",
		"image: {digest: sha256:" + strings.Repeat("ab", 32) + "}": "ghcr.io/mcpgate/mcpgate@sha256:" + strings.Repeat("ab", 32),
	} {
		equal(t, fmt.Sprintf("image with %q", values), container(t, mustRender(t, values).deployment(t)).Image, want)
	}
}

// TestCIValuesFiles renders every ci/*.yaml, as CI's helm lint and
// kubeconform do, and decodes the core objects strictly.
func TestCIValuesFiles(t *testing.T) {
	for name, values := range ciValuesFiles(t) {
		t.Run(name, func(t *testing.T) {
			r := mustRender(t, values)
			for _, o := range r.objects {
				var into any
				switch o.kind {
				case "Deployment":
					into = &appsv1.Deployment{}
				case "Service":
					into = &corev1.Service{}
				case "ConfigMap":
					into = &corev1.ConfigMap{}
				case "Secret":
					into = &corev1.Secret{}
				case "ServiceAccount":
					into = &corev1.ServiceAccount{}
				case "Ingress":
					into = &networkingv1.Ingress{}
				case "NetworkPolicy":
					into = &networkingv1.NetworkPolicy{}
				case "HorizontalPodAutoscaler":
					into = &autoscalingv2.HorizontalPodAutoscaler{}
				case "PodDisruptionBudget":
					into = &policyv1.PodDisruptionBudget{}
				default:
					continue
				}
				o.decode(t, into)
			}
			if strings.Contains(r.files["templates/NOTES.txt"], "WARNING") {
				t.Errorf("NOTES.txt warns about a complete configuration:\n%s", r.files["templates/NOTES.txt"])
			}
		})
	}
}

func TestNotesWarnings(t *testing.T) {
	notes := mustRender(t, "").files["templates/NOTES.txt"]
	wantContains(t, "NOTES.txt with default values", notes,
		"WARNING", "config.auth.issuers is empty", "config.servers is empty", "config.public_url is not set",
		"policy.values.data.groups is empty", "kubectl -n mcp port-forward svc/"+fullname+" 8080:80")
	withFile := strings.Replace(minimal, "url: https://notes.internal.example/mcp",
		"url: https://notes.internal.example/mcp\n      headers: [{name: X-Key, value_from_file: /etc/keys/a}]", 1)
	notes = mustRender(t, withFile).files["templates/NOTES.txt"]
	wantContains(t, "NOTES.txt with an unmounted header file", notes,
		"config.servers[0].headers[0].value_from_file /etc/keys/a is not under a mounted directory")
	notes = mustRender(t, withFile+"extraVolumeMounts: [{name: keys, mountPath: /etc/keys}]\nextraVolumes: [{name: keys, secret: {secretName: k}}]").files["templates/NOTES.txt"]
	if strings.Contains(notes, "value_from_file") {
		t.Errorf("NOTES.txt warns about a file under an extraVolumeMount:\n%s", notes)
	}
}
