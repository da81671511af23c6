{{/* Labels every object carries. */}}
{{- define "aim-mesh.labels" -}}
app.kubernetes.io/part-of: aim-mesh
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{/* The one image of every component. */}}
{{- define "aim-mesh.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
