{{/* Chart name, truncated to 63 characters. */}}
{{- define "lso.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name: the release name when it already holds the chart name. */}}
{{- define "lso.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of a component's objects: <fullname>-<component>. */}}
{{- define "lso.component" -}}
{{- printf "%s-%s" (include "lso.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lso.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "lso.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: livestream-operator
{{- end -}}

{{/* Selector labels of a component: dict "root" . "component" "operator". */}}
{{- define "lso.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lso.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Image reference: dict "root" . "image" .Values.images.worker. */}}
{{- define "lso.image" -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* In-cluster DNS names of the Services. */}}
{{- define "lso.mediamtxHost" -}}
{{- printf "%s.%s.svc" (include "lso.component" (dict "root" . "component" "mediamtx")) .Release.Namespace -}}
{{- end -}}
{{/* The MediaMTX instances: the StatefulSet's Pods, each <name>.<domain> through the
headless Service (the operator and the receivers get both as settings). */}}
{{- define "lso.mediamtxStatefulSet" -}}
{{- $name := include "lso.component" (dict "root" . "component" "mediamtx") -}}
{{- /* The controller labels each Pod controller-revision-hash=<name>-<10-character hash>. */ -}}
{{- if gt (len $name) 52 -}}
{{- fail (printf "the MediaMTX StatefulSet's name %s is %d characters, over the 52 a StatefulSet's Pods can carry in their controller-revision-hash label: set fullnameOverride (or a shorter release name)" $name (len $name)) -}}
{{- end -}}
{{- $name -}}
{{- end -}}
{{- define "lso.mediamtxHeadless" -}}
{{- include "lso.component" (dict "root" . "component" "mediamtx-headless") -}}
{{- end -}}
{{- define "lso.mediamtxDomain" -}}
{{- printf "%s.%s.svc" (include "lso.mediamtxHeadless" .) .Release.Namespace -}}
{{- end -}}
{{- define "lso.mediamtxInstances" -}}
{{- $sts := include "lso.mediamtxStatefulSet" . -}}
{{- $names := list -}}
{{- range $i := until (int .Values.mediamtx.replicas) -}}
{{- $names = append $names (printf "%s-%d" $sts $i) -}}
{{- end -}}
{{- join "," $names -}}
{{- end -}}
{{- define "lso.mediamtxPlaybackUrl" -}}
{{- printf "http://%s:%v" (include "lso.mediamtxHost" .) .Values.mediamtx.ports.playback -}}
{{- end -}}
{{- define "lso.hooksUrl" -}}
{{- printf "http://%s.%s.svc:%v" (include "lso.component" (dict "root" . "component" "hooks")) .Release.Namespace .Values.hooks.port -}}
{{- end -}}

{{/* The Secret with the internal credentials (generated, or the user's own). */}}
{{- define "lso.internalSecret" -}}
{{- .Values.internalCredentials.existingSecret | default (include "lso.component" (dict "root" . "component" "internal")) -}}
{{- end -}}

{{/* One variable from the internal Secret. */}}
{{- define "lso.internalEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "lso.internalSecret" .root }}
      key: {{ .key }}
{{- end -}}

{{/* Auth settings and the credentials the operator and the receiver share. */}}
{{- define "lso.authEnv" -}}
- name: LSO_AUTH_MODE
  value: {{ .Values.auth.mode | quote }}
- name: LSO_OUTPUT_READ
  value: {{ .Values.auth.outputRead | quote }}
- name: LSO_MAX_STREAMS
  value: {{ .Values.auth.maxStreams | quote }}
- name: LSO_MAX_STREAMS_PER_IP
  value: {{ .Values.auth.maxStreamsPerIP | quote }}
- name: LSO_INTERNAL_SECRET
  value: {{ include "lso.internalSecret" . | quote }}
{{ include "lso.internalEnv" (dict "root" . "name" "LSO_OPERATOR_PASSWORD" "key" "operator-password") }}
{{- end -}}

{{/* Hardened container security context (non-root, read-only root fs). */}}
{{- define "lso.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The reference backends enabled in backends.*, in a fixed order. */}}
{{- define "lso.backendKinds" -}}
{{- $kinds := list }}
{{- range $kind := list "tone" "loudness" "gemini" }}
{{- if (index $.Values.backends $kind).enabled }}
{{- $kinds = append $kinds $kind }}
{{- end }}
{{- end }}
{{- join " " $kinds -}}
{{- end -}}

{{/* The Secret with the token clients of the reference backends present. */}}
{{- define "lso.backendTokenSecret" -}}
{{- include "lso.component" (dict "root" . "component" "backend-token") -}}
{{- end -}}

{{/* Checks of streams.* that the schema cannot express; fails the render. */}}
{{- define "lso.validateStreams" -}}
{{- $processing := .Values.streams.defaultProcessing }}
{{- if and (eq .Values.streams.defaultWorkerMode "process") (not $processing) }}
{{- fail "streams.defaultWorkerMode is process but streams.defaultProcessing is empty: set streams.defaultProcessing.backend (a url, or a service: {name, port, path}) or choose another streams.defaultWorkerMode" }}
{{- end }}
{{- if $processing }}
{{- $ref := dig "backend" "credentialsSecretRef" "name" "" $processing }}
{{- if and $ref (eq $ref (include "lso.internalSecret" .)) }}
{{- fail (printf "streams.defaultProcessing.backend.credentialsSecretRef names the internal Secret %s, whose credentials must never go to a backend: use %s (the reference backends' token) or a Secret of your own" $ref (include "lso.backendTokenSecret" .)) }}
{{- end }}
{{- end }}
{{- $slate := .Values.streams.inputLossSlate }}
{{- if and $slate (not (hasKey .Values.slates $slate)) }}
{{- fail (printf "streams.inputLossSlate names %q, which is not one of slates (%s): declare it under slates or leave streams.inputLossSlate empty for MediaMTX's built-in slate" $slate (keys .Values.slates | sortAlpha | join ", ")) }}
{{- end }}
{{- end -}}

{{/* Settings shared by the operator and the hook receiver (LSO_* variables). */}}
{{- define "lso.settingsEnv" -}}
{{- include "lso.validateStreams" . -}}
- name: LSO_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: LSO_MEDIAMTX_API_URL
  value: {{ printf "http://%s:%v" (include "lso.mediamtxHost" .) .Values.mediamtx.ports.api | quote }}
- name: LSO_MEDIAMTX_RTSP_URL
  value: {{ printf "rtsp://%s:%v" (include "lso.mediamtxHost" .) .Values.mediamtx.ports.rtsp | quote }}
- name: LSO_MEDIAMTX_RTMP_URL
  value: {{ printf "rtmp://%s:%v" (include "lso.mediamtxHost" .) .Values.mediamtx.ports.rtmp | quote }}
- name: LSO_MEDIAMTX_INSTANCES
  value: {{ include "lso.mediamtxInstances" . | quote }}
- name: LSO_MEDIAMTX_DOMAIN
  value: {{ include "lso.mediamtxDomain" . | quote }}
- name: LSO_WORKER_IMAGE
  value: {{ include "lso.image" (dict "root" . "image" .Values.images.worker) | quote }}
- name: LSO_FORWARDER_IMAGE
  value: {{ include "lso.image" (dict "root" . "image" .Values.images.forwarder) | quote }}
- name: LSO_IMAGE_PULL_POLICY
  value: {{ .Values.image.pullPolicy | quote }}
- name: LSO_WORKER_RESOURCES
  value: {{ .Values.streams.workerResources | toJson | quote }}
- name: LSO_FORWARDER_RESOURCES
  value: {{ .Values.streams.forwarderResources | toJson | quote }}
- name: LSO_DEFAULT_WORKER_MODE
  value: {{ .Values.streams.defaultWorkerMode | quote }}
- name: LSO_DEFAULT_WORKER_OUTPUT
  value: {{ .Values.streams.workerOutput | quote }}
- name: LSO_DEFAULT_INPUT_LOSS_FILL
  value: {{ .Values.streams.inputLossFill | quote }}
- name: LSO_DEFAULT_INPUT_LOSS_SLATE
  value: {{ .Values.streams.inputLossSlate | quote }}
- name: LSO_SLATES
  value: {{ .Values.slates | toJson | quote }}
- name: LSO_EARLY_SIGNAL
  value: {{ .Values.streams.earlySignal | quote }}
- name: LSO_CONNECT_TIMEOUT_SECONDS
  value: {{ .Values.streams.connectTimeoutSeconds | quote }}
- name: LSO_DEFAULT_GRACE_SECONDS
  value: {{ .Values.streams.gracePeriodSeconds | quote }}
- name: LSO_DEFAULT_DESTINATIONS
  value: {{ .Values.streams.defaultDestinations | toJson | quote }}
- name: LSO_DESTINATION_MAX_RETRIES
  value: {{ .Values.streams.destinationRetry.maxRetries | quote }}
- name: LSO_DESTINATION_BACKOFF_SECONDS
  value: {{ .Values.streams.destinationRetry.backoffSeconds | quote }}
- name: LSO_DESTINATION_BACKOFF_CAP_SECONDS
  value: {{ .Values.streams.destinationRetry.backoffCapSeconds | quote }}
{{- with .Values.streams.defaultProcessing }}
- name: LSO_DEFAULT_PROCESSING
  value: {{ . | toJson | quote }}
{{- end }}
- name: LSO_RESYNC_SECONDS
  value: {{ .Values.streams.resyncSeconds | quote }}
{{- /* Recording and playback: the receiver lists recordings on MediaMTX's playback
server (in-cluster) and links downloads to the public address; the operator puts
the public protocol addresses in status.playback and reports StorageFull. */}}
- name: LSO_MEDIAMTX_PLAYBACK_URL
  value: {{ include "lso.mediamtxPlaybackUrl" . | quote }}
{{- with .Values.playback.publicDownloadUrl }}
- name: LSO_PLAYBACK_PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
- name: LSO_PUBLIC_URLS
  value: {{ include "lso.publicUrls" . | quote }}
- name: LSO_PLAYBACK_INGEST
  value: {{ .Values.playback.ingest | quote }}
- name: LSO_RECORDING_MIN_FREE_BYTES
  value: {{ .Values.recording.minFreeBytes | int64 | quote }}
- name: LSO_RECORDING_MAX_RETENTION
  value: {{ .Values.recording.maxRetention | quote }}
- name: LSO_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}

{{/* playback.publicUrls as JSON, only the protocols that have an address (LSO_PUBLIC_URLS). */}}
{{- define "lso.publicUrls" -}}
{{- $urls := dict }}
{{- range $proto, $url := .Values.playback.publicUrls }}
{{- if $url }}
{{- $_ := set $urls $proto $url }}
{{- end }}
{{- end }}
{{- $urls | toJson -}}
{{- end -}}

{{/* The recordings volume: the chart's PVC (and, with hostPath, its PV). */}}
{{- define "lso.recordingsClaim" -}}
{{- .Values.recording.persistence.existingClaim | default (include "lso.component" (dict "root" . "component" "recordings")) -}}
{{- end -}}
{{/* A PersistentVolume is cluster-scoped: the namespace keeps releases of the same name apart. */}}
{{- define "lso.recordingsVolume" -}}
{{- printf "%s-%s" .Release.Namespace (include "lso.component" (dict "root" . "component" "recordings")) | trunc 253 | trimSuffix "-" -}}
{{- end -}}
{{/* storageClassName for the chart's PVC: "-" stands for "" (no class: no dynamic provisioning). */}}
{{- define "lso.recordingsStorageClass" -}}
{{- $class := .Values.recording.persistence.storageClassName -}}
{{- if ne $class "-" }}{{ $class }}{{ end -}}
{{- end -}}

{{/* Checks of recording.* that the schema cannot express; fails the render. */}}
{{- define "lso.validateRecording" -}}
{{- $p := .Values.recording.persistence }}
{{- if and $p.enabled $p.existingClaim $p.hostPath }}
{{- fail "recording.persistence: set either existingClaim (a PVC of your own) or hostPath (the chart makes a hostPath PersistentVolume and its PVC), not both" }}
{{- end }}
{{- end -}}
