/**
 * The Helm chart (infra/helm/affinity-relocator) with Helm itself (built from its Go module, cached like
 * the control plane): it lints, refuses bad values with their names, renders objects the real apiserver
 * accepts (server-side apply, dry run, strict field validation), and renders the same objects as the
 * kustomize manifests (infra/kubernetes, rendered by kustomize's own engine) for the same settings.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CoreV1Api, type KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/build.js';
import { ControlPlane } from '../../src/local-cluster/controlplane.js';
import { serverDryRunApply } from '../cluster/fixtures/dry-run.js';
import { clientsFor } from '../../src/local-cluster/fixtures/clients.js';
import { type ChartTools, ensureChartTools, helmTemplate, kustomizeBuild, objectsOf, runTool } from '../cluster/helm.js';

const CHART = join(repoRoot, 'infra', 'helm', 'affinity-relocator');
const KUSTOMIZE_BASE = join(repoRoot, 'infra', 'kubernetes');
const NAMESPACE = 'affinity-relocator';
/** The labels Helm's convention adds to every object; the kustomize manifests have no such bookkeeping. */
const HELM_LABELS = ['app.kubernetes.io/instance', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/version', 'helm.sh/chart'];

/** The settings of infra/kubernetes/README.md's example overlay, and what replaces its placeholders. */
const PROD = {
  clusterName: 'prod',
  eventBusName: 'affinity-relocator-prod',
  region: 'eu-west-1',
  repository: 'registry.example.com/platform/affinity-relocator-forwarder',
  tag: '1.2.3',
  roleArn: 'arn:aws:iam::111122223333:role/affinity-relocator-prod-eu-west-1-forwarder',
};

let tools: ChartTools;
const scratch = mkdtempSync(join(tmpdir(), 'affinity-relocator-chart-'));

beforeAll(async () => {
  tools = await ensureChartTools();
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** infra/kubernetes/README.md's overlay, as a user copies it, on this checkout; `podIdentity` removes the IRSA annotation as it says. */
function readmeOverlay(o: { podIdentity: boolean }): string {
  const readme = readFileSync(join(KUSTOMIZE_BASE, 'README.md'), 'utf8');
  const block = /```yaml\n(# overlays\/prod\/kustomization\.yaml\n[\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('infra/kubernetes/README.md has no overlays/prod/kustomization.yaml example');
  const dir = mkdtempSync(join(scratch, 'overlay-'));
  let text = block
    .replace(/^( {2}- )github\.com\/\S+.*$/m, `$1${relative(dir, KUSTOMIZE_BASE)}`) // kustomize takes no absolute path
    .replaceAll('<registry>/affinity-relocator-forwarder', PROD.repository)
    .replaceAll('<tag>', PROD.tag)
    .replaceAll('<ForwarderRoleArn>', PROD.roleArn);
  if (o.podIdentity) text = text.replace(/\{ op: replace, (path: \/metadata\/annotations\/eks\.amazonaws\.com~1role-arn), value: \S+ \}/, '{ op: remove, $1 }');
  expect(text).not.toMatch(/<[A-Za-z]+>/);
  writeFileSync(join(dir, 'kustomization.yaml'), text);
  return dir;
}

/** The chart's values for the same settings. */
function prodValues(o: { podIdentity: boolean }): Record<string, string | boolean> {
  return {
    clusterName: PROD.clusterName,
    'namespace.create': true,
    'forwarder.eventBusName': PROD.eventBusName,
    'forwarder.awsRegion': PROD.region,
    'forwarder.image.repository': PROD.repository,
    'forwarder.image.tag': PROD.tag,
    ...(o.podIdentity ? {} : { 'forwarder.serviceAccount.roleArn': PROD.roleArn }),
  };
}

const key = (o: KubernetesObject) => `${o.apiVersion} ${o.kind} ${o.metadata?.namespace ?? '-'}/${o.metadata?.name}`;

/** Objects by key, with Helm's bookkeeping labels taken off (after checking that every object has them). */
function withoutHelmLabels(objects: KubernetesObject[]): Map<string, KubernetesObject> {
  return new Map(
    objects.map((o) => {
      const labels = { ...o.metadata?.labels };
      expect(Object.keys(labels).filter((l) => HELM_LABELS.includes(l)).sort(), key(o)).toEqual(HELM_LABELS);
      for (const l of HELM_LABELS) delete labels[l];
      return [key(o), { ...o, metadata: { ...o.metadata, labels } }];
    }),
  );
}

const byKey = (objects: KubernetesObject[]) => new Map(objects.map((o) => [key(o), o]));

/** What a Kubernetes 1.36+ cluster serves and the steering objects need; `helm template` assumes it only when told. */
const WITH_MAP = ['admissionregistration.k8s.io/v1/MutatingAdmissionPolicy'];
const STEERING = [
  'CustomResourceDefinition/assistantplacements.affinity-relocator.io',
  'MutatingAdmissionPolicy/affinity-relocator-steers-assistants',
  'MutatingAdmissionPolicyBinding/affinity-relocator-steers-assistants',
];

describe('the Helm chart', () => {
  it('passes helm lint --strict', async () => {
    const r = await runTool(tools.helm, ['lint', '--strict', CHART, '--namespace', NAMESPACE, '--set-string', 'clusterName=lint']);
    expect(r.stderr + r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(r.code).toBe(0);
  });

  it('refuses to render without clusterName, and says which value and where it comes from', async () => {
    const r = await runTool(tools.helm, ['template', 'affinity-relocator', CHART, '--namespace', NAMESPACE]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('clusterName is required');
    expect(r.stderr).toContain('serverless.yml param clusterName');
  });

  it.each([
    ['a misspelt value', ['--set', 'forwarder.replica=3'], /forwarder.*replica/],
    ['a number where a number belongs', ['--set-string', 'forwarder.replicas=two'], /forwarder\/replicas|forwarder\.replicas/],
    ['a role ARN that is none', ['--set-string', 'forwarder.serviceAccount.roleArn=affinity-relocator-forwarder'], /roleArn/],
  ])('refuses %s, naming it', async (_what, args, named) => {
    const r = await runTool(tools.helm, ['template', 'affinity-relocator', CHART, '--namespace', NAMESPACE, '--set-string', 'clusterName=x', ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(named);
  });

  it.each([
    ['IRSA', { podIdentity: false }],
    ['EKS Pod Identity', { podIdentity: true }],
  ])('renders the same objects as the kustomize overlay of infra/kubernetes/README.md for the same settings (%s)', async (_how, o) => {
    const fromKustomize = byKey(await kustomizeBuild(tools, readmeOverlay(o)));
    const fromChart = withoutHelmLabels(await helmTemplate(tools, CHART, { namespace: NAMESPACE, set: prodValues(o), apiVersions: WITH_MAP }));
    expect([...fromChart.keys()].sort()).toEqual([...fromKustomize.keys()].sort());
    expect(Object.fromEntries(fromChart)).toEqual(Object.fromEntries(fromKustomize));
    const account = fromChart.get(`v1 ServiceAccount ${NAMESPACE}/affinity-relocator-forwarder`);
    expect(account?.metadata?.annotations?.['eks.amazonaws.com/role-arn']).toBe(o.podIdentity ? undefined : PROD.roleArn);
  });

  it('leaves the namespace to `helm install` unless asked to render it', async () => {
    const values = prodValues({ podIdentity: false });
    const all = await helmTemplate(tools, CHART, { namespace: NAMESPACE, set: values });
    const installed = await helmTemplate(tools, CHART, { namespace: NAMESPACE, set: { ...values, 'namespace.create': false } });
    expect(all.filter((o) => o.kind === 'Namespace').map((o) => o.metadata?.labels?.['pod-security.kubernetes.io/enforce'])).toEqual(['restricted']);
    expect(installed.map(key).sort()).toEqual(all.filter((o) => o.kind !== 'Namespace').map(key).sort());
  });

  it('switches each optional part off and on', async () => {
    const kinds = async (set: Record<string, string | boolean>) =>
      (await helmTemplate(tools, CHART, { namespace: NAMESPACE, set: { clusterName: 'c', ...set }, apiVersions: WITH_MAP })).map((o) => `${o.kind}/${o.metadata?.name}`).sort();
    const all = await kinds({ 'grafanaDashboard.enabled': true });
    expect(all).toContain('ConfigMap/affinity-relocator-forwarder-dashboard');
    const off = await kinds({ 'relocator.rbac.create': false, 'admission.enabled': false, 'steering.enabled': false, 'forwarder.podDisruptionBudget.enabled': false });
    expect(all.filter((k) => !off.includes(k)).sort()).toEqual(
      [
        'ClusterRole/affinity-relocator',
        'ClusterRoleBinding/affinity-relocator',
        'Role/affinity-relocator-cluster-autoscaler-status',
        'RoleBinding/affinity-relocator-cluster-autoscaler-status',
        'ConfigMap/affinity-relocator-forwarder-dashboard',
        'PodDisruptionBudget/affinity-relocator-forwarder',
        'ValidatingAdmissionPolicy/affinity-relocator-deletes-only-assistants',
        'ValidatingAdmissionPolicy/affinity-relocator-taints-nodes-only-its-own-way',
        'ValidatingAdmissionPolicyBinding/affinity-relocator-deletes-only-assistants',
        'ValidatingAdmissionPolicyBinding/affinity-relocator-taints-nodes-only-its-own-way',
        ...STEERING,
      ].sort(),
    );
  });

  it('renders steering only where the cluster serves MutatingAdmissionPolicy v1, unless told to skip that check', async () => {
    const steering = async (o: { set?: Record<string, string | boolean>; apiVersions?: string[] }) =>
      (await helmTemplate(tools, CHART, { namespace: NAMESPACE, set: { clusterName: 'c', ...o.set }, apiVersions: o.apiVersions }))
        .map((x) => `${x.kind}/${x.metadata?.name}`)
        .filter((k) => STEERING.includes(k))
        .sort();
    // Helm's defaults for `helm template` are group/versions only, as a cluster before 1.36 would be.
    expect(await steering({})).toEqual([]);
    expect(await steering({ apiVersions: ['admissionregistration.k8s.io/v1beta1/MutatingAdmissionPolicy'] })).toEqual([]);
    expect(await steering({ apiVersions: WITH_MAP })).toEqual([...STEERING].sort());
    expect(await steering({ set: { 'steering.skipApiCheck': true } })).toEqual([...STEERING].sort());
    expect(await steering({ set: { 'steering.enabled': false, 'steering.skipApiCheck': true }, apiVersions: WITH_MAP })).toEqual([]);
  });
});

describe('the Helm chart on the real apiserver', () => {
  let cp: ControlPlane | undefined;
  const DRY_RUN_NAMESPACE = 'dry-run';

  beforeAll(async () => {
    cp = await ControlPlane.start({ kubelets: false });
  });

  afterAll(async () => {
    await cp?.stop();
  });

  it('renders, with every option set, objects the apiserver accepts as they are (server-side apply, dry run, strict fields)', async () => {
    const kc = cp!.kubeConfig('admin');
    // A dry run creates nothing: the namespaced objects need their namespace for real.
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: DRY_RUN_NAMESPACE } } });
    const objects = await helmTemplate(tools, CHART, {
      namespace: DRY_RUN_NAMESPACE,
      apiVersions: WITH_MAP,
      set: {
        ...prodValues({ podIdentity: false }),
        'grafanaDashboard.enabled': true,
        'forwarder.image.pullPolicy': 'IfNotPresent',
        'forwarder.imagePullSecrets[0]': 'registry-credentials',
        'forwarder.nodeSelector.kubernetes\\.io/os': 'linux',
        'forwarder.tolerations[0].key': 'CriticalAddonsOnly',
        'forwarder.tolerations[0].operator': 'Exists',
        'forwarder.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key': 'kubernetes.io/arch',
        'forwarder.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator': 'In',
        'forwarder.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values[0]': 'arm64',
        'forwarder.priorityClassName': 'system-cluster-critical',
        'forwarder.serviceAccount.annotations.team': 'platform',
      },
    });
    const stored = await serverDryRunApply(kc, objects);
    expect(stored.map(key)).toEqual(objects.map(key));
    // What the chart says is what would be stored (the apiserver adds defaults, drops nothing).
    const deployment = stored.find((o) => o.kind === 'Deployment') as KubernetesObject & { spec: { template: { spec: Record<string, unknown> } } };
    expect(deployment.spec.template.spec).toMatchObject({
      priorityClassName: 'system-cluster-critical',
      imagePullSecrets: [{ name: 'registry-credentials' }],
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'CriticalAddonsOnly', operator: 'Exists' }],
    });
  });

  it('installs with `helm install` as the chart README says, and `helm uninstall` removes every object', async () => {
    const kc = cp!.kubeConfig('admin');
    const { core, rbac, apps, apiext } = clientsFor(kc);
    await core.createNamespace({ body: { metadata: { name: NAMESPACE, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } } });
    const helm = (...args: string[]) => runTool(tools.helm, [...args, '--kubeconfig', cp!.kubeconfigPath, '--kube-context', 'admin']);
    const values = prodValues({ podIdentity: false });
    const sets = Object.entries(values)
      .filter(([k]) => k !== 'namespace.create')
      .flatMap(([k, v]) => ['--set', `${k}=${String(v)}`]);
    const install = await helm('install', 'affinity-relocator', CHART, '--namespace', NAMESPACE, ...sets);
    expect(install.stderr).toBe('');
    expect(install.code).toBe(0);
    expect(install.stdout).toContain('STATUS: deployed');
    // The apiserver (1.36) serves MutatingAdmissionPolicy v1: Helm, asking it, installs steering too.
    const rendered = await helmTemplate(tools, CHART, { namespace: NAMESPACE, set: { ...values, 'namespace.create': false }, apiVersions: WITH_MAP });
    const manifest = await helm('get', 'manifest', 'affinity-relocator', '--namespace', NAMESPACE);
    expect(objectsOf(manifest.stdout).map(key).sort()).toEqual(rendered.map(key).sort());
    expect(rendered.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual(expect.arrayContaining(STEERING));
    expect((await rbac.readClusterRole({ name: 'affinity-relocator' })).metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
    const deployment = await apps.readNamespacedDeployment({ namespace: NAMESPACE, name: 'affinity-relocator-forwarder' });
    expect(deployment.spec?.template.spec?.containers[0]?.image).toBe(`${PROD.repository}:${PROD.tag}`);

    const uninstall = await helm('uninstall', 'affinity-relocator', '--namespace', NAMESPACE, '--wait');
    expect(uninstall.code, uninstall.stderr).toBe(0);
    const left = await rbac.listClusterRole({ labelSelector: 'app.kubernetes.io/managed-by=Helm' });
    expect(left.items.map((r) => r.metadata?.name)).toEqual([]);
    expect((await apps.listNamespacedDeployment({ namespace: NAMESPACE })).items).toEqual([]);
    const crds = await apiext.listCustomResourceDefinition({ labelSelector: 'app.kubernetes.io/managed-by=Helm' });
    expect(crds.items.map((c) => c.metadata?.name)).toEqual([]);
  });
});
