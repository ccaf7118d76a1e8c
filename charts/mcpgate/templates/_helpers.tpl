{{/*
Names and labels.
*/}}
{{- define "mcpgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mcpgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mcpgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mcpgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcpgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mcpgate.labels" -}}
helm.sh/chart: {{ include "mcpgate.chart" . }}
{{ include "mcpgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mcpgate
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "mcpgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mcpgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mcpgate.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag | toString }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Paths inside the pod. The config file is where the image's CMD looks for it.
*/}}
{{- define "mcpgate.configPath" -}}/etc/mcpgate/mcpgate.yaml{{- end }}
{{- define "mcpgate.opaConfigPath" -}}/etc/mcpgate/opa.yaml{{- end }}
{{- define "mcpgate.policyDir" -}}/etc/mcpgate/policy{{- end }}
{{- define "mcpgate.secretsDir" -}}/var/run/secrets/mcpgate{{- end }}
{{- define "mcpgate.sessionKeyPath" -}}/var/run/secrets/mcpgate/session/keys{{- end }}
{{- define "mcpgate.bundleTokenPath" -}}/var/run/secrets/mcpgate/policy-bundle/token{{- end }}
{{- define "mcpgate.stateDir" -}}/var/lib/mcpgate{{- end }}
{{- define "mcpgate.approvalDir" -}}/etc/mcpgate/approval{{- end }}
{{- define "mcpgate.lockPath" -}}/etc/mcpgate/approval/mcpgate.lock.yaml{{- end }}

{{- define "mcpgate.sessionSecretName" -}}
{{- default (printf "%s-session" (include "mcpgate.fullname" .)) .Values.sessions.existingSecret }}
{{- end }}

{{- define "mcpgate.policyConfigMapName" -}}
{{- if eq .Values.policy.source "configMap" }}
{{- .Values.policy.configMap.name }}
{{- else }}
{{- printf "%s-policy" (include "mcpgate.fullname" .) }}
{{- end }}
{{- end }}

{{/*
mcpgate.approvalConfigMapName: the ConfigMap holding the lock file of tool
pinning: the chart's own for approval.lock, the user's for
approval.existingConfigMap.name; "" when neither is set (nothing mounted).
mcpgate.approvalKey: the lock file's key in it.
*/}}
{{- define "mcpgate.approvalConfigMapName" -}}
{{- $a := .Values.approval | default dict }}
{{- if get $a "lock" }}
{{- printf "%s-approval" (include "mcpgate.fullname" .) }}
{{- else }}
{{- dig "existingConfigMap" "name" "" $a }}
{{- end }}
{{- end }}

{{- define "mcpgate.approvalKey" -}}
{{- $a := .Values.approval | default dict }}
{{- if get $a "lock" }}
{{- base (include "mcpgate.lockPath" .) }}
{{- else }}
{{- dig "existingConfigMap" "key" "" $a | default (base (include "mcpgate.lockPath" .)) }}
{{- end }}
{{- end }}

{{/*
mcpgate.durationSeconds: a Go duration string ("30s", "1m30s", "250ms", "0")
as whole seconds, rounded up. Anything else fails with the value's key path,
given as (list value keyPath).
*/}}
{{- define "mcpgate.durationSeconds" -}}
{{- $d := index . 0 | toString | trim }}
{{- $path := index . 1 }}
{{- $num := "([0-9]+(\\.[0-9]*)?|\\.[0-9]+)" }}
{{- $unit := "(ns|us|µs|ms|s|m|h)" }}
{{- if not (or (eq $d "0") (regexMatch (printf "^(%s%s)+$" $num $unit) $d)) }}
{{- fail (printf "%s: %q is not a duration: use e.g. 30s, 2m or 1m30s" $path $d) }}
{{- end }}
{{- $scale := dict "h" 3600.0 "m" 60.0 "s" 1.0 "ms" 0.001 "us" 0.000001 "µs" 0.000001 "ns" 0.000000001 }}
{{- $total := 0.0 }}
{{- range regexFindAll (printf "%s%s" $num $unit) $d -1 }}
{{- $n := regexFind (printf "^%s" $num) . }}
{{- $u := trimPrefix $n . }}
{{- $total = addf $total (mulf (float64 $n) (get $scale $u)) }}
{{- end }}
{{- ceil $total | int }}
{{- end }}

{{/*
mcpgate.publicURL: config.public_url, else derived from the first ingress or
HTTPRoute host name, else "" (the gateway then uses http://localhost:<port>).
*/}}
{{- define "mcpgate.publicURL" -}}
{{- $url := get .Values.config "public_url" | default "" | toString }}
{{- if not $url }}
{{- if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- $host := first .Values.ingress.hosts }}
{{- $scheme := "http" }}
{{- range .Values.ingress.tls }}
{{- if has $host (get . "hosts" | default list) }}{{ $scheme = "https" }}{{ end }}
{{- end }}
{{- $url = printf "%s://%s" $scheme $host }}
{{- else if and .Values.httpRoute.enabled .Values.httpRoute.hostnames }}
{{- $url = printf "https://%s" (first .Values.httpRoute.hostnames) }}
{{- end }}
{{- end }}
{{- trimSuffix "/" $url }}
{{- end }}

{{/*
mcpgate.mcpURL: the MCP endpoint clients use.
*/}}
{{- define "mcpgate.mcpURL" -}}
{{- $base := include "mcpgate.publicURL" . }}
{{- if not $base }}
{{- $base = printf "http://localhost:%d" (int .Values.containerPort) }}
{{- end }}
{{- printf "%s/mcp" $base }}
{{- end }}

{{/*
mcpgate.config: the gateway's configuration file. config from values, with
the keys the chart manages set here.
*/}}
{{- define "mcpgate.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $_ := set $cfg "listen" (printf "0.0.0.0:%d" (int .Values.containerPort)) }}
{{- $url := include "mcpgate.publicURL" . }}
{{- if $url }}
{{- $_ := set $cfg "public_url" $url }}
{{- else }}
{{- $_ := unset $cfg "public_url" }}
{{- end }}
{{- $policy := get $cfg "policy" | default dict }}
{{- if eq .Values.policy.source "bundle" }}
{{- $_ := set $policy "opa_config_file" (include "mcpgate.opaConfigPath" .) }}
{{- else }}
{{- $_ := set $policy "dir" (include "mcpgate.policyDir" .) }}
{{- end }}
{{- $_ := set $policy "library" .Values.policy.library }}
{{- $_ := set $cfg "policy" $policy }}
{{- $_ := set $cfg "session_key_file" (include "mcpgate.sessionKeyPath" .) }}
{{- /* Tool pinning: the lock mounted from approval.lock or
approval.existingConfigMap. Its path is fixed, so a new lock leaves this
file, and checksum/config, as they are. */}}
{{- if include "mcpgate.approvalConfigMapName" . }}
{{- $approval := get $cfg "approval" | default dict }}
{{- $_ := set $approval "lock_file" (include "mcpgate.lockPath" .) }}
{{- $_ := set $cfg "approval" $approval }}
{{- end }}
{{- /* Sealed sessions need a store (ended session ids): a file on the
pod's state volume unless config.store says otherwise. A file is per pod;
several replicas share PostgreSQL (NOTES warns). */}}
{{- $store := get $cfg "store" | default dict }}
{{- if not (get $store "kind") }}
{{- $_ := set $store "kind" "file" }}
{{- end }}
{{- if and (eq (get $store "kind") "file") (not (get $store "path")) }}
{{- $_ := set $store "path" (printf "%s/store.db" (include "mcpgate.stateDir" .)) }}
{{- end }}
{{- $_ := set $cfg "store" $store }}
{{- toYaml $cfg }}
{{- end }}

{{/*
mcpgate.opaConfig: the OPA configuration for policy.source=bundle.
*/}}
{{- define "mcpgate.opaConfig" -}}
{{- $b := .Values.policy.bundle }}
{{- $service := dict "name" "policy" "url" $b.url }}
{{- if eq $b.type "oci" }}
{{- $_ := set $service "type" "oci" }}
{{- end }}
{{- if $b.bearerToken.existingSecret }}
{{- $_ := set $service "credentials" (dict "bearer" (dict "token_path" (include "mcpgate.bundleTokenPath" .) "scheme" $b.bearerToken.scheme)) }}
{{- end }}
{{- $bundle := dict "service" "policy" "resource" $b.resource "polling" (dict "min_delay_seconds" (int $b.polling.minDelaySeconds) "max_delay_seconds" (int $b.polling.maxDelaySeconds)) }}
{{- $opa := dict "services" (dict "policy" $service) "bundles" (dict "mcpgate" $bundle) "persistence_directory" "/tmp/opa" }}
{{- if $b.signing.keyId }}
{{- $signing := dict "keyid" $b.signing.keyId }}
{{- if $b.signing.scope }}
{{- $_ := set $signing "scope" $b.signing.scope }}
{{- end }}
{{- $_ := set $bundle "signing" $signing }}
{{- $_ := set $opa "keys" (dict $b.signing.keyId (dict "key" $b.signing.publicKey "algorithm" $b.signing.algorithm)) }}
{{- end }}
{{- toYaml (mergeOverwrite $opa (deepCopy $b.opaConfig)) }}
{{- end }}

{{/*
mcpgate.policyFiles: the files of the policy ConfigMap rendered from values,
as YAML (file name -> content): the organisation's data and own rules. With
policy.library builtin the gateway adds the library built into its image.
*/}}
{{- define "mcpgate.policyFiles" -}}
{{- $files := dict }}
{{- with get .Values.policy.values "data" }}
{{- $_ := set $files "data.json" (dict "mcpgate" (dict "config" .) | toPrettyJson) }}
{{- end }}
{{- range $name, $content := get .Values.policy.values "files" | default dict }}
{{- $_ := set $files $name $content }}
{{- end }}
{{- toYaml $files }}
{{- end }}

{{/*
mcpgate.configMapData: the data of the config ConfigMap (also hashed into the
pod annotation checksum/config).
*/}}
{{- define "mcpgate.configMapData" -}}
mcpgate.yaml: |
{{- include "mcpgate.config" . | nindent 2 }}
{{- if eq .Values.policy.source "bundle" }}
opa.yaml: |
{{- include "mcpgate.opaConfig" . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
mcpgate.replicasAtLeast: the fewest replicas that run, as a string.
*/}}
{{- define "mcpgate.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ int .Values.autoscaling.minReplicas }}{{ else }}{{ int .Values.replicaCount }}{{ end }}
{{- end }}

{{/*
mcpgate.terminationGracePeriodSeconds: the pod's grace period.
*/}}
{{- define "mcpgate.terminationGracePeriodSeconds" -}}
{{- $grace := include "mcpgate.durationSeconds" (list (get .Values.config "shutdown_grace" | default "30s") "config.shutdown_grace") | int }}
{{- $need := add (int .Values.preStopSleepSeconds) $grace }}
{{- $tgp := get .Values "terminationGracePeriodSeconds" }}
{{- if or (kindIs "invalid" $tgp) (eq (toString $tgp) "") }}
{{- add $need 10 }}
{{- else }}
{{- $set := int $tgp }}
{{- if lt $set $need }}
{{- fail (printf "terminationGracePeriodSeconds: %d is too short: the pod sleeps %ds (preStopSleepSeconds) and then drains for up to %ds (config.shutdown_grace), so it needs at least %d; leave it null to have the chart compute it" $set (int .Values.preStopSleepSeconds) $grace $need) }}
{{- end }}
{{- $set }}
{{- end }}
{{- end }}

{{/*
mcpgate.authServerPaths: with config.authorization_server.enabled, the
paths of the authorization server that must reach the gateway besides /mcp
and the protected-resource metadata: /oauth/* (authorize, callback, consent,
token, revoke, register, jwks, grants) and its two metadata documents; and
the employees' pages (mcpgate.employeePaths). As a JSON list of ingress
paths.
*/}}
{{- define "mcpgate.authServerPaths" -}}
{{- $out := list }}
{{- if dig "authorization_server" "enabled" false .Values.config }}
{{- $out = list (dict "path" "/oauth" "pathType" "Prefix") (dict "path" "/.well-known/oauth-authorization-server" "pathType" "ImplementationSpecific") (dict "path" "/.well-known/openid-configuration" "pathType" "ImplementationSpecific") }}
{{- end }}
{{- range include "mcpgate.employeePaths" . | fromJsonArray }}{{ $out = append $out . }}{{ end }}
{{- toJson $out }}
{{- end }}

{{/*
mcpgate.employeePaths: the gateway's pages for employees in a browser:
web sign-in (/signin, /signin/callback, /signout) with
config.web_sign_in.enabled, and with a server of auth kind oauth the
connect pages (/connect/start, /connect/callback) and /connections. As a
JSON list of ingress paths (prefixes).
*/}}
{{- define "mcpgate.employeePaths" -}}
{{- $out := list }}
{{- if dig "web_sign_in" "enabled" false .Values.config }}
{{- $out = append $out (dict "path" "/signin" "pathType" "Prefix") }}
{{- $out = append $out (dict "path" "/signout" "pathType" "Prefix") }}
{{- end }}
{{- $oauth := false }}
{{- range (get .Values.config "servers" | default list) }}
{{- if eq (dig "auth" "kind" "" .) "oauth" }}{{ $oauth = true }}{{ end }}
{{- end }}
{{- if $oauth }}
{{- $out = append $out (dict "path" "/connect" "pathType" "Prefix") }}
{{- $out = append $out (dict "path" "/connections" "pathType" "Prefix") }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
mcpgate.ingressPaths: ingress.paths and, in authorization-server mode, the
authorization server's paths it lacks. As a JSON list.
*/}}
{{- define "mcpgate.ingressPaths" -}}
{{- $paths := .Values.ingress.paths }}
{{- $have := list }}
{{- range $paths }}{{ $have = append $have .path }}{{ end }}
{{- range include "mcpgate.authServerPaths" . | fromJsonArray }}
{{- if not (has .path $have) }}{{ $paths = append $paths . }}{{ end }}
{{- end }}
{{- toJson $paths }}
{{- end }}

{{/*
mcpgate.httpRoutePaths: httpRoute.paths and, in authorization-server mode,
the authorization server's paths it lacks. As a JSON list.
*/}}
{{- define "mcpgate.httpRoutePaths" -}}
{{- $paths := .Values.httpRoute.paths }}
{{- range include "mcpgate.authServerPaths" . | fromJsonArray }}
{{- if not (has .path $paths) }}{{ $paths = append $paths .path }}{{ end }}
{{- end }}
{{- toJson $paths }}
{{- end }}

{{/*
mcpgate.authServerSecrets: the secrets of authorization_server as a JSON
list of [key path, value] pairs, the value as written in the values (an
object with value_from_file or value_from_env, unless it is wrong).
*/}}
{{- define "mcpgate.authServerSecrets" -}}
{{- $as := get .Values.config "authorization_server" | default dict }}
{{- $out := list }}
{{- with get (get $as "idp" | default dict) "client_secret" }}
{{- $out = append $out (list "config.authorization_server.idp.client_secret" .) }}
{{- end }}
{{- range $i, $k := get $as "signing_keys" | default list }}
{{- $out = append $out (list (printf "config.authorization_server.signing_keys[%d]" $i) $k) }}
{{- end }}
{{- range $i, $c := get $as "clients" | default list }}
{{- with get $c "client_secret" }}
{{- $out = append $out (list (printf "config.authorization_server.clients[%d].client_secret" $i) .) }}
{{- end }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
mcpgate.consolePort: the port of config.console.listen_address (the
console's admin listener), or "" when the console is on the main listener.
*/}}
{{- define "mcpgate.consolePort" -}}
{{- $addr := dig "console" "listen_address" "" .Values.config | toString }}
{{- if $addr }}
{{- if not (regexMatch "^(\\[[0-9A-Fa-f:.]*\\]|[^:\\[\\]]*):[0-9]{1,5}$" $addr) }}
{{- fail (printf "config.console.listen_address: %q is not host:port: use e.g. 0.0.0.0:9090" $addr) }}
{{- end }}
{{- regexFind "[0-9]+$" $addr }}
{{- end }}
{{- end }}

{{/*
mcpgate.consoleBaseURL: where browsers reach the console (it is at
<base>/console, its sign-in at <base>/signin): config.console.public_url on
an admin listener, else the gateway's public URL.
*/}}
{{- define "mcpgate.consoleBaseURL" -}}
{{- if include "mcpgate.consolePort" . }}
{{- dig "console" "public_url" "" .Values.config | toString | trimSuffix "/" }}
{{- else }}
{{- include "mcpgate.publicURL" . }}
{{- end }}
{{- end }}

{{/*
mcpgate.consoleIngressRules: the rules of the console's Ingress, as a JSON
list of {host, paths}. Hosts: console.ingress.hosts, else the host of
mcpgate.consoleBaseURL. On the main listener, a host the main Ingress also
serves with the same class keeps only the paths that Ingress lacks (it
routes /signin and /signout already with web_sign_in): two Ingresses of one
class must not claim the same host and path.
*/}}
{{- define "mcpgate.consoleIngressRules" -}}
{{- $ci := .Values.console.ingress }}
{{- $hosts := $ci.hosts }}
{{- if not $hosts }}
{{- with include "mcpgate.consoleBaseURL" . }}{{ $hosts = list (regexReplaceAll ":[0-9]+$" (urlParse .).host "") }}{{ end }}
{{- end }}
{{- $mainPaths := list }}
{{- if and .Values.ingress.enabled (eq .Values.ingress.className $ci.className) }}
{{- range include "mcpgate.ingressPaths" . | fromJsonArray }}{{ $mainPaths = append $mainPaths .path }}{{ end }}
{{- end }}
{{- $admin := include "mcpgate.consolePort" . }}
{{- $rules := list }}
{{- range $hosts }}
{{- $paths := $ci.paths }}
{{- if and (not $admin) (has . $.Values.ingress.hosts) $mainPaths }}
{{- $paths = list }}
{{- range $ci.paths }}{{ if not (has .path $mainPaths) }}{{ $paths = append $paths . }}{{ end }}{{ end }}
{{- end }}
{{- if $paths }}
{{- $rules = append $rules (dict "host" . "paths" $paths) }}
{{- end }}
{{- end }}
{{- toJson $rules }}
{{- end }}
