{{/* Names, labels and the pieces both deployments share. */}}

{{- define "drbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "drbot.fullname" -}}
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

{{- define "drbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "drbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "drbot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "drbot.labels" -}}
helm.sh/chart: {{ include "drbot.chart" . }}
{{ include "drbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "drbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "drbot.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "drbot.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/*
Where a site's kubeconfig is mounted: the path config.sites.<site>.cluster.kubeconfig names, or
/etc/drbot/kubeconfigs/<site>. Empty for an inCluster site. Argument: (dict "root" $ "site" "primary").
*/}}
{{- define "drbot.kubeconfigPath" -}}
{{- $kc := index .root.Values.kubeconfigs .site -}}
{{- $named := (index .root.Values.config.sites .site).cluster.kubeconfig | default "" -}}
{{- if $kc.inCluster -}}
{{- if $named -}}
{{- fail (printf "config.sites.%s.cluster.kubeconfig: remove it; kubeconfigs.%s.inCluster is true, so drbot uses this release's ServiceAccount" .site .site) -}}
{{- end -}}
{{- else if $kc.existingSecret -}}
{{- $named | default (printf "/etc/drbot/kubeconfigs/%s" .site) -}}
{{- else -}}
{{- fail (printf "kubeconfigs.%s: set existingSecret (a Secret holding a token-based kubeconfig for the %s cluster) or inCluster: true" .site .site) -}}
{{- end -}}
{{- end -}}

{{/*
Where a site's EFS root is mounted in the workers. drbot's configuration is the source of truth
(drbot checks it at start-up and writes it into nothing else); efs.<site>.mountPath may repeat it,
and a different value stops the install instead of mounting the root where drbot does not look.
Argument: (dict "root" $ "site" "primary").
*/}}
{{- define "drbot.efsMountPath" -}}
{{- $configured := (index .root.Values.config.sites .site).efs.mountPath | trimSuffix "/" -}}
{{- $given := (index .root.Values.efs .site).mountPath | default "" | trimSuffix "/" -}}
{{- if and $given (ne $given $configured) -}}
{{- fail (printf "efs.%s.mountPath (%s) differs from config.sites.%s.efs.mountPath (%s): drbot creates volume directories under the configured path, so both must name the same place" .site $given .site $configured) -}}
{{- end -}}
{{- $configured -}}
{{- end -}}

{{/* The NFS server of a site's EFS root: efs.<site>.server, else the configured hostname. */}}
{{- define "drbot.efsServer" -}}
{{- (index .root.Values.efs .site).server | default (index .root.Values.config.sites .site).efs.hostname -}}
{{- end -}}

{{/* Whether any site uses this release's ServiceAccount as its Kubernetes credentials ("true" or ""). */}}
{{- define "drbot.inCluster" -}}
{{- if or .Values.kubeconfigs.primary.inCluster .Values.kubeconfigs.secondary.inCluster -}}true{{- end -}}
{{- end -}}

{{/* drbot.yaml as the pods read it: .Values.config with each cluster's kubeconfig path filled in. */}}
{{- define "drbot.config" -}}
{{- $_ := include "drbot.validate" . -}}
{{- $config := deepCopy .Values.config -}}
{{- range $site := list "primary" "secondary" -}}
{{- $cluster := (index $config.sites $site).cluster -}}
{{- $path := include "drbot.kubeconfigPath" (dict "root" $ "site" $site) -}}
{{- if $path -}}
{{- $_ := set $cluster "kubeconfig" $path -}}
{{- else -}}
{{- $_ := unset $cluster "kubeconfig" -}}
{{- end -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* Rolls the pods when anything in the ConfigMap changes. */}}
{{- define "drbot.configChecksum" -}}
{{- list (include "drbot.config" .) .Values.pvTemplates | toJson | sha256sum -}}
{{- end -}}

{{/*
The worker's pod security context. With worker.chownAsRoot it runs as uid 0, because EFS (NFS)
decides ownership changes by the caller's uid: only root may give a directory to another user.
*/}}
{{- define "drbot.workerPodSecurityContext" -}}
{{- $ctx := deepCopy .Values.podSecurityContext -}}
{{- if .Values.worker.chownAsRoot -}}
{{- $_ := set $ctx "runAsNonRoot" false -}}
{{- $_ := set $ctx "runAsUser" 0 -}}
{{- $_ := set $ctx "runAsGroup" 0 -}}
{{- end -}}
{{- toYaml $ctx -}}
{{- end -}}

{{/* The worker's container security context: with chownAsRoot, CHOWN and FOWNER and nothing else. */}}
{{- define "drbot.workerSecurityContext" -}}
{{- $ctx := deepCopy .Values.securityContext -}}
{{- if .Values.worker.chownAsRoot -}}
{{- $_ := set $ctx "capabilities" (dict "drop" (list "ALL") "add" (list "CHOWN" "FOWNER")) -}}
{{- end -}}
{{- toYaml $ctx -}}
{{- end -}}

{{/* Environment both deployments share. Secrets only by reference. */}}
{{- define "drbot.env" -}}
- name: DRBOT_CONFIG
  value: /etc/drbot/drbot.yaml
- name: PORT
  value: {{ .Values.port | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: DRBOT_REDIS_PREFIX
  value: {{ .Values.redis.keyPrefix | quote }}
- name: SLACK_BOT_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.existingSecret }}
      key: {{ .Values.secrets.keys.slackBotToken }}
- name: GITHUB_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.existingSecret }}
      key: {{ .Values.secrets.keys.githubToken }}
{{- if .Values.redis.enabled }}
{{- if .Values.redis.auth.existingSecret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.auth.existingSecret }}
      key: {{ .Values.redis.auth.key }}
- name: REDIS_URL
  value: "redis://:$(REDIS_PASSWORD)@{{ include "drbot.fullname" . }}-redis:6379/0"
{{- else }}
- name: REDIS_URL
  value: "redis://{{ include "drbot.fullname" . }}-redis:6379/0"
{{- end }}
{{- else if .Values.redis.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.existingSecretKey }}
{{- else }}
- name: REDIS_URL
  value: {{ .Values.redis.url | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* drbot.yaml and the PV/PVC templates (file by file under /etc/drbot, from the ConfigMap) and /tmp. */}}
{{- define "drbot.commonMounts" -}}
- name: config
  mountPath: /etc/drbot/drbot.yaml
  subPath: drbot.yaml
  readOnly: true
{{- range $name, $_ := .Values.pvTemplates }}
- name: config
  mountPath: /etc/drbot/templates/{{ $name }}
  subPath: template.{{ $name }}
  readOnly: true
{{- end }}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/*
Refuses values that would render but fail at run time. Included by "drbot.config", which every
workload renders, so the first error is always one of these; it prints nothing.
*/}}
{{- define "drbot.validate" -}}
{{- range $site := list "primary" "secondary" -}}
{{- if not (dig "sites" $site "efs" "mountPath" "" $.Values.config) -}}
{{- fail (printf "config.sites.%s: set the %s site's cluster and EFS file system (see ci/example-values.yaml)" $site $site) -}}
{{- end -}}
{{- end -}}
{{- if not .Values.secrets.existingSecret -}}
{{- fail "secrets.existingSecret: name the Secret holding SLACK_BOT_TOKEN, GITHUB_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN); see NOTES.txt" -}}
{{- end -}}
{{- $sources := 0 -}}
{{- if .Values.redis.url }}{{ $sources = add1 $sources }}{{ end -}}
{{- if .Values.redis.existingSecret }}{{ $sources = add1 $sources }}{{ end -}}
{{- if .Values.redis.enabled }}{{ $sources = add1 $sources }}{{ end -}}
{{- if ne (int $sources) 1 -}}
{{- fail "redis: set exactly one of redis.url, redis.existingSecret or redis.enabled (the bundled Redis)" -}}
{{- end -}}
{{- if and .Values.ingress.enabled .Values.slack.socketMode -}}
{{- fail "ingress.enabled: in Socket Mode (slack.socketMode) Slack is reached over a WebSocket; disable the Ingress" -}}
{{- end -}}
{{- if and .Values.kubeconfigs.primary.inCluster .Values.kubeconfigs.secondary.inCluster -}}
{{- fail "kubeconfigs: only one site can be the cluster drbot runs in; give the other an existingSecret" -}}
{{- end -}}
{{- range $site := list "primary" "secondary" -}}
{{- $_ := include "drbot.kubeconfigPath" (dict "root" $ "site" $site) -}}
{{- $_ := include "drbot.efsMountPath" (dict "root" $ "site" $site) -}}
{{- end -}}
{{- if not .Values.worker.chownAsRoot -}}
{{- $psc := .Values.podSecurityContext -}}
{{- $uid := 10001 -}}
{{- if hasKey $psc "runAsUser" }}{{ $uid = int $psc.runAsUser }}{{ end -}}
{{- $gids := list 10001 -}}
{{- if hasKey $psc "runAsGroup" }}{{ $gids = list (int $psc.runAsGroup) }}{{ end -}}
{{- if hasKey $psc "fsGroup" }}{{ $gids = append $gids (int $psc.fsGroup) }}{{ end -}}
{{- range ($psc.supplementalGroups | default list) }}{{ $gids = append $gids (int .) }}{{ end -}}
{{- $dir := .Values.config.volumes.directory | default dict -}}
{{- $wantUid := int ($dir.uid | default 0) -}}
{{- $wantGid := int ($dir.gid | default 0) -}}
{{- if or (ne $wantUid $uid) (not (has $wantGid $gids)) -}}
{{- fail (printf "config.volumes.directory: the worker runs as uid %d with groups %v and can only give new directories that uid and one of those groups, not %d:%d; set uid/gid accordingly, or set worker.chownAsRoot: true (docs/operations.md explains the trade-off)" $uid (uniq $gids) $wantUid $wantGid) -}}
{{- end -}}
{{- end -}}
{{- end -}}
