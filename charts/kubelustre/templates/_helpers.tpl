{{/* The chart's name, or nameOverride. */}}
{{- define "kubelustre.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every name the chart gives: the release name, with the chart's unless it has it. */}}
{{- define "kubelustre.fullname" -}}
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

{{/* Labels on everything the chart creates. */}}
{{- define "kubelustre.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "kubelustre.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubelustre
{{- end }}

{{/* What a component's pods are selected by: {{ include "kubelustre.selectorLabels" (list . "operator") }} */}}
{{- define "kubelustre.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "kubelustre.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* A component's labels: the common ones and its selector. */}}
{{- define "kubelustre.componentLabels" -}}
{{ include "kubelustre.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* The kubelustre image. */}}
{{- define "kubelustre.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* A sidecar's image from its values ({repository, tag}). */}}
{{- define "kubelustre.sidecarImage" -}}
{{- printf "%s:%s" .repository .tag }}
{{- end }}

{{/* The CSI driver's name: what the plugin reports (csi-driver/src/identity-server.ts), not a choice. */}}
{{- define "kubelustre.csiDriverName" -}}
csi.kubelustre.io
{{- end }}

{{/* The node plugin's directory under the kubelet's: its socket, state, mounts and their logs. */}}
{{- define "kubelustre.csiPluginDir" -}}
{{- printf "%s/plugins/%s" (trimSuffix "/" .Values.csi.node.kubeletDir) (include "kubelustre.csiDriverName" .) }}
{{- end }}

{{/* The example filesystem's shared-key Secret. */}}
{{- define "kubelustre.exampleKeySecret" -}}
{{- printf "%s-shared-key" .Values.exampleFileSystem.name }}
{{- end }}

{{/* The StorageClass's filesystem: csi.storageClass.mgs, else the example filesystem's MGS. */}}
{{- define "kubelustre.storageClassMgs" -}}
{{- if .Values.csi.storageClass.mgs }}
{{- .Values.csi.storageClass.mgs }}
{{- else if .Values.exampleFileSystem.enabled }}
{{- $fs := .Values.exampleFileSystem }}
{{- printf "%s-mgs.%s.svc.%s:988:/%s" $fs.name .Release.Namespace .Values.operator.clusterDomain $fs.fsName }}
{{- else }}
{{- fail "csi.storageClass.create needs csi.storageClass.mgs (MGS_HOST:PORT:/FSNAME) or exampleFileSystem.enabled" }}
{{- end }}
{{- end }}

{{/* The StorageClass's key Secret name: its own, else the example filesystem's, else none. */}}
{{- define "kubelustre.storageClassKeySecret" -}}
{{- if .Values.csi.storageClass.sharedKeySecret.name }}
{{- .Values.csi.storageClass.sharedKeySecret.name }}
{{- else if .Values.exampleFileSystem.enabled }}
{{- include "kubelustre.exampleKeySecret" . }}
{{- end }}
{{- end }}

{{/* The shared-key volume of the CSI plugins, when csi.sharedKeySecret names one. */}}
{{- define "kubelustre.csiKeyVolume" -}}
{{- if .Values.csi.sharedKeySecret }}
- name: shared-key
  secret:
    secretName: {{ .Values.csi.sharedKeySecret }}
    items:
      - key: key
        path: key
    defaultMode: 0400
{{- end }}
{{- end }}

{{/* A container's securityContext when it needs no privilege at all. */}}
{{- define "kubelustre.unprivileged" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}
