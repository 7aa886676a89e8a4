{{/* Names: the kustomize install uses "mlgate-webhook" in namespace mlgate-system. */}}
{{- define "mlgate.name" -}}
{{- printf "%s-webhook" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mlgate.labels" -}}
app.kubernetes.io/name: mlgate
app.kubernetes.io/part-of: mlgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "mlgate.selector" -}}
app.kubernetes.io/name: mlgate
app.kubernetes.io/component: webhook
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The shipped webhook definition (webhook/base/validatingwebhook.yaml). */}}
{{- define "mlgate.shippedWebhook" -}}
{{- $doc := .Files.Get "files/validatingwebhook.yaml" | fromYaml -}}
{{- if not $doc.webhooks -}}
{{- fail "files/validatingwebhook.yaml (a link to webhook/base/validatingwebhook.yaml) is missing or empty" -}}
{{- end -}}
{{- index $doc.webhooks 0 | toYaml -}}
{{- end -}}
