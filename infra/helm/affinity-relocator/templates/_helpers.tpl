{{/*
Labels of every object: the component's two labels (the same as the kustomize manifests put on it) and
Helm's bookkeeping labels. Call with (dict "root" $ "component" "forwarder").
*/}}
{{- define "affinity-relocator.labels" -}}
app.kubernetes.io/name: affinity-relocator
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The forwarder's pods: its Deployment's selector, its pod template and its PodDisruptionBudget. */}}
{{- define "affinity-relocator.forwarderSelector" -}}
app.kubernetes.io/name: affinity-relocator
app.kubernetes.io/component: forwarder
{{- end }}

{{/* The forwarder's ServiceAccount, ClusterRole, Role, their bindings and its Deployment share one name. */}}
{{- define "affinity-relocator.forwarderName" -}}
affinity-relocator-forwarder
{{- end }}

{{- define "affinity-relocator.clusterName" -}}
{{- required "clusterName is required: the EKS cluster's name as the relocator Lambdas know it (serverless.yml param clusterName), e.g. --set clusterName=prod" .Values.clusterName -}}
{{- end }}

{{/*
Non-empty when the steering objects are to be rendered: steering.enabled, and the cluster serves
admissionregistration.k8s.io/v1 MutatingAdmissionPolicy (or steering.skipApiCheck says to assume it).
*/}}
{{- define "affinity-relocator.steering" -}}
{{- if and .Values.steering.enabled (or .Values.steering.skipApiCheck (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy")) -}}
true
{{- end -}}
{{- end }}
