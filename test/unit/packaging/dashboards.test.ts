/**
 * The two dashboards name only metrics that are emitted, and show what on-call needs:
 * - the CloudWatch dashboard of serverless.yml (packaged template): the relocator's EMF metrics as the
 *   shipped Metrics instance writes them (captured from its output, with their dimensions), and AWS's
 *   metrics of the functions and queues the template creates;
 * - the Grafana dashboard of the forwarder (infra/helm/affinity-relocator/dashboards/forwarder.json): the
 *   Prometheus metrics the forwarder's registry (src/forwarder/ops-server.ts) exposes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { repoRoot } from '../../../scripts/build.js';
import { ResultDetailSchema } from '../../../src/events/results.js';
import type { PublisherStats } from '../../../src/forwarder/eventbridge-publisher.js';
import { ForwarderMetrics } from '../../../src/forwarder/ops-server.js';
import { resolve, resourcesOf } from './cfn.js';
import { packaged, type Template } from './packaged.js';

const KINDS = ResultDetailSchema.shape.kind.options;

// ---- CloudWatch ---------------------------------------------------------------------------------

/** One metric an EMF line declares: namespace, name, and its dimensions with their values. */
interface Emitted {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
}

/** The EMF metrics the functions write for outcomes of every kind, captured from the shipped Metrics instance. */
async function emittedEmf(namespace: string): Promise<Emitted[]> {
  process.env.POWERTOOLS_METRICS_NAMESPACE = namespace;
  const lines: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    const { metrics } = await import('../../../src/lambda/runtime.js');
    const { metricsSink } = await import('../../../src/lambda/sinks.js');
    const sink = metricsSink(metrics);
    for (const kind of KINDS) {
      const outcome = { kind, reason: 'r', message: 'm', assistant: { namespace: 'ns', pod: 'p' }, triggerId: 't', triggerSource: 's', deleteLatencyMs: 5, boundLatencyMs: 9 };
      await sink(outcome, {});
    }
  } finally {
    write.mockRestore();
  }
  return lines
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.includes('"_aws"'))
    .flatMap((l) => {
      const emf = JSON.parse(l) as Record<string, unknown> & {
        _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
      };
      return emf._aws.CloudWatchMetrics.flatMap((d) =>
        d.Dimensions.flatMap((keys) =>
          d.Metrics.map((m) => ({ namespace: d.Namespace, name: m.Name, dimensions: Object.fromEntries(keys.map((k) => [k, String(emf[k])])) })),
        ),
      );
    });
}

/** Every metric name an `addMetric('Name', ...)` in the shipped code writes. */
function addMetricNames(): string[] {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
  const calls = ['src', 'functions'].flatMap((d) => files(path.join(repoRoot, d))).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\baddMetric\(\s*([^,]+),/g)].map((m) => m[1]!.trim()));
  // A name that is not a literal could not be checked here: keep every call site literal.
  for (const c of calls) expect(c, 'addMetric with a name that is not a string literal').toMatch(/^'[A-Za-z][A-Za-z0-9]*'$/);
  return calls.map((c) => c.slice(1, -1));
}

type MetricLine = (string | Record<string, string>)[];
interface Widget {
  type: string;
  properties: { title?: string; metrics?: MetricLine[]; stat?: string; region?: string };
}

describe('the CloudWatch dashboard (serverless.yml)', () => {
  let template: Template;
  let widgets: Widget[];
  let namespace: string;

  beforeAll(async () => {
    template = (await packaged()).template;
    const dashboards = resourcesOf(template, 'AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    // Fn::Sub resolved: a resource's Ref or attribute becomes `{LogicalId}` / `{LogicalId.Attribute}`.
    widgets = (JSON.parse(resolve(template, dashboards[0]![1].Properties.DashboardBody) as string) as { widgets: Widget[] }).widgets;
    const env = (Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function')!.Properties as { Environment: { Variables: Record<string, string> } })
      .Environment.Variables;
    namespace = env.POWERTOOLS_METRICS_NAMESPACE!;
  }, 600_000);

  afterEach(() => vi.restoreAllMocks());

  /** Every metric line of every widget: namespace, name, dimensions, and the statistic it shows. */
  const lines = () =>
    widgets.flatMap((w) =>
      (w.properties.metrics ?? []).map((line) => {
        const options = typeof line.at(-1) === 'object' ? (line.at(-1) as Record<string, string>) : {};
        const parts = line.filter((p): p is string => typeof p === 'string');
        expect(parts, 'no "..." shorthand: every line names its metric').not.toContain('...');
        const [ns, name, ...dims] = parts;
        const dimensions = Object.fromEntries(dims.flatMap((d, i) => (i % 2 === 0 ? [[d, dims[i + 1]!]] : [])));
        return { widget: w.properties.title ?? '', namespace: ns!, name: name!, dimensions, stat: options.stat ?? w.properties.stat };
      }),
    );

  it('is valid JSON whose every metric widget shows the stack region', () => {
    const metricWidgets = widgets.filter((w) => w.type === 'metric');
    expect(metricWidgets.length).toBeGreaterThanOrEqual(6);
    for (const w of metricWidgets) expect(w.properties.region, w.properties.title).toBe('eu-west-1');
  });

  it("names only the relocator's metrics that the functions emit, with the dimensions they are emitted with", async () => {
    const emitted = await emittedEmf(namespace);
    const named = addMetricNames();
    const ours = lines().filter((l) => l.namespace === namespace);
    expect(ours.length).toBeGreaterThan(0);
    for (const l of ours) {
      expect(named, `${l.name} is written by no addMetric`).toContain(l.name);
      const match = emitted.find((e) => e.name === l.name && JSON.stringify(Object.entries(e.dimensions).sort()) === JSON.stringify(Object.entries(l.dimensions).sort()));
      expect(match, `${l.widget}: ${l.name} ${JSON.stringify(l.dimensions)} is never emitted; emitted: ${JSON.stringify(emitted.filter((e) => e.name === l.name))}`).toBeDefined();
    }
    // Nothing outside our namespace and AWS's.
    for (const l of lines()) expect([namespace, 'AWS/Lambda', 'AWS/SQS'], l.name).toContain(l.namespace);
  });

  it('shows the outcomes by kind, every kind', () => {
    const outcomes = lines().filter((l) => l.name === 'AssistantOutcomes');
    expect(outcomes.map((l) => l.dimensions.Outcome).sort()).toEqual([...KINDS].sort());
    expect(new Set(outcomes.map((l) => l.stat))).toEqual(new Set(['Sum']));
  });

  it('shows the trigger-to-delete and trigger-to-bound latencies at p50 and p99', () => {
    for (const name of ['TriggerToDeleteLatency', 'TriggerToBoundLatency']) {
      expect(
        lines()
          .filter((l) => l.name === name)
          .map((l) => l.stat)
          .sort(),
        name,
      ).toEqual(['p50', 'p99']);
    }
  });

  it('shows the depth of every dead-letter queue, and the errors and throttles of every function, of this stack', () => {
    const queues = resourcesOf(template, 'AWS::SQS::Queue').map(([id]) => `{${id}.QueueName}`);
    const functions = resourcesOf(template, 'AWS::Lambda::Function').map(([id]) => `{${id}}`);
    expect(queues.length).toBeGreaterThanOrEqual(5);
    const shown = (ns: string, name: string, dimension: string) =>
      lines()
        .filter((l) => l.namespace === ns && l.name === name)
        .map((l) => l.dimensions[dimension])
        .sort();
    expect(shown('AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName')).toEqual(queues.sort());
    expect(shown('AWS/Lambda', 'Errors', 'FunctionName')).toEqual(functions.sort());
    expect(shown('AWS/Lambda', 'Throttles', 'FunctionName')).toEqual(functions.sort());
    // AWS's metrics only as these three, each on a resource of this stack (checked above).
    expect(new Set(lines().filter((l) => l.namespace.startsWith('AWS/')).map((l) => l.name))).toEqual(new Set(['ApproximateNumberOfMessagesVisible', 'Errors', 'Throttles']));
  });
});

// ---- Grafana ------------------------------------------------------------------------------------

const GRAFANA = path.join(repoRoot, 'infra', 'helm', 'affinity-relocator', 'dashboards', 'forwarder.json');

interface Panel {
  type: string;
  title?: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}

/** The series names the forwarder's registry exposes (a histogram's _bucket/_sum/_count, a summary's _sum/_count). */
async function forwarderSeries(): Promise<{ all: Set<string>; ours: string[] }> {
  const stats: PublisherStats = { depth: 0, inFlight: 0, oldestAgeMs: 0, observed: 0, emitted: 0, coalesced: 0, dropped: 0, retried: 0, calls: 0, callFailures: {}, entryFailures: {} };
  const metrics = await new ForwarderMetrics(() => stats).registry.getMetricsAsJSON();
  const suffixes: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };
  const all = new Set(metrics.flatMap((m) => (suffixes[String(m.type)] ?? ['']).map((s) => `${m.name}${s}`)));
  return { all, ours: metrics.map((m) => m.name).filter((n) => n.startsWith('affinity_relocator_forwarder_')) };
}

/**
 * The metric names of a PromQL expression: what is left once label matchers, grouping clauses, ranges,
 * strings, numbers, Grafana's variables, functions (a name followed by a parenthesis) and keywords are gone.
 */
function promqlMetricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
    .replace(/\b\d[\w.]*/g, ' ');
  return [...bare.matchAll(/[A-Za-z_:][\w:]*(?![\w:])(?!\s*\()/g)]
    .map((m) => m[0])
    .filter((n) => !['and', 'or', 'unless', 'offset', 'bool'].includes(n));
}

describe('the Grafana dashboard of the forwarder', () => {
  const dashboard = JSON.parse(readFileSync(GRAFANA, 'utf8')) as {
    uid: string;
    title: string;
    panels: Panel[];
    templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
  };
  const panels = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...panels(p.panels ?? [])]);
  const expressions = () => panels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr));

  it('is a Grafana dashboard whose every query uses the chosen Prometheus data source', () => {
    expect(dashboard.uid).toMatch(/^[\w-]{1,40}$/);
    expect(dashboard.title).toContain('forwarder');
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const queried = panels(dashboard.panels).filter((p) => p.targets);
    expect(queried.length).toBeGreaterThanOrEqual(8);
    for (const p of queried) expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
  });

  it('reads the metric names out of PromQL (the check below depends on it)', () => {
    expect(promqlMetricNames('sum by (scope, code) (rate(a_total{namespace=~"$namespace", x="b"}[$__rate_interval]))')).toEqual(['a_total']);
    expect(promqlMetricNames('max(b{c="d"}) / on(pod) c_bytes offset 5m')).toEqual(['b', 'c_bytes']);
  });

  it("names only series the forwarder's registry exposes, and every metric of its own", async () => {
    const { all, ours } = await forwarderSeries();
    const variableQueries = dashboard.templating.list.flatMap((v) => {
      const q = typeof v.query === 'object' ? v.query.query : v.type === 'query' ? v.query : undefined;
      // label_values(metric, label): the metric only.
      return q ? [/^label_values\(\s*([\w:]+)\s*,/.exec(q)?.[1] ?? q] : [];
    });
    const named = [...expressions().flatMap(promqlMetricNames), ...variableQueries];
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((n) => !all.has(n))).toEqual([]);
    expect(ours.filter((n) => !named.some((x) => x === n || x.startsWith(`${n}_`)))).toEqual([]);
  });
});
