/**
 * affinity-relocator CLI (`npm start -- <command>`):
 *   run      (default) local mode against the current kubeconfig context; with no cluster configured,
 *            the demo of the Tekton article's cordon scenario on a local control plane
 *   demo     that demo, explicitly; `demo --tekton`: with the real Tekton controller and a two-task PipelineRun;
 *            `demo --pending`: real Tekton, a TaskRun pod held Pending by its assistant's healthy node (issue 20)
 *   status   every assistant, its node, and whether that node is schedulable (and why not)
 *   plan     --node X | --pod ns/name : what a relocation would do (nothing is changed)
 *   relocate --node X | --pod ns/name : relocate now (add --dry-run to only say what would happen)
 * Options: --kubeconfig FILE, --context NAME, --cluster NAME (default: the context name), --dry-run.
 * Relocator settings come from the environment (see README: ASSISTANT_SELECTOR, NOT_READY_GRACE_SECONDS...).
 *
 * Exit codes: 0 done; 1 something went wrong or was not found (a node, a pod, a context, a kubeconfig), or a
 * relocation failed or got stuck; 2 a usage error (printed with the usage text).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { createKubeConfig } from '../cluster/auth.js';
import { withUserAgent } from '../cluster/labelled.js';
import { controllerOf } from '../domain/assistant.js';
import type { RelocatorConfig } from '../domain/config.js';
import { assessNode } from '../domain/schedulability.js';
import type { TriggerTarget } from '../domain/trigger.js';
import { configFromEnv } from '../config/relocator.js';
import { createRelocator } from '../runtime/relocator.js';
import { runDemo } from './demo.js';
import { runPendingDemo } from './demo-pending.js';
import { runTektonDemo } from './demo-tekton.js';
import { startLocalMode } from './local-mode.js';
import { describeOutcome, line } from './print.js';

const USAGE = `usage: affinity-relocator [run|demo|status|plan|relocate] [--node NAME | --pod NS/NAME]
       [--kubeconfig FILE] [--context NAME] [--cluster NAME] [--dry-run] [--tekton | --pending (demo)]`;

const OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  cluster: { type: 'string' },
  node: { type: 'string' },
  pod: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  tekton: { type: 'boolean', default: false },
  pending: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;
type Option = keyof typeof OPTIONS;

/** The options each command reads; any other is a mistake, not something to ignore. */
const COMMANDS: Record<string, readonly Option[]> = {
  run: ['kubeconfig', 'context', 'cluster', 'dry-run'],
  demo: ['dry-run', 'tekton', 'pending'],
  status: ['kubeconfig', 'context'],
  plan: ['kubeconfig', 'context', 'cluster', 'node', 'pod', 'dry-run'],
  relocate: ['kubeconfig', 'context', 'cluster', 'node', 'pod', 'dry-run'],
};

/** How the CLI names where a kubeconfig and its context come from, in errors. */
const SETTINGS = { context: '--context NAME', kubeconfig: 'give --kubeconfig FILE or set KUBECONFIG' };

/** Exit 2, with the usage text. */
class UsageError extends Error {}

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const given = /'(-[^']*)'/.exec(err.message)?.[1] ?? '';
      const name = given.replace(/^-+/, '');
      const near = name ? Object.keys(OPTIONS).find((o) => o.startsWith(name) || name.startsWith(o)) : undefined;
      throw new UsageError(`unknown option ${given}${near ? ` (did you mean --${near}?)` : ''}`);
    }
    if (err.code?.startsWith('ERR_PARSE_ARGS_')) throw new UsageError(err.message);
    throw e;
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`one command at a time, got: ${positionals.join(' ')}`);
  const command = positionals[0] ?? 'run';
  const allowed = COMMANDS[command];
  if (!allowed) throw new UsageError(`unknown command "${command}"`);
  const given = (Object.keys(values) as Option[]).filter((o) => o !== 'help' && values[o] !== undefined && values[o] !== false);
  const misplaced = given.filter((o) => !allowed.includes(o));
  if (misplaced.length > 0) throw new UsageError(`${misplaced.map((o) => `--${o}`).join(', ')} does not apply to "${command}"`);
  const config: RelocatorConfig = configFromEnv(process.env, values['dry-run'] ? { dryRun: true } : {});
  // Checked before anything is loaded or read: a usage error is the first thing to hear about.
  const target = command === 'plan' || command === 'relocate' ? manualTarget(values.node, values.pod) : undefined;

  if (command === 'demo') {
    if (values.tekton && values.pending) throw new UsageError('give one of --tekton or --pending');
    return values.pending ? runPendingDemo(config) : values.tekton ? runTektonDemo(config) : runDemo(config);
  }
  const configured = values.kubeconfig ?? (process.env.KUBECONFIG || undefined) ?? (existsSync(join(homedir(), '.kube', 'config')) ? 'default' : undefined);
  if (command === 'run' && !configured) {
    // Naming a context or cluster means a real cluster was meant: running the demo instead would hide the mistake.
    const meant = (['context', 'cluster'] as const).filter((o) => values[o] !== undefined);
    if (meant.length > 0) {
      throw new Error(`${meant.map((o) => `--${o} ${values[o]}`).join(', ')}: no kubeconfig found (no --kubeconfig, $KUBECONFIG or ~/.kube/config); ${SETTINGS.kubeconfig}`);
    }
    line('no kubeconfig found (no --kubeconfig, $KUBECONFIG or ~/.kube/config): running the demo');
    return runDemo(config);
  }
  const loaded = await createKubeConfig({ mode: 'kubeconfig', path: values.kubeconfig, context: values.context, settings: SETTINGS });
  // Local mode labels its requests itself.
  const kc = command === 'run' ? loaded : withUserAgent(loaded, 'cli');
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
    default:
      return act(command === 'plan' ? 'plan' : 'relocate', target!, kc, cluster, config);
  }
}

/** `plan` or `relocate` one node's or pod's assistants. */
async function act(command: 'plan' | 'relocate', target: TriggerTarget, kc: KubeConfig, cluster: string, config: RelocatorConfig): Promise<number> {
  const dryRun = command === 'plan' || config.dryRun;
  // `plan` promises to change nothing: no Event on the StatefulSet either (the delete is dry-run).
  const { relocator, cluster: api } = createRelocator({ kc, config: { ...config, dryRun }, recordEvents: command !== 'plan' });
  // A name that is not there is the user's mistake, not an outcome ("gone" is for what vanished meanwhile).
  const where = `in context ${kc.getCurrentContext()}`;
  if (target.kind === 'node' && !(await api.getNode(target.node.name))) throw new Error(`node "${target.node.name}" not found ${where}`);
  if (target.kind === 'pod' && !(await api.getPod(target.pod.namespace, target.pod.name))) {
    throw new Error(`pod "${target.pod.namespace}/${target.pod.name}" not found ${where}`);
  }
  const outcomes = await relocator.handle({ id: `cli-${Date.now()}`, source: 'manual', observedAt: new Date().toISOString(), cluster, target });
  if (outcomes.length === 0) line('no affinity assistant there');
  for (const o of outcomes) line(describeOutcome(o));
  // The CLI may wait for the replacements (a Lambda never does): each line as its move is settled.
  const settled = await Promise.all(
    outcomes.map(async (o) => {
      if (o.kind !== 'started') return o;
      const s = await relocator.awaitSettlement(o);
      line(describeOutcome(s));
      return s;
    }),
  );
  return settled.some((o) => o.kind === 'failed' || o.kind === 'stuck') ? 1 : 0;
}

function manualTarget(node: string | undefined, pod: string | undefined): TriggerTarget {
  if (!node === !pod) throw new UsageError('give exactly one of --node NAME or --pod NAMESPACE/NAME');
  if (node) return { kind: 'node', node: { name: node } };
  const [namespace, name, extra] = pod!.split('/');
  if (!namespace || !name || extra !== undefined) throw new UsageError(`--pod must be NAMESPACE/NAME, got "${pod}"`);
  return { kind: 'pod', pod: { namespace, name } };
}

async function status(kc: KubeConfig, config: RelocatorConfig): Promise<number> {
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
