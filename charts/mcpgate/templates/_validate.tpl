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
