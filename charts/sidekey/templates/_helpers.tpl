{{/*
Names and labels. These helpers take the chart's root context.
*/}}

{{- define "sidekey.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sidekey.fullname" -}}
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

{{- define "sidekey.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sidekey.labels" -}}
helm.sh/chart: {{ include "sidekey.chart" . }}
app.kubernetes.io/name: {{ include "sidekey.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "sidekey.admin.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sidekey.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: admin
{{- end }}

{{- define "sidekey.admin.serviceAccountName" -}}
{{- if .Values.admin.serviceAccount.create }}
{{- default (include "sidekey.fullname" .) .Values.admin.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.admin.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sidekey.exampleSender.name" -}}
{{- printf "%s-example-sender" (include "sidekey.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sidekey.exampleSender.serviceAccountName" -}}
{{- $sa := .Values.exampleSender.serviceAccount }}
{{- if $sa.create }}
{{- default (include "sidekey.exampleSender.name" .) $sa.name }}
{{- else }}
{{- default "default" $sa.name }}
{{- end }}
{{- end }}

{{/*
sidekey.image is the image reference: repository@digest, or repository:tag
with the chart's appVersion as the default tag.
*/}}
{{- define "sidekey.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
sidekey.vaultPort is the TCP port of vault.address (443 or 80 when the
address names none), for the NetworkPolicy.
*/}}
{{- define "sidekey.vaultPort" -}}
{{- $u := urlParse .Values.vault.address }}
{{- $port := regexFind ":[0-9]+$" $u.host | trimPrefix ":" }}
{{- if $port }}{{ $port }}{{ else if eq $u.scheme "http" }}80{{ else }}443{{ end }}
{{- end }}

{{/*
sidekey.validate fails the render on settings the schema cannot express.
*/}}
{{- define "sidekey.validate" -}}
{{- if .Values.admin.enabled }}
{{- $modes := 0 }}
{{- if .Values.admin.jwt.hs256Secret.name }}{{ $modes = add1 $modes }}{{ end }}
{{- if .Values.admin.jwt.jwks }}{{ $modes = add1 $modes }}{{ end }}
{{- if .Values.admin.oidc.issuer }}{{ $modes = add1 $modes }}{{ end }}
{{- if eq $modes 0 }}
{{- fail "admin: set admin.jwt.hs256Secret.name, admin.jwt.jwks or admin.oidc.issuer, or the admin API cannot verify any token" }}
{{- end }}
{{- if gt $modes 1 }}
{{- fail "admin: set only one of admin.jwt.hs256Secret.name, admin.jwt.jwks and admin.oidc.issuer (to trust a provider, set admin.jwt.hs256Secret.name to \"\")" }}
{{- end }}
{{- if and .Values.admin.oidc.issuer (not .Values.admin.oidc.clientId) (not .Values.admin.oidc.audience) }}
{{- fail "admin.oidc: set clientId (the web UI's client) or audience" }}
{{- end }}
{{- end }}
{{- if and .Values.admin.enabled .Values.admin.ingress.enabled (not .Values.admin.ingress.hosts) }}
{{- fail "admin.ingress.enabled needs at least one entry in admin.ingress.hosts" }}
{{- end }}
{{- end }}

{{/*
sidekey.vaultSettings renders the Vault settings shared by the admin and the
sidecar as "flag=value" lines (no secret: credentials are files or
secretKeyRefs). Argument: (dict "root" ROOT "role" "admin"|"sidecar").
*/}}
{{- define "sidekey.vaultSettings" -}}
{{- $v := .root.Values.vault }}
{{- $dir := include "sidekey.paths.vaultAuth" . }}
vault-addr={{ $v.address }}
{{- if $v.caSecret.name }}
vault-ca-cert={{ include "sidekey.paths.vaultCA" . }}/{{ $v.caSecret.key }}
{{- end }}
vault-mount={{ $v.mount }}
vault-prefix={{ $v.prefix }}
vault-timeout={{ $v.timeout }}
vault-auth={{ $v.auth.method }}
{{- with $v.auth.mount }}
vault-auth-mount={{ . }}
{{- end }}
{{- if eq $v.auth.method "kubernetes" }}
vault-k8s-role={{ ternary $v.auth.kubernetes.adminRole $v.auth.kubernetes.sidecarRole (eq .role "admin") }}
vault-k8s-jwt-file={{ $dir }}/token
{{- else if eq $v.auth.method "approle" }}
vault-secret-id-file={{ $dir }}/secret-id
{{- else }}
vault-token-file={{ $dir }}/token
{{- end }}
{{- end }}

{{- define "sidekey.paths.vaultAuth" -}}
{{- if eq .role "admin" }}/var/run/secrets/sidekey/vault{{ else }}/var/run/secrets/sidekey-proxy/vault{{ end }}
{{- end }}

{{- define "sidekey.paths.vaultCA" -}}
{{- if eq .role "admin" }}/etc/sidekey/vault-ca{{ else }}/etc/sidekey-proxy/vault-ca{{ end }}
{{- end }}

{{/*
sidekey.vaultVolumes renders the volumes of the Vault CA and credentials.
Argument: (dict "root" ROOT "role" "admin"|"sidecar" "prefix" NAMEPREFIX).
*/}}
{{- define "sidekey.vaultVolumes" -}}
{{- $v := .root.Values.vault }}
{{- if $v.caSecret.name }}
- name: {{ .prefix }}vault-ca
  secret:
    secretName: {{ $v.caSecret.name }}
    defaultMode: 0444
    items:
      - key: {{ $v.caSecret.key }}
        path: {{ $v.caSecret.key }}
{{- end }}
{{- if eq $v.auth.method "kubernetes" }}
- name: {{ .prefix }}vault-auth
  projected:
    defaultMode: 0444
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: {{ $v.auth.kubernetes.expirationSeconds }}
          {{- with $v.auth.kubernetes.audience }}
          audience: {{ . }}
          {{- end }}
{{- else if eq $v.auth.method "approle" }}
- name: {{ .prefix }}vault-auth
  secret:
    secretName: {{ ternary $v.auth.approle.adminSecret $v.auth.approle.sidecarSecret (eq .role "admin") }}
    defaultMode: 0444
    items:
      - key: secret-id
        path: secret-id
{{- else }}
- name: {{ .prefix }}vault-auth
  secret:
    secretName: {{ ternary $v.auth.token.adminSecret $v.auth.token.sidecarSecret (eq .role "admin") }}
    defaultMode: 0444
    items:
      - key: token
        path: token
{{- end }}
{{- end }}

{{/*
sidekey.vaultMounts renders the volumeMounts matching sidekey.vaultVolumes.
*/}}
{{- define "sidekey.vaultMounts" -}}
{{- if .root.Values.vault.caSecret.name }}
- name: {{ .prefix }}vault-ca
  mountPath: {{ include "sidekey.paths.vaultCA" . }}
  readOnly: true
{{- end }}
- name: {{ .prefix }}vault-auth
  mountPath: {{ include "sidekey.paths.vaultAuth" . }}
  readOnly: true
{{- end }}

{{/*
sidekey.vaultEnv renders env entries read from Secrets (the AppRole role id).
*/}}
{{- define "sidekey.vaultEnv" -}}
{{- $v := .root.Values.vault }}
{{- if eq $v.auth.method "approle" }}
- name: SIDEKEY_VAULT_ROLE_ID
  valueFrom:
    secretKeyRef:
      name: {{ ternary $v.auth.approle.adminSecret $v.auth.approle.sidecarSecret (eq .role "admin") }}
      key: role-id
{{- end }}
{{- end }}
