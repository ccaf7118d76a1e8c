{{/*
mcpgate.references: the Secrets and ConfigMaps the values make the pod (or
the Ingress) use without the chart creating them, as a JSON list of
{path, kind, name, keys, use}: path is the value's key path, keys the keys
read from the object (none: all of it), use what a missing one breaks
(volume, env, pull or tls; see mcpgate.missingReferences). References marked
optional are left out: the pod starts without them. So is an Ingress TLS
Secret with a cert-manager annotation: cert-manager creates it after the
install, and warning about it every time would teach people to skip the
warnings.
*/}}
{{- define "mcpgate.references" -}}
{{- $refs := list }}
{{- $add := list }}
{{- $add = append $add (list "sessions" "Secret" .Values.sessions "existingSecret" "volume") }}
{{- if eq .Values.policy.source "configMap" }}
{{- $add = append $add (list "policy.configMap" "ConfigMap" .Values.policy.configMap "name" "volume") }}
{{- end }}
{{- if eq .Values.policy.source "bundle" }}
{{- $add = append $add (list "policy.bundle.bearerToken" "Secret" .Values.policy.bundle.bearerToken "existingSecret" "volume") }}
{{- end }}
{{- $approval := .Values.approval | default dict }}
{{- if not (get $approval "lock") }}
{{- $add = append $add (list "approval.existingConfigMap" "ConfigMap" (get $approval "existingConfigMap" | default dict) "name" "volume") }}
{{- end }}
{{- range $i, $m := .Values.secretMounts }}
{{- $add = append $add (list (printf "secretMounts[%d]" $i) "Secret" $m "existingSecret" "volume") }}
{{- end }}
{{- range $i, $v := .Values.extraVolumes }}
{{- $path := printf "extraVolumes[%d]" $i }}
{{- with get $v "secret" }}{{ $add = append $add (list (printf "%s.secret" $path) "Secret" . "secretName" "volume") }}{{ end }}
{{- with get $v "configMap" }}{{ $add = append $add (list (printf "%s.configMap" $path) "ConfigMap" . "name" "volume") }}{{ end }}
{{- range $j, $s := dig "projected" "sources" (list) $v }}
{{- with get $s "secret" }}{{ $add = append $add (list (printf "%s.projected.sources[%d].secret" $path $j) "Secret" . "name" "volume") }}{{ end }}
{{- with get $s "configMap" }}{{ $add = append $add (list (printf "%s.projected.sources[%d].configMap" $path $j) "ConfigMap" . "name" "volume") }}{{ end }}
{{- end }}
{{- end }}
{{- range $i, $e := .Values.envFrom }}
{{- with get $e "secretRef" }}{{ $add = append $add (list (printf "envFrom[%d].secretRef" $i) "Secret" . "name" "env") }}{{ end }}
{{- with get $e "configMapRef" }}{{ $add = append $add (list (printf "envFrom[%d].configMapRef" $i) "ConfigMap" . "name" "env") }}{{ end }}
{{- end }}
{{- range $i, $e := .Values.env }}
{{- with dig "valueFrom" "secretKeyRef" (dict) $e }}{{ $add = append $add (list (printf "env[%d].valueFrom.secretKeyRef" $i) "Secret" . "name" "env") }}{{ end }}
{{- with dig "valueFrom" "configMapKeyRef" (dict) $e }}{{ $add = append $add (list (printf "env[%d].valueFrom.configMapKeyRef" $i) "ConfigMap" . "name" "env") }}{{ end }}
{{- end }}
{{- range $i, $s := .Values.imagePullSecrets }}
{{- $add = append $add (list (printf "imagePullSecrets[%d]" $i) "Secret" $s "name" "pull") }}
{{- end }}
{{- $certManager := false }}
{{- range $k, $_ := .Values.ingress.annotations | default dict }}{{ if hasPrefix "cert-manager.io/" $k }}{{ $certManager = true }}{{ end }}{{ end }}
{{- if and .Values.ingress.enabled (not $certManager) }}
{{- range $i, $t := .Values.ingress.tls }}
{{- $add = append $add (list (printf "ingress.tls[%d]" $i) "Secret" $t "secretName" "tls") }}
{{- end }}
{{- end }}
{{- range $add }}
{{- with include "mcpgate.reference" . }}{{ $refs = append $refs (fromJson .) }}{{ end }}
{{- end }}
{{- toJson $refs }}
{{- end }}

{{/*
mcpgate.reference: one reference, given as (list path kind source nameKey
use): source is the values' object that names it (a volume source, a key
ref, a secretMounts entry), nameKey the key holding the name; the keys read
are its items[].key and its key. "" when the name is empty or the reference
is optional.
*/}}
{{- define "mcpgate.reference" -}}
{{- $src := index . 2 }}
{{- $nameKey := index . 3 }}
{{- $name := get $src $nameKey | default "" | toString }}
{{- if and $name (not (get $src "optional")) }}
{{- $keys := list }}
{{- range get $src "items" | default list }}{{ $keys = append $keys (get . "key" | toString) }}{{ end }}
{{- with get $src "key" }}{{ $keys = append $keys (toString .) }}{{ end }}
{{- toJson (dict "path" (printf "%s.%s" (index . 0) $nameKey) "kind" (index . 1) "name" $name "keys" $keys "use" (index . 4)) }}
{{- end }}
{{- end }}
