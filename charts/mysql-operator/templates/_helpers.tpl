{{/* The chart's name, or nameOverride. */}}
{{- define "mysql-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's objects: the release name if it holds the chart's name. */}}
{{- define "mysql-operator.fullname" -}}
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

{{- define "mysql-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mysql-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mysql-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mysql-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mysql-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mysql-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mysql-operator.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if eq $tag "latest" }}
{{- fail "image.tag: pin a version, not latest" }}
{{- end }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}

{{/*
What the operator does in each namespace it serves.  Every verb is one the
code uses: kopf lists, watches and patches the MySQL objects (finalizer,
annotations, status) and posts Events; mysql_operator/_kube.py gets, creates,
server-side applies (patch) and deletes the objects of an instance, and lists
the pods of its Jobs to read their termination messages.
*/}}
{{- define "mysql-operator.namespacedRules" -}}
# kopf: the MySQL objects (watch; finalizer and annotations by merge patch).
- apiGroups: ["otus.homework"]
  resources: ["mysqls"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["otus.homework"]
  resources: ["mysqls/status"]
  verbs: ["patch"]
# kopf: Events about the MySQL objects.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
# The credentials Secret (created, its `pending` key patched during a password
# rotation); `list`/`watch` notice a change of a Secret named by
# spec.password_secret, which rotates the live password.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# The data and backup claims (created, the data claim resized by apply).
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "create", "patch", "delete"]
# The Service, by server-side apply; `get` tells a re-creation (drift) apart.
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "create", "patch", "delete"]
# The Jobs' pods: their termination messages, or their last log line when
# the kubelet dropped the message.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
# The MySQL Deployment, by server-side apply; `get` reads its availability.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "create", "patch", "delete"]
# The backup, restore and password-rotation Jobs (patched: a rotation Job's
# target digest, a failed Job's mark that its Warning was posted).
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "create", "patch", "delete"]
{{- end }}

{{/* What the operator needs outside any namespace. */}}
{{- define "mysql-operator.clusterRules" -}}
# kopf: notice the CRD being created, changed or removed.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- if .Values.watchNamespaces }}
# kopf, serving a list of namespaces: which of them exist (names only; without
# this it retries the listing for minutes before it serves anything).
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
{{- if .Values.rbac.persistentVolumes }}
# Static hostPath volumes of MySQL objects with spec.host_path.
- apiGroups: [""]
  resources: ["persistentvolumes"]
  verbs: ["get", "create", "delete"]
{{- end }}
{{- end }}
