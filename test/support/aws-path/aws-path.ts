/**
 * The AWS-shaped path on a loopback control plane, put together:
 *
 *   forwarder process (./forwarder-process.ts) --PutEvents--> loopback EventBridge + rules of serverless.yml
 *   (./rules-bus.ts) --async invoke--> the built bundles as Lambdas (./lambda-service.ts), each function with its
 *   timeout, memory, reserved concurrency and retries from serverless.yml (./serverless-config.ts), reaching
 *   the apiserver with KUBE_AUTH=eks tokens that the loopback EKS authenticator accepts (./lambda-identity.ts).
 *
 *   const identity = await startLambdaIdentity({ clusterId: AWS_PATH_CLUSTER, stage: AWS_PATH_STAGE, region: AWS_PATH_REGION, functions: [...] });
 *   const cp = await ControlPlane.start(identity.controlPlaneOptions);   // or Scenario.start(...)
 *   const path = await AwsPath.start({ cp, admin, identity });
 *   ... cordon nodes; read path.lambdas.invocations, path.outcomes(), cp.auditEvents() ...
 *   await path.stop();
 *
 * The bundles are built fresh (scripts/build.ts, what `npm run build` does) into a temporary directory.
 */
import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildFunctions } from '../../../scripts/build.js';
import { RESULT_DETAIL_TYPES, SOURCE } from '../../../src/events/contract.js';
import { type ResultDetail, ResultDetailSchema } from '../../../src/events/results.js';
import { delivered } from '../../../src/local/delivered.js';
import type { ControlPlane } from '../../../src/local-cluster/controlplane.js';
import type { Clients } from '../../../src/local-cluster/fixtures/clients.js';
import { ForwarderProcess } from './forwarder-process.js';
import { ACCOUNT, type LambdaIdentity } from './lambda-identity.js';
import { LambdaService, type LambdaServiceOptions } from './lambda-service.js';
import { RulesBus } from './rules-bus.js';
import { readServerlessSettings, type ServerlessSettings } from './serverless-config.js';

export const AWS_PATH_STAGE = 'awspath';
export const AWS_PATH_REGION = 'eu-west-1';
export const AWS_PATH_CLUSTER = 'aws-path';
/**
 * The functions of the path: those EventBridge invokes from the relocator bus's rules, and the sweep its
 * schedule invokes (on-aws-event takes AWS's own notices, and alertmanager an HTTP API: not here).
 */
export const PATH_FUNCTIONS = ['on-node-event', 'on-pod-event', 'sweep'];

export interface AwsPathOptions {
  cp: ControlPlane;
  admin: Clients;
  identity: LambdaIdentity;
  /** serverless.yml params to override (clusterName, eksEndpoint, eksCaData and dryRun=false are set). */
  params?: Record<string, string>;
  /** Extra environment of every function (e.g. CONFIRM_TIMEOUT_SECONDS for a test). */
  functionEnv?: Record<string, string>;
  /** See RulesBus: the share of deliveries EventBridge makes twice (default 0). */
  duplicateFraction?: number;
  lambda?: Pick<LambdaServiceOptions, 'errorRetryDelaysMs' | 'throttleBackoffMs' | 'keepLogs'>;
  /** Each line the forwarder logs. */
  onForwarderLine?: (line: string) => void;
  /** Extra environment of the forwarder (e.g. PENDING_GRACE_SECONDS for a test). */
  forwarderEnv?: Record<string, string>;
  /**
   * Run serverless.yml's schedules (the sweep, every 5 minutes), first one period after the start as a rule
   * created then would (default true).
   */
  schedules?: boolean;
}

export class AwsPath {
  private constructor(
    readonly settings: ServerlessSettings,
    readonly lambdas: LambdaService,
    readonly bus: RulesBus,
    readonly forwarder: ForwarderProcess,
    private readonly bundleDir: string,
    private readonly timers: NodeJS.Timeout[],
  ) {}

  static async start(o: AwsPathOptions): Promise<AwsPath> {
    const { cp, identity } = o;
    // The functions' environment is read when one starts, after the bus below exists.
    const { settings, lambdas, bundleDir } = await startShippedFunctions({ ...o, busUrl: () => bus.url });
    const inPath = (fn: string) => PATH_FUNCTIONS.includes(fn);
    const bus = await RulesBus.start({
      rules: settings.rules.filter((r) => inPath(r.target)),
      deliver: (fn, event, id) => lambdas.invokeAsync(fn, event, id),
      account: ACCOUNT,
      region: AWS_PATH_REGION,
      duplicateFraction: o.duplicateFraction,
    }).catch(async (e: unknown) => {
      rmSync(bundleDir, { recursive: true, force: true });
      throw e;
    });
    let forwarder: ForwarderProcess | undefined;
    try {
      forwarder = await ForwarderProcess.start({
        cp,
        admin: o.admin,
        cluster: identity.clusterId,
        busName: settings.busName,
        busUrl: bus.url,
        region: AWS_PATH_REGION,
        credentials: { accessKeyId: 'AKIAFORWARDER0000000', secretAccessKey: 'aws-path-forwarder' },
        onLine: o.onForwarderLine,
        ...(o.forwarderEnv ? { env: o.forwarderEnv } : {}),
      });
      await forwarder.ready();
    } catch (e) {
      await forwarder?.stop();
      await lambdas.stop();
      await bus.stop();
      rmSync(bundleDir, { recursive: true, force: true });
      throw e;
    }
    const timers = (o.schedules === false ? [] : settings.schedules.filter((x) => inPath(x.target))).map((x) =>
      setInterval(() => {
        const event = delivered({ Source: 'aws.events', DetailType: 'Scheduled Event', Detail: '{}' }, { account: ACCOUNT, region: AWS_PATH_REGION, resources: [`arn:aws:events:${AWS_PATH_REGION}:${ACCOUNT}:rule/${x.name}`] });
        lambdas.invokeAsync(x.target, event, event.id);
      }, x.everyMs),
    );
    return new AwsPath(settings, lambdas, bus, forwarder, bundleDir, timers);
  }

  /**
   * Every outcome the functions returned (`{ outcomes: [...] }`), in the order the invocations ended, from
   * the invocation numbered `from` on.
   */
  outcomes(from = 0): { fn: string; requestId: string; outcome: { kind: string; [k: string]: unknown } }[] {
    return this.lambdas.invocations.slice(from).flatMap((i) => {
      const list = (i.result.value as { outcomes?: unknown } | undefined)?.outcomes;
      return Array.isArray(list) ? list.map((outcome) => ({ fn: i.fn, requestId: i.requestId, outcome: outcome as { kind: string } })) : [];
    });
  }

  /**
   * The result events the functions published on the bus (what alert rules and dashboards see), in order,
   * from the bus's accepted entry numbered `from` on.
   */
  resultEvents(from = 0): ResultDetail[] {
    const types: string[] = Object.values(RESULT_DETAIL_TYPES);
    return this.bus.endpoint.accepted.slice(from).filter((e) => e.Source === SOURCE && types.includes(e.DetailType ?? '')).map((e) => ResultDetailSchema.parse(JSON.parse(e.Detail ?? '')));
  }

  /** Outcomes counted by `key` (default: the kind), whatever kinds there are. */
  outcomeCounts(from = 0, key: (o: { kind: string; [k: string]: unknown }) => string = (o) => o.kind): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const { outcome } of this.outcomes(from)) counts[key(outcome)] = (counts[key(outcome)] ?? 0) + 1;
    return counts;
  }

  /**
   * Waits until the bus has routed everything and Lambda has had nothing queued or running for `quietMs`
   * (the forwarder may publish what the last invocations changed); false if that did not happen in `timeoutMs`.
   */
  async settle(timeoutMs: number, quietMs = 1_000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    let quietSince: number | undefined;
    for (;;) {
      const now = performance.now();
      if (this.bus.routing === 0 && this.lambdas.outstanding === 0) {
        quietSince ??= now;
        if (now - quietSince >= quietMs) return true;
      } else quietSince = undefined;
      if (now > deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.forwarder.stop();
    await this.lambdas.stop();
    await this.bus.stop();
    rmSync(this.bundleDir, { recursive: true, force: true });
  }
}

/**
 * The built bundles as Lambdas (./lambda-service.ts) with serverless.yml's settings for this control plane,
 * each reaching the apiserver as its role (EKS tokens) and publishing to `busUrl()`: the Lambda half of the
 * path, for a bench that invokes a function itself (bench/memory.ts). `bundleDir` is the caller's to remove.
 */
export async function startShippedFunctions(o: {
  cp: ControlPlane;
  identity: LambdaIdentity;
  busUrl: () => string;
  params?: Record<string, string>;
  functionEnv?: Record<string, string>;
  lambda?: AwsPathOptions['lambda'];
  functions?: string[];
}): Promise<{ settings: ServerlessSettings; lambdas: LambdaService; bundleDir: string }> {
  const { cp, identity } = o;
  const settings = readServerlessSettings({
    stage: AWS_PATH_STAGE,
    region: AWS_PATH_REGION,
    params: {
      clusterName: identity.clusterId,
      eksEndpoint: cp.server,
      eksCaData: readFileSync(path.join(cp.workDir, 'ca.crt')).toString('base64'),
      dryRun: 'false',
      ...o.params,
    },
  });
  const bundleDir = await mkdtemp(path.join(tmpdir(), 'aws-path-bundles-'));
  const built = await buildFunctions({ outDir: bundleDir, log: false });
  const functions = Object.fromEntries(
    (o.functions ?? PATH_FUNCTIONS).map((name) => {
      const f = settings.functions[name];
      const b = built.find((x) => x.name === path.basename(f?.bundle ?? '', '.mjs'));
      if (!f || !b) throw new Error(`aws-path: serverless.yml has no function ${name}, or scripts/build.ts built no bundle for it`);
      return [name, { ...f, bundle: b.bundle, environment: { ...f.environment, ...o.functionEnv } }];
    }),
  );
  const lambdas = new LambdaService({
    ...o.lambda,
    functions,
    account: ACCOUNT,
    region: AWS_PATH_REGION,
    baseEnv: (fn) => {
      const p = identity.principals[fn];
      if (!p) throw new Error(`aws-path: no identity for ${fn}`);
      return {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        TZ: ':UTC',
        LAMBDA_TASK_ROOT: bundleDir,
        AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
        AWS_REGION: AWS_PATH_REGION,
        AWS_DEFAULT_REGION: AWS_PATH_REGION,
        AWS_ACCESS_KEY_ID: p.accessKeyId,
        AWS_SECRET_ACCESS_KEY: p.secretAccessKey,
        AWS_SESSION_TOKEN: p.sessionToken ?? '',
        // In AWS the SDK finds the regional endpoint; here, the loopback bus (result events land there).
        AWS_ENDPOINT_URL_EVENTBRIDGE: o.busUrl(),
      };
    },
  });
  return { settings, lambdas, bundleDir };
}
