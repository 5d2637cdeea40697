{{/* Names and labels shared by the chart's manifests. */}}

{{- define "gatekey.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gatekey.fullname" -}}
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

{{- define "gatekey.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatekey.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gatekey.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gatekey.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gatekey.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gatekey.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Where the Kong admin token Secret is mounted, and the file Gatekey reads. */}}
{{- define "gatekey.kongTokenDir" -}}/var/run/secrets/gatekey/kong{{- end }}

{{/* Where the Backstage proxy secret Secret is mounted. */}}
{{- define "gatekey.proxySecretDir" -}}/var/run/secrets/gatekey/proxy{{- end }}

{{/* gatekey.toml from .Values.config. Strings are JSON-quoted, which TOML reads as basic strings. */}}
{{- define "gatekey.configToml" -}}
{{- $c := .Values.config -}}
# Rendered by the Gatekey Helm chart. Reference: docs/configuration.md
# GATEKEY_MONGODB__URI comes from a Secret; GATEKEY_LISTEN and GATEKEY_ADMIN_LISTEN from the
# Deployment.
policy_file = "/etc/gatekey-policy/policy.yaml"
allow_insecure_http = {{ $c.allowInsecureHttp | default false }}

[http]
request_timeout_seconds = {{ int $c.http.requestTimeoutSeconds }}
body_limit_bytes = {{ int $c.http.bodyLimitBytes }}

[mongodb]
database = {{ $c.mongodb.database | toJson }}
issuance_retention_days = {{ int $c.mongodb.issuanceRetentionDays }}
{{- if $c.mongodb.auditRetentionDays }}
audit_retention_days = {{ int $c.mongodb.auditRetentionDays }}
{{- end }}

[kong]
admin_url = {{ required "config.kong.adminUrl is required" $c.kong.adminUrl | toJson }}
request_timeout_ms = {{ int $c.kong.requestTimeoutMs }}
connect_timeout_ms = {{ int $c.kong.connectTimeoutMs }}
max_retries = {{ int $c.kong.maxRetries }}
{{- if .Values.secrets.kongAdminToken.name }}
admin_token_header = {{ required "config.kong.adminTokenHeader is required with secrets.kongAdminToken" $c.kong.adminTokenHeader | toJson }}
admin_token_file = "{{ include "gatekey.kongTokenDir" . }}/admin-token"
{{- end }}

[gateway]
allowed_urls = {{ required "config.gateway.allowedUrls is required" $c.gateway.allowedUrls | toJson }}

[auth]
clock_skew_seconds = {{ int $c.auth.clockSkewSeconds }}
jwks_refresh_min_interval_seconds = {{ int $c.auth.jwksRefreshMinIntervalSeconds }}
{{- if .Values.secrets.proxySecret.name }}

[auth.proxy_secret]
current_file = "{{ include "gatekey.proxySecretDir" . }}/current"
{{- if .Values.secrets.proxySecret.previousKey }}
previous_file = "{{ include "gatekey.proxySecretDir" . }}/previous"
{{- end }}
{{- end }}

[log]
format = {{ $c.log.format | toJson }}
filter = {{ $c.log.filter | toJson }}
{{- range $c.auth.issuers }}

[[auth.issuers]]
name = {{ required "each issuer needs a name" .name | toJson }}
issuer = {{ required "each issuer needs an issuer URL" .issuer | toJson }}
audiences = {{ required "each issuer needs audiences" .audiences | toJson }}
algorithms = {{ required "each issuer needs algorithms" .algorithms | toJson }}
subject_claim = {{ default "sub" .subjectClaim | toJson }}
groups_claims = [
{{- range $i, $claim := .groupsClaims }}{{ if $i }}, {{ end }}{ path = {{ $claim.path | toJson }}{{ with $claim.prefix }}, prefix = {{ . | toJson }}{{ end }} }{{ end -}}
]
allowed_jose_types = {{ default list .allowedJoseTypes | toJson }}
{{- with .groupPrefix }}
group_prefix = {{ . | toJson }}
{{- end }}
{{- if .requiresProxySecret }}
{{- if not $.Values.secrets.proxySecret.name }}
{{- fail "an issuer with requiresProxySecret needs secrets.proxySecret.name" }}
{{- end }}
requires_proxy_secret = true
{{- end }}
{{- end }}
{{- end }}
