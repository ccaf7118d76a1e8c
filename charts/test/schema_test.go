package charttest

import (
	"strings"
	"testing"
)

// TestSchemaRefusesBadValues checks that values.schema.json refuses wrong
// values before anything renders, and that Helm's message names the value
// and the rule.
func TestSchemaRefusesBadValues(t *testing.T) {
	for name, tc := range map[string]struct{ values, want string }{
		"unknown top-level key":        {"replicas: 3", "at '': additional properties 'replicas' not allowed"},
		"negative replicas":            {"replicaCount: -1", "at '/replicaCount': minimum: got -1, want 0"},
		"replicas as a string":         {"replicaCount: three", "at '/replicaCount': got string, want integer"},
		"bad policy source":            {"policy: {source: git}", "at '/policy/source': value must be one of 'values', 'configMap', 'bundle'"},
		"chart policy key in config":   {"policy: {timeout: 1s}", "at '/policy': additional properties 'timeout' not allowed"},
		"bad log level":                {"logLevel: verbose", "at '/logLevel': value must be one of 'debug', 'info', 'warn', 'error'"},
		"privileged port":              {"containerPort: 80", "at '/containerPort': minimum: got 80, want 1,024"},
		"duration as a number":         {"config: {shutdown_grace: 30}", "at '/config/shutdown_grace': got number, want string"},
		"duration without unit":        {"config: {shutdown_grace: '30'}", "at '/config/shutdown_grace': '30' does not match pattern"},
		"typo in config":               {"config: {auth: {leewy: 1s}}", "at '/config/auth': additional properties 'leewy' not allowed"},
		"unknown config key":           {"config: {sessions: {}}", "at '/config': additional properties 'sessions' not allowed"},
		"server without name":          {"config: {servers: [{url: https://a.example}]}", "at '/config/servers/0': missing property 'name'"},
		"bad server name":              {"config: {servers: [{name: Notes, url: https://a.example}]}", "at '/config/servers/0/name': 'Notes' does not match pattern"},
		"bad transport":                {"config: {servers: [{name: a, url: https://a.example, transport: websocket}]}", "value must be one of 'streamable-http', 'sse'"},
		"bad scope level":              {"config: {scopes: [{name: a, server: notes, level: admin}]}", "at '/config/scopes/0/level': value must be one of 'read', 'write', 'all'"},
		"scope name with a space":      {"config: {scopes: [{name: 'notes read', server: notes}]}", "at '/config/scopes/0/name': 'notes read' does not match pattern"},
		"servers as a map":             {"config: {servers: {notes: {url: https://a.example}}}", "at '/config/servers': got object, want array"},
		"header key typo":              {"config: {servers: [{name: a, url: https://a.example, headers: [{name: X, valueFromFile: /f}]}]}", "additional properties 'valueFromFile' not allowed"},
		"issuer not a URL":             {"config: {auth: {issuers: [{issuer: login.example.com}]}}", "at '/config/auth/issuers/0/issuer': 'login.example.com' does not match pattern"},
		"bad algorithm":                {"config: {auth: {issuers: [{issuer: https://a.example, algorithms: [none]}]}}", "at '/config/auth/issuers/0/algorithms/0': value must be one of"},
		"bad metrics exporter":         {"config: {telemetry: {metrics_exporter: statsd}}", "value must be one of 'prometheus', 'otlp', 'none'"},
		"image tag in digest":          {"image: {digest: latest}", "at '/image/digest': 'latest' does not match pattern"},
		"secret mount without secret":  {"secretMounts: [{name: a}]", "at '/secretMounts/0': missing property 'existingSecret'"},
		"secret mount with a path":     {"secretMounts: [{name: a/b, existingSecret: s}]", "at '/secretMounts/0/name': 'a/b' does not match pattern"},
		"secret value in values":       {"secretMounts: [{name: a, existingSecret: s, value: hunter2}]", "additional properties 'value' not allowed"},
		"uppercase ingress host":       {"ingress: {hosts: [MCP.example.com]}", "at '/ingress/hosts/0'"},
		"bad policy file name":         {"policy: {values: {files: {'my policy.rego': x}}}", "at '/policy/values/files': additional properties 'my policy.rego' not allowed"},
		"bad anti-affinity":            {"podAntiAffinity: always", "value must be one of '', 'soft', 'hard'"},
		"bad HTTPRoute timeout":        {"httpRoute: {timeouts: {request: 1 hour}}", "at '/httpRoute/timeouts/request'"},
		"grace period as a string":     {"terminationGracePeriodSeconds: 60s", "at '/terminationGracePeriodSeconds': got string, want null or integer"},
		"bundle type":                  {"policy: {bundle: {type: s3}}", "at '/policy/bundle/type': value must be one of 'http', 'oci'"},
		"unknown library":              {"policy: {library: shipped}", "at '/policy/library': value must be one of 'builtin', 'none'"},
		"library as a boolean":         {"policy: {values: {library: true}}", "additional properties 'library' not allowed"},
		"network policy peer typo":     {"networkPolicy: {ingress: {from: [{namespaceSelectr: {}}]}}", "additional properties 'namespaceSelectr' not allowed"},
		"autoscaling min below one":    {"autoscaling: {minReplicas: 0}", "at '/autoscaling/minReplicas': minimum: got 0, want 1"},
		"service monitor interval":     {"serviceMonitor: {interval: 30}", "at '/serviceMonitor/interval': got number, want string"},
		"session key with a slash":     {"sessions: {key: a/b}", "at '/sessions/key': 'a/b' does not match pattern"},
		"enabled as a string":          {"ingress: {enabled: 'true'}", "at '/ingress/enabled': got string, want boolean"},
		"spread with a bad mode":       {"topologySpreadConstraints: [{maxSkew: 1, topologyKey: k, whenUnsatisfiable: Never}]", "whenUnsatisfiable"},
		"env without name":             {"env: [{value: x}]", "at '/env/0': missing property 'name'"},
		"config listen with bad type":  {"config: {listen: 8080}", "at '/config/listen': got number, want string"},
		"public URL without scheme":    {"config: {public_url: mcp.example.com}", "at '/config/public_url'"},
		"allowed origin with path":     {"config: {auth: {allowed_origins: [https://claude.ai/app]}}", "at '/config/auth/allowed_origins/0'"},
		"upstream auth kind":           {"config: {servers: [{name: a, url: https://a.example, auth: {kind: mtls}}]}", "at '/config/servers/0/auth/kind': value must be one of"},
		"client secret literal":        {"config: {servers: [{name: a, url: https://a.example, auth: {kind: client_credentials, client_secret: {value: s}}}]}", "additional properties 'value' not allowed"},
		"decision log buffer negative": {"config: {policy: {decision_log_buffer: -5}}", "at '/config/policy/decision_log_buffer': minimum: got -5, want 1"},
		"lock as a mapping":            {"approval: {lock: {version: 1}}", "at '/approval/lock': got object, want string"},
		"lock ConfigMap as a string":   {"approval: {existingConfigMap: pinning-lock}", "at '/approval/existingConfigMap': got string, want object"},
		"lock key with a slash":        {"approval: {existingConfigMap: {name: l, key: a/b}}", "at '/approval/existingConfigMap/key': 'a/b' does not match pattern"},
		"approval mode unquoted off":   {"config: {approval: {mode: off}}", "at '/config/approval/mode': got boolean, want string"},
	} {
		t.Run(name, func(t *testing.T) {
			msg := renderError(t, tc.values)
			if !strings.Contains(msg, "values don't meet the specifications of the schema") {
				t.Errorf("not refused by the schema: %s", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("message does not contain %q:\n%s", tc.want, msg)
			}
		})
	}
}

// TestTemplateChecks covers what the schema cannot say: values that
// contradict each other or keys the chart manages. Each message names the
// value and what to do.
func TestTemplateChecks(t *testing.T) {
	for name, tc := range map[string]struct{ values, want string }{
		"listen set":           {"config: {listen: '0.0.0.0:9090'}", "config.listen is set by the chart: set containerPort instead"},
		"session_key_file set": {"config: {session_key_file: /k}", "config.session_key_file is set by the chart: set sessions.existingSecret"},
		"literal credential header": {"config: {servers: [{name: a, url: 'https://a/mcp', headers: [{name: X-Client, value: mcpgate}, {name: X-Api-Key, value: s3cret}]}]}",
			"config.servers[0].headers[1] (X-Api-Key) has a literal value, which would put a credential into the ConfigMap"},
		"literal credential in auth.headers": {"config: {servers: [{name: a, url: 'https://a/mcp', auth: {kind: headers, headers: [{name: Authorization, value: 'Bearer s3cret'}]}}]}",
			"config.servers[0].auth.headers[0] (Authorization) has a literal value"},
		"policy.dir set":            {"config: {policy: {dir: /p}}", "config.policy.dir is set by the chart from policy.source"},
		"opa_config_file set":       {"config: {policy: {opa_config_file: /o}}", "config.policy.opa_config_file is set by the chart from policy.source"},
		"configMap without name":    {"policy: {source: configMap}", "policy.source is configMap: set policy.configMap.name"},
		"bundle without url":        {"policy: {source: bundle, bundle: {resource: r}}", "policy.source is bundle: set policy.bundle.url"},
		"bundle polling reversed":   {"policy: {source: bundle, bundle: {url: https://b.example, resource: r, polling: {minDelaySeconds: 300, maxDelaySeconds: 60}}}", "policy.bundle.polling: minDelaySeconds (300) is larger than maxDelaySeconds (60)"},
		"signing without key":       {"policy: {source: bundle, bundle: {url: https://b.example, resource: r, signing: {keyId: k}}}", "set policy.bundle.signing.publicKey"},
		"no rego at all":            {"policy: {library: none}", "policy.source is values and policy.library is none but there is no .rego file"},
		"library set in config":     {"config: {policy: {library: builtin}}", "config.policy.library is set by the chart from policy.library"},
		"bundle with the library":   {"policy: {source: bundle, bundle: {url: https://b.example, resource: r}}", "policy.source is bundle but policy.library is builtin"},
		"two data.json":             {"policy: {values: {files: {data.json: '{}'}}}", "policy.values.files has a data.json and policy.values.data renders one too"},
		"duplicate secret mount":    {"secretMounts: [{name: a, existingSecret: s}, {name: a, existingSecret: t}]", `secretMounts[1].name: "a" is already used by another entry`},
		"reserved secret mount":     {"secretMounts: [{name: session, existingSecret: s}]", `secretMounts[0].name: "session" is reserved by the chart`},
		"grace period too short":    {"terminationGracePeriodSeconds: 20", "terminationGracePeriodSeconds: 20 is too short: the pod sleeps 5s (preStopSleepSeconds) and then drains for up to 30s (config.shutdown_grace), so it needs at least 35"},
		"grace with long drain":     {"config: {shutdown_grace: 2m}\nterminationGracePeriodSeconds: 60", "drains for up to 120s (config.shutdown_grace), so it needs at least 125"},
		"HPA min above max":         {"autoscaling: {enabled: true, minReplicas: 5, maxReplicas: 3}", "autoscaling: minReplicas (5) is larger than maxReplicas (3)"},
		"ingress without hosts":     {"ingress: {enabled: true}", "ingress.enabled is true but ingress.hosts is empty"},
		"HTTPRoute without parents": {"httpRoute: {enabled: true, hostnames: [a.example]}", "httpRoute.enabled is true but httpRoute.parentRefs is empty"},
		"monitor without /metrics":  {"serviceMonitor: {enabled: true}\nconfig: {telemetry: {metrics_exporter: otlp}}", `serviceMonitor.enabled is true but config.telemetry.metrics_exporter is "otlp"`},
		"lock given by file name":   {"approval: {lock: mcpgate.lock.yaml}", `approval.lock is "mcpgate.lock.yaml", not a YAML mapping: it holds the lock file's content, e.g. --set-file approval.lock=mcpgate.lock.yaml`},
		"lock that is not YAML":     {"approval: {lock: 'a: [1'}", "approval.lock does not parse as YAML ("},
		"lock_file beside a lock": {"approval: {existingConfigMap: {name: l}}\nconfig: {approval: {lock_file: /etc/lock.yaml}}",
			"config.approval.lock_file (/etc/lock.yaml) is set by the chart when approval.lock or approval.existingConfigMap is set: it mounts the lock at /etc/mcpgate/approval/mcpgate.lock.yaml"},
		"enforce without a lock": {"config: {approval: {mode: enforce}}", `config.approval.mode is "enforce" but there is no lock file to compare with: give the lock mcpgate approve writes with approval.lock`},
		"server warns without a lock": {"config: {servers: [{name: a, url: 'https://a/mcp'}, {name: b, url: 'https://b/mcp', approval: warn}]}",
			`config.servers[1].approval is "warn" but there is no lock file to compare with`},
	} {
		t.Run(name, func(t *testing.T) {
			msg := renderError(t, tc.values)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("message does not contain %q:\n%s", tc.want, msg)
			}
		})
	}
}
