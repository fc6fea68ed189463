{{/* Name of the chart, overridable. */}}
{{- define "messenger-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects. */}}
{{- define "messenger-operator.fullname" -}}
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

{{/* Common labels. */}}
{{- define "messenger-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "messenger-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of the operator pods. */}}
{{- define "messenger-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "messenger-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Selector labels of the sandbox pod. */}}
{{- define "messenger-operator.sandboxSelectorLabels" -}}
app.kubernetes.io/name: {{ include "messenger-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: sandbox
{{- end }}

{{/* Name of the operator's ServiceAccount. */}}
{{- define "messenger-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "messenger-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image of the operator (and, by default, of instances and the sandbox). */}}
{{- define "messenger-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Selector labels of the gateway pods. */}}
{{- define "messenger-operator.gatewaySelectorLabels" -}}
app.kubernetes.io/name: {{ include "messenger-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end }}

{{/* Name of the gateway's ServiceAccount. */}}
{{- define "messenger-operator.gatewayServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-gateway" (include "messenger-operator.fullname" .)) .Values.gateway.serviceAccountName }}
{{- else }}
{{- default "default" .Values.gateway.serviceAccountName }}
{{- end }}
{{- end }}
