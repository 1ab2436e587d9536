{{/* Names and labels */}}
{{- define "minorguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "minorguard.fullname" -}}
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

{{/* <fullname>-<suffix>, kept within the 63 characters of a DNS label */}}
{{- define "minorguard.suffixed" -}}
{{- $full := include "minorguard.fullname" .ctx -}}
{{- printf "%s-%s" ($full | trunc (int (sub 62 (len .suffix))) | trimSuffix "-") .suffix -}}
{{- end -}}

{{- define "minorguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "minorguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "minorguard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "minorguard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: minorguard
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "minorguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "minorguard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "minorguard.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Where things are mounted in the sidecar container */}}
{{- define "minorguard.configDir" -}}/etc/minorguard/config{{- end -}}
{{- define "minorguard.policyDir" -}}/etc/minorguard/policy{{- end -}}
{{- define "minorguard.secretsDir" -}}/etc/minorguard/secrets{{- end -}}

{{/* The chart's generated or value-given Secrets */}}
{{- define "minorguard.secretName" -}}{{ include "minorguard.fullname" . }}{{- end -}}
{{- define "minorguard.subjectSecretName" -}}{{ include "minorguard.suffixed" (dict "ctx" . "suffix" "subject") }}{{- end -}}
{{- define "minorguard.redisName" -}}{{ include "minorguard.suffixed" (dict "ctx" . "suffix" "redis") }}{{- end -}}
{{- define "minorguard.policyConfigMapName" -}}
{{- if .Values.policy.existingConfigMap -}}
{{- .Values.policy.existingConfigMap -}}
{{- else -}}
{{- include "minorguard.suffixed" (dict "ctx" . "suffix" "policy") -}}
{{- end -}}
{{- end -}}

{{/*
The policy: "existing" (a ConfigMap you manage), "preset" (a bundled preset) or "content" (a ConfigMap
the chart makes from policy.content).
*/}}
{{- define "minorguard.policyMode" -}}
{{- $p := .Values.policy -}}
{{- if and $p.existingConfigMap $p.preset -}}
{{- fail "policy: give policy.existingConfigMap or policy.preset, not both" -}}
{{- else if $p.existingConfigMap -}}existing
{{- else if $p.preset -}}preset
{{- else if $p.content -}}content
{{- else -}}
{{- fail "policy: give policy.content, policy.existingConfigMap or policy.preset" -}}
{{- end -}}
{{- end -}}

{{- define "minorguard.policyRef" -}}
{{- $mode := include "minorguard.policyMode" . -}}
{{- if eq $mode "existing" -}}
{{- printf "%s/%s" (include "minorguard.policyDir" .) .Values.policy.existingConfigMapKey -}}
{{- else if eq $mode "preset" -}}
{{- .Values.policy.preset -}}
{{- else -}}
{{- printf "%s/policy.yaml" (include "minorguard.policyDir" .) -}}
{{- end -}}
{{- end -}}

{{/*
The secrets the sidecar reads, as a YAML list of {name, key, path}: the Secret, its key, and the file
under /etc/minorguard/secrets. A section with neither value nor existingSecret is left out.
*/}}
{{- define "minorguard.secretFiles" -}}
{{- $s := .Values.secrets -}}
{{- $own := include "minorguard.secretName" . -}}
{{- $subject := $s.subjectSecret -}}
- path: subject-secret
{{- if $subject.existingSecret }}
  name: {{ $subject.existingSecret }}
  key: {{ $subject.key }}
{{- else if $subject.value }}
  name: {{ $own }}
  key: subject-secret
{{- else }}
  name: {{ include "minorguard.subjectSecretName" . }}
  key: subject-secret
{{- end }}
{{- range $field, $path := dict "adminToken" "admin-token" "settleToken" "settle-token" "refundToken" "refund-token" "identityToken" "identity-token" "guardianToken" "guardian-token" "jwtPublicKey" "jwt-public-key.pem" "jwtHsSecret" "jwt-hs-secret" "nppaSecretKey" "nppa-secret-key" }}
{{- $ref := get $s $field }}
{{- if $ref.existingSecret }}
- path: {{ $path }}
  name: {{ $ref.existingSecret }}
  key: {{ $ref.key }}
{{- else if $ref.value }}
- path: {{ $path }}
  name: {{ $own }}
  key: {{ $path }}
{{- end }}
{{- end }}
{{- if .Values.redis.enabled }}
- path: store-password
  name: {{ default (include "minorguard.redisName" .) .Values.redis.password.existingSecret }}
  key: {{ ternary .Values.redis.password.key "redis-password" (not (empty .Values.redis.password.existingSecret)) }}
{{- else if .Values.store.password.existingSecret }}
- path: store-password
  name: {{ .Values.store.password.existingSecret }}
  key: {{ .Values.store.password.key }}
{{- else if .Values.store.password.value }}
- path: store-password
  name: {{ $own }}
  key: store-password
{{- end }}
{{- if .Values.redis.enabled }}
{{- else if .Values.store.sentinelPassword.existingSecret }}
- path: store-sentinel-password
  name: {{ .Values.store.sentinelPassword.existingSecret }}
  key: {{ .Values.store.sentinelPassword.key }}
{{- else if .Values.store.sentinelPassword.value }}
- path: store-sentinel-password
  name: {{ $own }}
  key: store-sentinel-password
{{- end }}
{{- end -}}

{{- define "minorguard.hasSecretFile" -}}
{{- range (include "minorguard.secretFiles" .ctx | fromYamlArray) -}}
{{- if eq .path $.path }}yes{{ end -}}
{{- end -}}
{{- end -}}

{{/* The store URL the sidecar is given (the password comes from its own secret file) */}}
{{- define "minorguard.storeUrl" -}}
{{- if and .Values.redis.enabled .Values.store.url -}}
{{- fail "store: store.url is set and redis.enabled is true; turn redis.enabled off to use your Redis" -}}
{{- else if .Values.redis.enabled -}}
{{- printf "redis://%s:6379/0" (include "minorguard.redisName" .) -}}
{{- else if not .Values.store.url -}}
{{- fail "store: set store.url to your Redis (redis://, rediss://, redis+sentinel:// or redis+cluster://), or redis.enabled=true for a trial Redis" -}}
{{- else if contains "@" .Values.store.url -}}
{{- fail "store: store.url must not carry credentials; give the password in store.password" -}}
{{- else -}}
{{- .Values.store.url -}}
{{- end -}}
{{- end -}}

{{/* deployment.yaml: config from values, plus what the chart owns */}}
{{- define "minorguard.deploymentConfig" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $dir := include "minorguard.secretsDir" . -}}
{{- $_ := set $cfg "policy" (include "minorguard.policyRef" .) -}}
{{- $_ := set $cfg "store" (include "minorguard.storeUrl" .) -}}
{{- $_ := set $cfg "subject_secret" (dict "file" (printf "%s/subject-secret" $dir)) -}}
{{- if include "minorguard.hasSecretFile" (dict "ctx" . "path" "store-password") -}}
{{- $_ := set $cfg "store_password" (dict "file" (printf "%s/store-password" $dir)) -}}
{{- end -}}
{{- if include "minorguard.hasSecretFile" (dict "ctx" . "path" "store-sentinel-password") -}}
{{- if not (contains "+sentinel://" (include "minorguard.storeUrl" .)) -}}
{{- fail "store: store.sentinelPassword is for a redis+sentinel:// (or rediss+sentinel://) store.url" -}}
{{- end -}}
{{- $_ := set $cfg "store_sentinel_password" (dict "file" (printf "%s/store-sentinel-password" $dir)) -}}
{{- end -}}
{{- if include "minorguard.hasSecretFile" (dict "ctx" . "path" "admin-token") -}}
{{- $_ := set $cfg "admin_token" (dict "file" (printf "%s/admin-token" $dir)) -}}
{{- end -}}
{{- $credentials := default (list) $cfg.credentials -}}
{{- range $path, $may := dict "settle-token" (list "commit" "release") "refund-token" (list "refund") "identity-token" (list "identity") "guardian-token" (list "guardian") -}}
{{- if include "minorguard.hasSecretFile" (dict "ctx" $ "path" $path) -}}
{{- $credentials = append $credentials (dict "name" (trimSuffix "-token" $path) "token" (dict "file" (printf "%s/%s" $dir $path)) "may" $may) -}}
{{- end -}}
{{- end -}}
{{- if $credentials -}}
{{- $_ := set $cfg "credentials" $credentials -}}
{{- end -}}
{{- $hasNppaKey := include "minorguard.hasSecretFile" (dict "ctx" . "path" "nppa-secret-key") -}}
{{- if and $cfg.nppa (not $hasNppaKey) -}}
{{- fail "nppa: config.nppa needs its secret key in secrets.nppaSecretKey (value or existingSecret)" -}}
{{- else if and $hasNppaKey (not $cfg.nppa) -}}
{{- fail "nppa: secrets.nppaSecretKey is set but config.nppa is not" -}}
{{- else if $cfg.nppa -}}
{{- $_ := set $cfg.nppa "secret_key" (dict "file" (printf "%s/nppa-secret-key" $dir)) -}}
{{- end -}}
{{- $identity := $cfg.identity -}}
{{- range $k, $v := deepCopy $identity -}}
{{- if and (kindIs "string" $v) (eq $v "") -}}{{- $_ := unset $identity $k -}}{{- end -}}
{{- end -}}
{{- $sources := list -}}
{{- if $identity.jwks_url -}}{{- $sources = append $sources "config.identity.jwks_url" -}}{{- end -}}
{{- if include "minorguard.hasSecretFile" (dict "ctx" . "path" "jwt-public-key.pem") -}}
{{- $_ := set $identity "pem_file" (printf "%s/jwt-public-key.pem" $dir) -}}
{{- $sources = append $sources "secrets.jwtPublicKey" -}}
{{- end -}}
{{- if include "minorguard.hasSecretFile" (dict "ctx" . "path" "jwt-hs-secret") -}}
{{- $_ := set $identity "hs_secret" (dict "file" (printf "%s/jwt-hs-secret" $dir)) -}}
{{- $sources = append $sources "secrets.jwtHsSecret" -}}
{{- end -}}
{{- if ne (len $sources) 1 -}}
{{- fail (printf "identity: give exactly one token key source (config.identity.jwks_url, secrets.jwtPublicKey or secrets.jwtHsSecret); got %d: %s" (len $sources) (join ", " $sources)) -}}
{{- end -}}
{{- $hs := 0 -}}
{{- range $identity.algorithms -}}{{- if hasPrefix "HS" . -}}{{- $hs = add1 $hs -}}{{- end -}}{{- end -}}
{{- if and (has "secrets.jwtHsSecret" $sources) (ne (int $hs) (len $identity.algorithms)) -}}
{{- fail "identity: secrets.jwtHsSecret verifies HS256/HS384/HS512 tokens: set config.identity.algorithms to HS* only" -}}
{{- end -}}
{{- if and (not (has "secrets.jwtHsSecret" $sources)) (gt (int $hs) 0) -}}
{{- fail "identity: HS* algorithms need secrets.jwtHsSecret (config.identity.jwks_url and secrets.jwtPublicKey are for RS*/ES*/PS*/EdDSA)" -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* The port of a URL (config.identity.jwks_url, config.nppa.base_url), for the NetworkPolicy */}}
{{- define "minorguard.urlPort" -}}
{{- $u := urlParse . -}}
{{- $hostPort := splitList ":" $u.host -}}
{{- if gt (len $hostPort) 1 -}}{{ last $hostPort }}{{- else if eq $u.scheme "http" -}}80{{- else -}}443{{- end -}}
{{- end -}}
