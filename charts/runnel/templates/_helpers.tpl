{{- define "runnel.gatewayName" -}}{{ .Values.gateway.name }}-gateway{{- end -}}
{{- define "runnel.gatewayAddress" -}}{{ .Values.gateway.name }}-gateway:{{ .Values.gateway.grpcPort }}{{- end -}}
{{- define "runnel.gatewayImage" -}}{{ .Values.image.gateway.repository }}:{{ .Values.image.gateway.tag | default .Chart.AppVersion }}{{- end -}}
{{- define "runnel.processorImage" -}}{{ .Values.image.processor.repository }}:{{ .Values.image.processor.tag | default .Chart.AppVersion }}{{- end -}}
{{- define "runnel.chartLabels" -}}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
