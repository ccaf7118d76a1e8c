{{/*
mcpgate.validate refuses values that values.schema.json cannot express, each
with a message naming the value and what to do instead. Included by the
Deployment, so every render runs it.
*/}}
{{- define "mcpgate.validate" -}}
{{- $cfg := .Values.config }}
{{- range $key, $instead := dict "listen" "set containerPort instead" "session_key_file" "set sessions.existingSecret (or let the chart create the session key Secret) instead" }}
{{- if hasKey $cfg $key }}
{{- fail (printf "config.%s is set by the chart: %s" $key $instead) }}
{{- end }}
{{- end }}
{{- range $i, $server := get $cfg "servers" | default list }}
{{- range $key, $headers := dict "headers" (get $server "headers") "auth.headers" (get (get $server "auth" | default dict) "headers") }}
{{- range $j, $h := $headers | default list }}
{{- if and (get $h "value") (regexMatch "(?i)^(authorization|proxy-authorization|cookie)$|key|token|secret|password" (get $h "name" | default "")) }}
{{- fail (printf "config.servers[%d].%s[%d] (%s) has a literal value, which would put a credential into the ConfigMap: mount a Secret with secretMounts and use value_from_file" $i $key $j (get $h "name")) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- include "mcpgate.validateAuthorizationServer" . }}
{{- include "mcpgate.validateApproval" . }}
{{- include "mcpgate.validateConsole" . }}
{{- $policy := get $cfg "policy" | default dict }}
{{- range $key := list "dir" "opa_config_file" }}
{{- if hasKey $policy $key }}
{{- fail (printf "config.policy.%s is set by the chart from policy.source (values, configMap or bundle): remove it and use policy.values, policy.configMap.name or policy.bundle" $key) }}
{{- end }}
{{- end }}
{{- if hasKey $policy "library" }}
{{- fail "config.policy.library is set by the chart from policy.library: remove it and set policy.library (builtin or none)" }}
{{- end }}

{{- $p := .Values.policy }}
{{- $userFiles := get $p.values "files" | default dict }}
{{- if eq $p.source "values" }}
{{- $files := include "mcpgate.policyFiles" . | fromYaml }}
{{- $rego := 0 }}
{{- range $name, $_ := $files }}{{ if hasSuffix ".rego" $name }}{{ $rego = add1 $rego }}{{ end }}{{ end }}
{{- if and (eq $rego 0) (eq $p.library "none") }}
{{- fail "policy.source is values and policy.library is none but there is no .rego file: set policy.library to builtin (the library built into the image) or add your rules to policy.values.files" }}
{{- end }}
{{- if and (get $p.values "data") (hasKey $userFiles "data.json") }}
{{- fail "policy.values.files has a data.json and policy.values.data renders one too: set policy.values.data to null, or rename the file" }}
{{- end }}
{{- else if eq $p.source "configMap" }}
{{- if not $p.configMap.name }}
{{- fail "policy.source is configMap: set policy.configMap.name to the ConfigMap holding the .rego and data files" }}
{{- end }}
{{- else if eq $p.source "bundle" }}
{{- if or (not $p.bundle.url) (not $p.bundle.resource) }}
{{- fail "policy.source is bundle: set policy.bundle.url (the bundle service, e.g. https://bundles.example.com) and policy.bundle.resource (e.g. bundles/mcpgate.tar.gz)" }}
{{- end }}
{{- if gt (int $p.bundle.polling.minDelaySeconds) (int $p.bundle.polling.maxDelaySeconds) }}
{{- fail (printf "policy.bundle.polling: minDelaySeconds (%d) is larger than maxDelaySeconds (%d)" (int $p.bundle.polling.minDelaySeconds) (int $p.bundle.polling.maxDelaySeconds)) }}
{{- end }}
{{- if and $p.bundle.signing.keyId (not $p.bundle.signing.publicKey) }}
{{- fail "policy.bundle.signing.keyId is set: set policy.bundle.signing.publicKey to the PEM public key that verifies the bundle" }}
{{- end }}
{{- if eq $p.library "builtin" }}
{{- fail "policy.source is bundle but policy.library is builtin: a bundle carries its whole policy (build the library into it, e.g. opa build -b rego/ data/); set policy.library to none" }}
{{- end }}
{{- end }}

{{- $names := dict }}
{{- range $i, $m := .Values.secretMounts }}
{{- if hasKey $names $m.name }}
{{- fail (printf "secretMounts[%d].name: %q is already used by another entry: each mount needs its own name (it becomes /var/run/secrets/mcpgate/<name>)" $i $m.name) }}
{{- end }}
{{- if has $m.name (list "session" "policy-bundle") }}
{{- fail (printf "secretMounts[%d].name: %q is reserved by the chart (it mounts the session keys and the bundle token there): choose another name" $i $m.name) }}
{{- end }}
{{- $_ := set $names $m.name true }}
{{- end }}

{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling: minReplicas (%d) is larger than maxReplicas (%d)" (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) }}
{{- fail "ingress.enabled is true but ingress.hosts is empty: list the host names clients use, e.g. [mcp.example.com]" }}
{{- end }}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) }}
{{- fail "httpRoute.enabled is true but httpRoute.parentRefs is empty: name the Gateway to attach to, e.g. [{name: public, namespace: gateway-system}]" }}
{{- end }}
{{- if .Values.serviceMonitor.enabled }}
{{- $exporter := dig "telemetry" "metrics_exporter" "" .Values.config | default "prometheus" }}
{{- if ne $exporter "prometheus" }}
{{- fail (printf "serviceMonitor.enabled is true but config.telemetry.metrics_exporter is %q: /metrics is served only with the prometheus exporter (the default)" $exporter) }}
{{- end }}
{{- end }}
{{- $_ := include "mcpgate.terminationGracePeriodSeconds" . }}
{{- end }}

{{/*
mcpgate.validateAuthorizationServer: the secrets of authorization-server
mode come from files or the environment only (a literal would land in the
ConfigMap; values.schema.json refuses them too, unless schema validation is
skipped), and its state is shared by every replica: a sign-in starts on one
replica and ends on another, so several replicas need PostgreSQL.
*/}}
{{- define "mcpgate.validateAuthorizationServer" -}}
{{- $cfg := .Values.config }}
{{- $as := get $cfg "authorization_server" | default dict }}
{{- range include "mcpgate.authServerSecrets" . | fromJsonArray }}
{{- $literal := not (kindIs "map" (index . 1)) }}
{{- if not $literal }}
{{- range $key, $_ := index . 1 }}{{ if not (has $key (list "value_from_env" "value_from_file")) }}{{ $literal = true }}{{ end }}{{ end }}
{{- end }}
{{- if $literal }}
{{- fail (printf "%s has a literal value, which would put a credential into the ConfigMap: mount a Secret with secretMounts and use value_from_file (or value_from_env)" (index . 0)) }}
{{- end }}
{{- end }}
{{- if get $as "enabled" }}
{{- $kind := dig "store" "kind" "file" $cfg | default "file" }}
{{- $replicas := printf "replicaCount: %d" (int .Values.replicaCount) }}
{{- $several := gt (int .Values.replicaCount) 1 }}
{{- if .Values.autoscaling.enabled }}
{{- $replicas = printf "autoscaling.enabled with maxReplicas: %d" (int .Values.autoscaling.maxReplicas) }}
{{- $several = gt (int .Values.autoscaling.maxReplicas) 1 }}
{{- end }}
{{- if and $several (ne $kind "postgres") }}
{{- fail (printf "config.authorization_server.enabled is true and several replicas may run (%s), but config.store.kind is %q: each pod would keep its own client registrations, consents, codes and refresh tokens, so a sign-in started on one replica could not end on another. Set config.store.kind: postgres with dsn_from_file (a Secret mounted with secretMounts), or run one replica (replicaCount: 1, autoscaling.enabled: false)" $replicas $kind) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
mcpgate.validateApproval: the lock file comes from one place, the chart
sets config.approval.lock_file to where it mounts it, and a mode that
compares with a lock needs one (the gateway refuses to start without it, and
its message would point at config.approval.lock_file, a path in the pod).
*/}}
{{- define "mcpgate.validateApproval" -}}
{{- $a := .Values.approval | default dict }}
{{- $lock := get $a "lock" | default "" }}
{{- $cmName := dig "existingConfigMap" "name" "" $a }}
{{- if and $lock $cmName }}
{{- fail (printf "approval.lock and approval.existingConfigMap.name (%s) are both set: the lock file comes from one of them. Keep approval.lock to have the chart create its ConfigMap, or approval.existingConfigMap to mount a ConfigMap you maintain, and unset the other" $cmName) }}
{{- end }}
{{- if $lock }}
{{- $parsed := fromYaml $lock }}
{{- if and (hasKey $parsed "Error") (eq (len $parsed) 1) }}
{{- $err := get $parsed "Error" | toString }}
{{- $what := printf "does not parse as YAML (%s)" $err }}
{{- if contains "cannot unmarshal" $err }}{{ $what = printf "is %q, not a YAML mapping" (trunc 80 $lock) }}{{ end }}
{{- fail (printf "approval.lock %s: it holds the lock file's content, e.g. --set-file approval.lock=mcpgate.lock.yaml (--set would pass the file's name)" $what) }}
{{- end }}
{{- end }}
{{- $approval := get .Values.config "approval" | default dict }}
{{- $userLock := get $approval "lock_file" | default "" }}
{{- $chartLock := "" }}
{{- if include "mcpgate.approvalConfigMapName" . }}{{ $chartLock = include "mcpgate.lockPath" . }}{{ end }}
{{- if and $chartLock $userLock (ne $userLock $chartLock) }}
{{- fail (printf "config.approval.lock_file (%s) is set by the chart when approval.lock or approval.existingConfigMap is set: it mounts the lock at %s. Remove config.approval.lock_file" $userLock $chartLock) }}
{{- end }}
{{- if not (or $chartLock $userLock) }}
{{- $modes := list (list "config.approval.mode" (get $approval "mode" | default "")) }}
{{- range $i, $s := get .Values.config "servers" | default list }}
{{- $modes = append $modes (list (printf "config.servers[%d].approval" $i) (get $s "approval" | default "")) }}
{{- end }}
{{- range $modes }}
{{- if has (index . 1) (list "enforce" "warn") }}
{{- fail (printf "%s is %q but there is no lock file to compare with: give the lock mcpgate approve writes with approval.lock (--set-file approval.lock=mcpgate.lock.yaml) or approval.existingConfigMap.name, or set %s to off" (index . 0) (index . 1) (index . 0)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}


{{/*
mcpgate.validateConsole: the console (config.console) and its Ingress
(console.ingress). The gateway checks config.console itself at start; what
is checked here is what it cannot see from inside the pod (the Ingress, a
loopback address, the container port) or would only report once deployed.
*/}}
{{- define "mcpgate.validateConsole" -}}
{{- $cfg := .Values.config }}
{{- $console := get $cfg "console" | default dict }}
{{- $enabled := get $console "enabled" | default false }}
{{- $ci := .Values.console.ingress }}
{{- if and $ci.enabled (not $enabled) }}
{{- fail "console.ingress.enabled is true but config.console.enabled is not: the Ingress would route /console to a gateway that does not serve it. Set config.console.enabled: true (with config.web_sign_in), or console.ingress.enabled: false" }}
{{- end }}
{{- if and $enabled (not (dig "web_sign_in" "enabled" false $cfg)) }}
{{- fail "config.console.enabled is true but config.web_sign_in.enabled is not: the console's users sign in in a browser. Set config.web_sign_in (enabled, issuer, client_id, client_secret) and register <console URL>/signin/callback as its redirect URI" }}
{{- end }}
{{- $addr := get $console "listen_address" | default "" | toString }}
{{- if $addr }}
{{- $port := include "mcpgate.consolePort" . | int }}
{{- $host := regexReplaceAll ":[0-9]+$" $addr "" | trimPrefix "[" | trimSuffix "]" | lower }}
{{- if or (eq $host "localhost") (hasPrefix "127." $host) (eq $host "::1") }}
{{- fail (printf "config.console.listen_address: %q is a loopback address: nothing outside the pod (Service, Ingress, port-forward) reaches it. Use 0.0.0.0:%d, and restrict who reaches the port with networkPolicy.ingress.consoleFrom" $addr $port) }}
{{- end }}
{{- if eq $port (int .Values.containerPort) }}
{{- fail (printf "config.console.listen_address: port %d is containerPort, the main listener's: choose another port for the console's admin listener, or remove listen_address to serve the console on the main listener" $port) }}
{{- end }}
{{- if not (get $console "public_url") }}
{{- fail "config.console.listen_address is set but config.console.public_url is not: set it to the URL browsers reach the console's listener at (no path), e.g. https://mcpgate-admin.example.com; the IdP sends them back to <public_url>/signin/callback" }}
{{- end }}
{{- end }}
{{- if $ci.enabled }}
{{- $base := include "mcpgate.consoleBaseURL" . }}
{{- $baseHost := "" }}
{{- with $base }}{{ $baseHost = regexReplaceAll ":[0-9]+$" (urlParse .).host "" }}{{ end }}
{{- $where := "config.public_url (or the first ingress or HTTPRoute host)" }}
{{- if $addr }}{{ $where = "config.console.public_url" }}{{ end }}
{{- if or (not $baseHost) (eq $baseHost "localhost") }}
{{- fail (printf "console.ingress.enabled is true but the console has no public host: set %s to the URL browsers use, or console.ingress.hosts" $where) }}
{{- end }}
{{- if and $ci.hosts (not (has $baseHost $ci.hosts)) }}
{{- fail (printf "console.ingress.hosts (%s) does not include %s, the host of %s: the sign-in comes back to %s/signin/callback and the console is at %s/console. Add %s to console.ingress.hosts, or, to give the console a host of its own, serve it on an admin listener (config.console.listen_address and config.console.public_url)" (join ", " $ci.hosts) $baseHost $where $base $base $baseHost) }}
{{- end }}
{{- if and $addr .Values.ingress.enabled (eq .Values.ingress.className $ci.className) }}
{{- range $ci.hosts | default (list $baseHost) }}
{{- if has . $.Values.ingress.hosts }}
{{- fail (printf "console.ingress: host %s is also in ingress.hosts, with the same ingress class: with config.console.listen_address the console's /signin goes to its admin listener and the main Ingress's to the main listener, and one class cannot route a host's path two ways. Give the console a host of its own (that of config.console.public_url) or another console.ingress.className" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- if not (include "mcpgate.consoleIngressRules" . | fromJsonArray) }}
{{- fail "console.ingress: every path of console.ingress.paths is routed by the main Ingress already (same host and class): add /console to console.ingress.paths" }}
{{- end }}
{{- end }}
{{- end }}