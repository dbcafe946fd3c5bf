{{/*
The proxy sidecar, for a sender's pod. Four templates, each taking the
sidekey chart's root context: `.` inside this chart, `.Subcharts.sidekey`
in a chart that depends on it (its `.Values` are then the parent's
`sidekey:` values, defaults included).

  spec:
    initContainers:            # `containers:` when sidecar.native is false
      {{- include "sidekey.sidecar" .Subcharts.sidekey | nindent 6 }}
    containers:
      - name: sender
        env:
          {{- include "sidekey.sidecar.env" .Subcharts.sidekey | nindent 10 }}
        volumeMounts:
          {{- include "sidekey.sidecar.volumeMounts" .Subcharts.sidekey | nindent 10 }}
    volumes:
      {{- include "sidekey.sidecar.volumes" .Subcharts.sidekey | nindent 6 }}

The sender's ServiceAccount is the one Vault's Kubernetes auth sees: bind
vault.auth.kubernetes.sidecarRole to it (docs/deploy.md).
*/}}

{{- define "sidekey.sidecar.settings" -}}
{{- $s := .Values.sidecar }}
listen=127.0.0.1:{{ $s.port }}
metrics-listen=0.0.0.0:{{ $s.metricsPort }}
ca-cert=/etc/sidekey-proxy/ca/ca.crt
ca-key=/etc/sidekey-proxy/ca/ca.key
tenant-key-file=/etc/sidekey-proxy/tenant/{{ $s.tenantKeySecret.key }}
{{- if $s.upstreamCASecret.name }}
upstream-ca=/etc/sidekey-proxy/upstream-ca/{{ $s.upstreamCASecret.key }}
{{- end }}
{{- with $s.passthroughHosts }}
passthrough-hosts={{ join "," . }}
{{- end }}
{{- with $s.allowUpstreamCIDRs }}
allow-upstream-cidr={{ join "," . }}
{{- end }}
allow-plain-http-injection={{ $s.allowPlainHTTPInjection }}
scrub-responses={{ $s.scrubResponses }}
{{- with $s.leafValidity }}
leaf-validity={{ . }}
{{- end }}
{{- with $s.limits }}
{{- if .maxBodyBytes }}
max-body-bytes={{ int64 .maxBodyBytes }}
{{- end }}
{{- if .maxHeaderBytes }}
max-header-bytes={{ int64 .maxHeaderBytes }}
{{- end }}
{{- if .maxConns }}
max-conns={{ int64 .maxConns }}
{{- end }}
{{- with .readTimeout }}
read-timeout={{ . }}
{{- end }}
{{- with .writeTimeout }}
write-timeout={{ . }}
{{- end }}
{{- with .idleTimeout }}
idle-timeout={{ . }}
{{- end }}
{{- with .upstreamTimeout }}
upstream-timeout={{ . }}
{{- end }}
{{- with .drainTimeout }}
drain-timeout={{ . }}
{{- end }}
{{- end }}
{{- with $s.cache }}
{{- with .ttl }}
cache-ttl={{ . }}
{{- end }}
{{- if .size }}
cache-size={{ int64 .size }}
{{- end }}
{{- with .negativeTTL }}
negative-ttl={{ . }}
{{- end }}
{{- with .maxStale }}
max-stale={{ . }}
{{- end }}
{{- with .feedInterval }}
feed-interval={{ . }}
{{- end }}
{{- end }}
log-level={{ $s.logLevel }}
{{ include "sidekey.vaultSettings" (dict "root" . "role" "sidecar") }}
{{- end }}

{{/*
sidekey.sidecar is the proxy container: one list item for initContainers
(native sidecar) or containers.
*/}}
{{- define "sidekey.sidecar" -}}
{{- include "sidekey.sidecar.body" . | trim }}
{{- end }}

{{- define "sidekey.sidecar.body" -}}
{{- $s := .Values.sidecar }}
- name: sidekey-proxy
  image: {{ include "sidekey.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if $s.native }}
  restartPolicy: Always
  {{- end }}
  args:
    - proxy
    {{- range splitList "\n" (include "sidekey.sidecar.settings" .) }}
    {{- if trim . }}
    - {{ printf "--%s" (trim .) | toJson }}
    {{- end }}
    {{- end }}
  {{- $venv := include "sidekey.vaultEnv" (dict "root" . "role" "sidecar") | trim }}
  {{- if or $venv $s.goMaxProcs $s.goMemLimit $s.godebug }}
  env:
    {{- with $venv }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with $s.goMaxProcs }}
    - name: GOMAXPROCS
      value: {{ . | toString | quote }}
    {{- end }}
    {{- with $s.goMemLimit }}
    - name: GOMEMLIMIT
      value: {{ . | quote }}
    {{- end }}
    {{- with $s.godebug }}
    - name: GODEBUG
      value: {{ . | quote }}
    {{- end }}
  {{- end }}
  ports:
    - name: sidekey-metrics
      containerPort: {{ $s.metricsPort }}
      protocol: TCP
  startupProbe:
    httpGet:
      path: /healthz
      port: sidekey-metrics
    periodSeconds: 1
    failureThreshold: 30
  livenessProbe:
    httpGet:
      path: /healthz
      port: sidekey-metrics
    periodSeconds: 10
    failureThreshold: 3
  readinessProbe:
    httpGet:
      path: /readyz
      port: sidekey-metrics
    periodSeconds: 5
    failureThreshold: 2
  resources:
    {{- toYaml $s.resources | nindent 4 }}
  securityContext:
    {{- toYaml $s.securityContext | nindent 4 }}
  volumeMounts:
    - name: sidekey-ca
      mountPath: /etc/sidekey-proxy/ca
      readOnly: true
    - name: sidekey-tenant-key
      mountPath: /etc/sidekey-proxy/tenant
      readOnly: true
    {{- if $s.upstreamCASecret.name }}
    - name: sidekey-upstream-ca
      mountPath: /etc/sidekey-proxy/upstream-ca
      readOnly: true
    {{- end }}
    {{- include "sidekey.vaultMounts" (dict "root" . "role" "sidecar" "prefix" "sidekey-") | trim | nindent 4 }}
{{- end }}

{{/*
sidekey.sidecar.volumes are the pod volumes of the sidecar and of what the
sender mounts. The CA key is only in `sidekey-ca`, which only the proxy
mounts; the sender gets `sidekey-ca-trust` (the certificate alone).
*/}}
{{- define "sidekey.sidecar.volumes" -}}
{{- include "sidekey.sidecar.volumes.body" . | trim }}
{{- end }}

{{- define "sidekey.sidecar.volumes.body" -}}
{{- $s := .Values.sidecar }}
- name: sidekey-ca
  secret:
    secretName: {{ $s.caSecret }}
    defaultMode: 0444
    items:
      - key: ca.crt
        path: ca.crt
      - key: ca.key
        path: ca.key
- name: sidekey-ca-trust
  secret:
    secretName: {{ $s.caSecret }}
    defaultMode: 0444
    items:
      - key: ca.crt
        path: ca.crt
- name: sidekey-tenant-key
  secret:
    secretName: {{ $s.tenantKeySecret.name }}
    defaultMode: 0444
    items:
      - key: {{ $s.tenantKeySecret.key }}
        path: {{ $s.tenantKeySecret.key }}
{{- if $s.upstreamCASecret.name }}
- name: sidekey-upstream-ca
  secret:
    secretName: {{ $s.upstreamCASecret.name }}
    defaultMode: 0444
    items:
      - key: {{ $s.upstreamCASecret.key }}
        path: {{ $s.upstreamCASecret.key }}
{{- end }}
{{ include "sidekey.vaultVolumes" (dict "root" . "role" "sidecar" "prefix" "sidekey-") | trim }}
{{- end }}

{{/*
sidekey.sidecar.volumeMounts are the sender container's mounts: the Sidekey
CA certificate to trust and, when sidecar.sender.mountTenantKey, the tenant
key the sender signs Proxy-Authorization with.
*/}}
{{- define "sidekey.sidecar.volumeMounts" -}}
{{- include "sidekey.sidecar.volumeMounts.body" . | trim }}
{{- end }}

{{- define "sidekey.sidecar.volumeMounts.body" -}}
{{- $s := .Values.sidecar }}
- name: sidekey-ca-trust
  mountPath: {{ $s.sender.mountPath }}/ca
  readOnly: true
{{- if $s.sender.mountTenantKey }}
- name: sidekey-tenant-key
  mountPath: {{ $s.sender.mountPath }}/tenant
  readOnly: true
{{- end }}
{{- end }}

{{/*
sidekey.sidecar.env is the sender container's environment: every outbound
call through the sidecar, and trust in the Sidekey CA for the common
runtimes (OpenSSL and Go, Python requests, Node).
*/}}
{{- define "sidekey.sidecar.env" -}}
{{- include "sidekey.sidecar.env.body" . | trim }}
{{- end }}

{{- define "sidekey.sidecar.env.body" -}}
{{- $s := .Values.sidecar }}
{{- $proxy := printf "http://127.0.0.1:%d" (int $s.port) }}
{{- $noProxy := join "," $s.sender.noProxy }}
{{- $ca := printf "%s/ca/ca.crt" $s.sender.mountPath }}
{{- range list "HTTPS_PROXY" "https_proxy" "HTTP_PROXY" "http_proxy" }}
- name: {{ . }}
  value: {{ $proxy | quote }}
{{- end }}
{{- range list "NO_PROXY" "no_proxy" }}
- name: {{ . }}
  value: {{ $noProxy | quote }}
{{- end }}
- name: NODE_USE_ENV_PROXY
  value: "1"
{{- range list "SSL_CERT_FILE" "REQUESTS_CA_BUNDLE" "NODE_EXTRA_CA_CERTS" }}
- name: {{ . }}
  value: {{ $ca | quote }}
{{- end }}
{{- if $s.sender.mountTenantKey }}
- name: SIDEKEY_TENANT_KEY_FILE
  value: {{ printf "%s/tenant/%s" $s.sender.mountPath $s.tenantKeySecret.key | quote }}
{{- end }}
{{- end }}
