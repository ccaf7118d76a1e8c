{{/*
What the chart reads from the cluster it is installed into (Helm's lookup).
*/}}

{{/*
mcpgate.clusterReachable: "true" when lookup reaches a cluster. helm template,
helm lint and a client-side --dry-run answer every lookup with nothing, which
must not be read as "that object does not exist". The probe is the
kube-root-ca.crt ConfigMap the control plane publishes into every namespace:
reading it needs only the ConfigMap access Helm itself uses to install the
chart, where reading the Namespace needs a grant a namespace admin may lack,
and a forbidden lookup fails the whole install.
*/}}
{{- define "mcpgate.clusterReachable" -}}
{{- if lookup "v1" "ConfigMap" .Release.Namespace "kube-root-ca.crt" }}true{{ end }}
{{- end }}

{{/*
mcpgate.replicas: spec.replicas of the Deployment, or "" to leave it out.

With autoscaling the HPA owns the count, but leaving the field out is not
neutral: an upgrade whose previous manifest set replicas (replicaCount) and
whose new one does not makes Helm remove the field, and the API server
defaults it to 1, so a release running 3 pods drops to 1 until the HPA scales
it back. So while the cluster is reachable the chart renders the live
Deployment's count, clamped to [minReplicas, maxReplicas] (a Deployment
scaled to 0 is one the HPA would never scale), and minReplicas on a first
install; Helm's three-way merge then sees no change to apply. Renders without
a cluster (helm template, Argo CD) cannot know the live count, and a fixed
one there would reset the HPA's at every sync: the field is left out, and the
README gives the safe sequence for switching such a release.
*/}}
{{- define "mcpgate.replicas" -}}
{{- if not .Values.autoscaling.enabled }}
{{- int .Values.replicaCount }}
{{- else if include "mcpgate.clusterReachable" . }}
{{- $min := int .Values.autoscaling.minReplicas }}
{{- $max := int .Values.autoscaling.maxReplicas }}
{{- $live := lookup "apps/v1" "Deployment" .Release.Namespace (include "mcpgate.fullname" .) }}
{{- dig "spec" "replicas" $min $live | int | max $min | min $max }}
{{- end }}
{{- end }}

{{/*
mcpgate.missingReferences: one warning per Secret or ConfigMap the values
reference (mcpgate.references) that the release namespace does not hold, or
that lacks a key the pod reads; nothing without a cluster. As a JSON list.
*/}}
{{- define "mcpgate.missingReferences" -}}
{{- $warnings := list }}
{{- if include "mcpgate.clusterReachable" . }}
{{- $ns := .Release.Namespace }}
{{- $effects := dict
  "volume" "the pods stay in ContainerCreating (the volume cannot be mounted)"
  "env" "the container cannot start (CreateContainerConfigError)"
  "pull" "the image is pulled without these credentials (ImagePullBackOff from a private registry)"
  "tls" "the ingress controller serves its default certificate for these hosts" }}
{{- range $ref := include "mcpgate.references" . | fromJsonArray }}
{{- $obj := lookup "v1" $ref.kind $ns $ref.name }}
{{- $effect := get $effects $ref.use }}
{{- if not $obj }}
{{- $warnings = append $warnings (printf "%s: %s %s does not exist in namespace %s; until it does, %s. Create it, or correct the name." $ref.path $ref.kind $ref.name $ns $effect) }}
{{- else }}
{{- $data := merge (dict) (get $obj "data" | default dict) (get $obj "binaryData" | default dict) }}
{{- range $key := $ref.keys }}
{{- if not (hasKey $data $key) }}
{{- $warnings = append $warnings (printf "%s: %s %s has no key %q; until it has, %s. Add the key, or correct the key name." $ref.path $ref.kind $ref.name $key $effect) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $warnings }}
{{- end }}
