{{/*
Names. fullname: the release name, or "<release>-portcullis" when the release name does not contain
the chart's name; at most 63 characters. Every object of the chart derives its name from it.
*/}}
{{- define "portcullis.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The operator's Deployment, ClusterRole, Role, Lease and ... : <fullname>-operator. */}}
{{- define "portcullis.operatorName" -}}
{{- printf "%s-operator" (include "portcullis.fullname" . | trunc 54 | trimSuffix "-") -}}
{{- end -}}

{{/* Reads Secrets (Roles in secrets.namespaces, or the ClusterRole): <fullname>-secret-reader. */}}
{{- define "portcullis.secretReaderName" -}}
{{- printf "%s-secret-reader" (include "portcullis.fullname" . | trunc 49 | trimSuffix "-") -}}
{{- end -}}

{{- define "portcullis.serviceAccountName" -}}
{{- default (include "portcullis.operatorName" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The Lease the operator replicas elect a leader with. */}}
{{- define "portcullis.leaseName" -}}
{{- include "portcullis.operatorName" . -}}
{{- end -}}

{{/* Prefix of the proxy fleet's objects (<prefix>-proxy, <prefix>-proxy-config, ...). */}}
{{- define "portcullis.proxyPrefix" -}}
{{- default (include "portcullis.fullname" . | trunc 51 | trimSuffix "-") .Values.proxy.namePrefix -}}
{{- end -}}

{{- define "portcullis.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Namespaces whose Secrets the operator reads (without secrets.clusterWide): the release's and secrets.namespaces. */}}
{{- define "portcullis.secretNamespaces" -}}
{{- $namespaces := list .Release.Namespace -}}
{{- range .Values.secrets.namespaces -}}
{{- $namespaces = append $namespaces . -}}
{{- end -}}
{{- $namespaces | uniq | join "," -}}
{{- end -}}

{{- define "portcullis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selects the operator's pods; a Deployment's selector is immutable: never change it. */}}
{{- define "portcullis.operatorSelector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/*
The proxy settings file (--proxy-settings): values.proxy with the prefix resolved, the image's pull
policy and pull secrets, and replicas null under the autoscaler. Null values are left out (the
operator's default applies), except replicas: null, which hands replicas to the autoscaler.
*/}}
{{- define "portcullis.proxySettings" -}}
{{- $settings := dict -}}
{{- range $key, $value := omit .Values.proxy "namePrefix" "replicas" -}}
{{- if not (kindIs "invalid" $value) -}}
{{- $_ := set $settings $key $value -}}
{{- end -}}
{{- end -}}
{{- $_ := set $settings "namePrefix" (include "portcullis.proxyPrefix" .) -}}
{{- $_ := set $settings "imagePullPolicy" .Values.image.pullPolicy -}}
{{- $_ := set $settings "imagePullSecrets" .Values.imagePullSecrets -}}
{{- if .Values.proxyAutoscaling.enabled -}}
{{- $_ := set $settings "replicas" nil -}}
{{- else if not (kindIs "invalid" .Values.proxy.replicas) -}}
{{- $_ := set $settings "replicas" .Values.proxy.replicas -}}
{{- end -}}
{{- $service := dict -}}
{{- range $key, $value := .Values.proxy.service -}}
{{- if not (kindIs "invalid" $value) -}}
{{- $_ := set $service $key $value -}}
{{- end -}}
{{- end -}}
{{- $_ := set $settings "service" $service -}}
{{- toYaml $settings -}}
{{- end -}}
