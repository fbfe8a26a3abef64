/**
 * affinity-relocator CLI (`npm start -- <command>`):
 *   run      (default) local mode against the current kubeconfig context; with no cluster configured,
 *            the demo of the Tekton article's cordon scenario on a local control plane
 *   demo     that demo, explicitly; `demo --tekton`: with the real Tekton controller and a two-task PipelineRun
 *   status   every assistant, its node, and whether that node is schedulable (and why not)
 *   plan     --node X | --pod ns/name : what a relocation would do (nothing is changed)
 *   relocate --node X | --pod ns/name : relocate now (add --dry-run to only say what would happen)
 * Options: --kubeconfig FILE, --context NAME, --cluster NAME (default: the context name), --dry-run.
 * Relocator settings come from the environment (see README: ASSISTANT_SELECTOR, NOT_READY_GRACE_SECONDS...).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createKubeConfig } from '../cluster/auth.js';
import { controllerOf } from '../domain/assistant.js';
import type { RelocatorConfig } from '../domain/config.js';
import { assessNode } from '../domain/schedulability.js';
import type { RelocationTrigger } from '../domain/trigger.js';
import { configFromEnv } from '../relocator/config-from-env.js';
import { createRelocator } from '../relocator/runtime.js';
import { runDemo } from './demo.js';
import { runTektonDemo } from './demo-tekton.js';
import { startLocalMode } from './local-mode.js';
import { describeOutcome, line } from './print.js';

const USAGE = `usage: affinity-relocator [run|demo|status|plan|relocate] [--node NAME | --pod NS/NAME]
       [--kubeconfig FILE] [--context NAME] [--cluster NAME] [--dry-run] [--tekton (demo)]`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      cluster: { type: 'string' },
      node: { type: 'string' },
      pod: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      tekton: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`one command at a time, got: ${positionals.join(' ')}`);
  const command = positionals[0] ?? 'run';
  if (values.tekton && command !== 'demo') throw new UsageError('--tekton goes with the demo: npm start -- demo --tekton');
  const config: RelocatorConfig = configFromEnv(process.env, values['dry-run'] ? { dryRun: true } : {});

  const configured = values.kubeconfig ?? process.env.KUBECONFIG ?? (existsSync(join(homedir(), '.kube', 'config')) ? 'default' : undefined);
  if (command === 'demo' || (command === 'run' && !configured)) {
    if (command === 'run') line('no kubeconfig found (no --kubeconfig, $KUBECONFIG or ~/.kube/config): running the demo');
    return values.tekton ? runTektonDemo(config) : runDemo(config);
  }
  const kc = await createKubeConfig({ mode: 'kubeconfig', path: values.kubeconfig, context: values.context });
  const cluster = values.cluster ?? kc.getCurrentContext();

  switch (command) {
    case 'run': {
      line(`local mode on context ${kc.getCurrentContext()} (${kc.getCurrentCluster()?.server})${config.dryRun ? ', dry-run' : ''}; Ctrl-C stops`);
      const mode = await startLocalMode({
        kc,
        config,
        cluster,
        onEvent: (type, detail) => line(`event ${type}: ${JSON.stringify(detail)}`),
        onOutcome: (o) => line(describeOutcome(o)),
        onError: (e) => line(`error: ${e instanceof Error ? e.message : String(e)}`),
      });
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await mode.stop();
      return 0;
    }
    case 'status':
      return status(kc, config);
    case 'plan':
    case 'relocate': {
      const trigger = manualTrigger(values.node, values.pod, cluster);
      const dryRun = command === 'plan' || config.dryRun;
      // `plan` promises to change nothing: no Event on the StatefulSet either (the delete is dry-run).
      const { relocator } = createRelocator({ kc, config: { ...config, dryRun }, recordEvents: command !== 'plan' });
      const outcomes = await relocator.handle(trigger);
      if (outcomes.length === 0) line('no affinity assistant there');
      for (const o of outcomes) line(describeOutcome(o));
      return outcomes.some((o) => o.kind === 'failed' || o.kind === 'stuck') ? 1 : 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function manualTrigger(node: string | undefined, pod: string | undefined, cluster: string): RelocationTrigger {
  if (!node === !pod) throw new UsageError('give exactly one of --node NAME or --pod NAMESPACE/NAME');
  const base = { id: `cli-${Date.now()}`, source: 'manual' as const, observedAt: new Date().toISOString(), cluster };
  if (node) return { ...base, target: { kind: 'node', node: { name: node } } };
  const [namespace, name, extra] = pod!.split('/');
  if (!namespace || !name || extra !== undefined) throw new UsageError(`--pod must be NAMESPACE/NAME, got "${pod}"`);
  return { ...base, target: { kind: 'pod', pod: { namespace, name } } };
}

async function status(kc: Awaited<ReturnType<typeof createKubeConfig>>, config: RelocatorConfig): Promise<number> {
  const { cluster } = createRelocator({ kc, config });
  const [pods, nodes] = await Promise.all([cluster.listAssistantPods(), cluster.listNodes()]);
  if (pods.length === 0) line('no affinity-assistant pods');
  for (const pod of pods) {
    const nodeName = pod.spec?.nodeName;
    const node = nodes.find((n) => n.metadata?.name === nodeName);
    const v = nodeName ? assessNode(node, { now: new Date(), config, tolerations: pod.spec?.tolerations }) : undefined;
    const state = !nodeName ? 'not bound' : v!.schedulable ? 'schedulable' : `UNSCHEDULABLE: ${v!.reasons.map((r) => r.message).join('; ')}`;
    const sts = controllerOf(pod.metadata?.ownerReferences)?.name ?? '-';
    line(`${pod.metadata?.namespace}/${pod.metadata?.name} (set ${sts}) on ${nodeName ?? '-'}: ${state}`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`affinity-relocator: ${e instanceof Error ? e.message : String(e)}\n`);
    if (e instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
