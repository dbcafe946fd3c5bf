{{/*
sidekey.admin.settings renders the admin's settings as "flag=value" lines;
admin-configmap.yaml turns them into SIDEKEY_* variables. No secret value:
keys and Vault credentials are files mounted from Secrets.
*/}}
{{- define "sidekey.admin.settings" -}}
{{- $a := .Values.admin }}
listen=0.0.0.0:{{ $a.port }}
metrics-listen=0.0.0.0:{{ $a.metricsPort }}
{{- if $a.jwt.hs256Secret.name }}
jwt-hs256-key-file=/etc/sidekey/jwt/{{ $a.jwt.hs256Secret.key }}
{{- end }}
{{- if $a.jwt.jwks }}
jwt-jwks-file=/etc/sidekey/jwks/jwks.json
{{- end }}
{{- with $a.jwt.issuer }}
jwt-issuer={{ . }}
{{- end }}
{{- with $a.jwt.audience }}
jwt-audience={{ . }}
{{- end }}
{{- with $a.jwt.leeway }}
jwt-leeway={{ . }}
{{- end }}
{{- with $a.oidc.issuer }}
oidc-issuer={{ . }}
{{- end }}
{{- with $a.oidc.clientId }}
oidc-client-id={{ . }}
{{- end }}
{{- with $a.oidc.audience }}
oidc-audience={{ . }}
{{- end }}
{{- with $a.oidc.scopes }}
oidc-scopes={{ join "," . }}
{{- end }}
{{- with $a.oidc.jwksUrl }}
jwks-url={{ . }}
{{- end }}
{{- if $a.oidc.caConfigMap.name }}
oidc-ca-file=/etc/sidekey/oidc-ca/{{ $a.oidc.caConfigMap.key }}
{{- end }}
{{- with $a.claims.role }}
claim-role={{ . }}
{{- end }}
{{- with $a.claims.org }}
claim-org={{ . }}
{{- end }}
{{- with $a.claims.domains }}
claim-domains={{ . }}
{{- end }}
{{- with $a.claims.groups }}
claim-groups={{ . }}
{{- end }}
{{- with $a.claims.orgAdminGroups }}
group-org-admin={{ join "," . }}
{{- end }}
{{- with $a.claims.domainAdminGroups }}
group-domain-admin={{ join "," . }}
{{- end }}
{{- if $a.maxValueBytes }}
max-value-bytes={{ int64 $a.maxValueBytes }}
{{- end }}
{{- with $a.corsOrigins }}
cors-origins={{ join "," . }}
{{- end }}
{{- with $a.shutdownTimeout }}
shutdown-timeout={{ . }}
{{- end }}
log-level={{ $a.logLevel }}
{{ include "sidekey.vaultSettings" (dict "root" . "role" "admin") }}
{{- end }}
