/**
 * Leader election of the forwarder's replicas on a real API server: two electors in this process, each
 * with its own Lease client as the RBAC-limited identity holding nothing but the shipped lease Role
 * (infra/kubernetes/forwarder/role.yaml), and short timings (lease 3 s, renew deadline 2 s, retry 250 ms).
 * Then two forwarders (startForwarder) with the shipped ClusterRole: only the leader publishes, and a new
 * leader re-lists, so a failover loses nothing.
 */
import { readFileSync } from 'node:fs';
import { type KubernetesObject, loadAllYaml, type V1ClusterRole, type V1Lease, V1MicroTime, type V1Role } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/domain/config.js';
import type { PutEventsEntry } from '../../src/events/contract.js';
import type { FlushResult, PublisherStats } from '../../src/forwarder/eventbridge-publisher.js';
import { type LeaderElectionTimings, LeaderElector, type LeaseApi } from '../../src/forwarder/leader.js';
import { type Forwarder, type ForwarderPublisher, type Log, startForwarder } from '../../src/forwarder/main.js';
import { ControlPlane, RELOCATOR_GROUP } from '../../src/local-cluster/controlplane.js';
import { type Clients, clientsFor, eventually, mergePatch, statusOf } from '../../src/local-cluster/fixtures/clients.js';
import { createNode } from '../../src/local-cluster/fixtures/nodes.js';
import { createNamespace } from '../../src/local-cluster/fixtures/pods.js';

const TIMINGS: LeaderElectionTimings = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 250 };
/** The name the shipped Role's resourceNames allow. */
const LEASE = 'affinity-relocator-forwarder';

let cp: ControlPlane;
let admin: Clients;
let relocator: Clients;

beforeAll(async () => {
  cp = await ControlPlane.start({ kubelets: false });
  admin = clientsFor(cp.kubeConfig('admin'));
  relocator = clientsFor(cp.kubeConfig('relocator'));
});

afterAll(async () => {
  await cp?.stop();
});

function shipped<T extends KubernetesObject>(file: string): T {
  const [object] = loadAllYaml(readFileSync(new URL(`../../infra/kubernetes/forwarder/${file}`, import.meta.url), 'utf8')) as T[];
  return object!;
}

/** 200, or the HTTP status the call failed with. */
function status(call: Promise<unknown>): Promise<number | undefined> {
  return call.then(
    () => 200,
    (e: unknown) => statusOf(e),
  );
}

const bindTo = { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: RELOCATOR_GROUP };

/** A namespace where the relocator identity has the shipped lease Role and nothing else. */
async function leaseNamespace(name: string): Promise<string> {
  await createNamespace(admin, name);
  const role = shipped<V1Role>('role.yaml');
  await admin.rbac.createNamespacedRole({ namespace: name, body: { ...role, metadata: { name: role.metadata!.name, namespace: name } } });
  await admin.rbac.createNamespacedRoleBinding({
    namespace: name,
    body: { metadata: { name: 'forwarder' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata!.name! }, subjects: [bindTo] },
  });
  // RBAC reads bindings from an informer: wait until a read is answered 404 (allowed) rather than 403.
  await eventually('the lease Role to take effect', () => status(relocator.coordination.readNamespacedLease({ namespace: name, name: LEASE })), (s) => s === 404);
  return name;
}

async function readLease(namespace: string): Promise<V1Lease> {
  return admin.coordination.readNamespacedLease({ namespace, name: LEASE });
}

/** Who leads, as the electors' callbacks said; and any moment when two did. */
class Leadership {
  readonly leading = new Set<string>();
  readonly overlaps: string[] = [];
  readonly startedAt = new Map<string, number>();
  readonly stoppedAt = new Map<string, number>();

  started(identity: string): void {
    if (this.leading.size > 0) this.overlaps.push(`${identity} started while ${[...this.leading].join(', ')} led`);
    this.leading.add(identity);
    this.startedAt.set(identity, Date.now());
  }

  stopped(identity: string): void {
    this.leading.delete(identity);
    this.stoppedAt.set(identity, Date.now());
  }
}

/**
 * The relocator identity's Lease API with the failures a test injects: cut off from the API server, and a
 * rendezvous that holds one read of each replica until all have read (so all decide on the same state): the
 * first read, or with `hold` the first read starting `from` ms after the first one, returned no earlier than
 * `until` ms after the first one.
 */
class TestLeaseApi implements LeaseApi {
  cut = false;
  /** HTTP status of every create and replace. */
  readonly writes: number[] = [];
  private firstReadAt: number | undefined;

  constructor(
    private rendezvous?: Rendezvous,
    private readonly hold = { from: 0, until: 0 },
  ) {}

  async readNamespacedLease(p: Parameters<LeaseApi['readNamespacedLease']>[0]): Promise<V1Lease> {
    this.failIfCut();
    const started = Date.now();
    const read = await relocator.coordination.readNamespacedLease(p).then(
      (lease) => ({ lease }),
      (error: unknown) => ({ error }),
    );
    const first = (this.firstReadAt ??= Date.now());
    const held = started >= first + this.hold.from;
    const rendezvous = held ? this.rendezvous : undefined;
    if (held) this.rendezvous = undefined;
    await rendezvous?.arrive();
    if (rendezvous) await new Promise((r) => setTimeout(r, first + this.hold.until - Date.now()));
    if ('error' in read) throw read.error;
    return read.lease;
  }

  createNamespacedLease(p: Parameters<LeaseApi['createNamespacedLease']>[0]): Promise<V1Lease> {
    return this.write(() => relocator.coordination.createNamespacedLease(p));
  }

  replaceNamespacedLease(p: Parameters<LeaseApi['replaceNamespacedLease']>[0]): Promise<V1Lease> {
    return this.write(() => relocator.coordination.replaceNamespacedLease(p));
  }

  private async write(call: () => Promise<V1Lease>): Promise<V1Lease> {
    this.failIfCut();
    try {
      const lease = await call();
      this.writes.push(200);
      return lease;
    } catch (e) {
      this.writes.push(statusOf(e) ?? -1);
      throw e;
    }
  }

  private failIfCut(): void {
    if (this.cut) throw Object.assign(new Error('connect ECONNREFUSED (cut off by the test)'), { code: 'ECONNREFUSED' });
  }
}

class Rendezvous {
  private arrived = 0;
  private readonly all: Promise<void>;
  private release!: () => void;

  constructor(private readonly expected: number) {
    this.all = new Promise((resolve) => (this.release = resolve));
  }

  arrive(): Promise<void> {
    if (++this.arrived === this.expected) this.release();
    return this.all;
  }
}

const electors: LeaderElector[] = [];

afterEach(async () => {
  await Promise.all(electors.splice(0).map((e) => e.stop()));
});

function replica(identity: string, namespace: string, leadership: Leadership, api = new TestLeaseApi()): { elector: LeaderElector; api: TestLeaseApi } {
  const elector = new LeaderElector({
    api,
    namespace,
    name: LEASE,
    identity,
    ...TIMINGS,
    onStartedLeading: () => leadership.started(identity),
    onStoppedLeading: () => leadership.stopped(identity),
  });
  electors.push(elector);
  return { elector, api };
}

const leaderOf = (l: Leadership) => eventually('a leader', async () => [...l.leading], (ids) => ids.length === 1).then(([id]) => id!);

describe('leader election on a Lease', () => {
  it('lets one of two replicas lead while the other stands by, and the lease names the leader', async () => {
    const ns = await leaseNamespace('lease-one-leader');
    const leadership = new Leadership();
    const a = replica('pod-a', ns, leadership);
    const b = replica('pod-b', ns, leadership);
    a.elector.start();
    b.elector.start();

    const leader = await leaderOf(leadership);
    const first = await readLease(ns);
    expect(first.spec).toMatchObject({ holderIdentity: leader, leaseDurationSeconds: 3, leaseTransitions: 0 });

    // Several retry periods later: still the same single leader, renewing; the standby knows who leads.
    await new Promise((r) => setTimeout(r, 6 * TIMINGS.retryPeriodMs));
    expect([...leadership.leading]).toEqual([leader]);
    expect([a.elector.isLeader(), b.elector.isLeader()].filter(Boolean)).toHaveLength(1);
    expect(a.elector.leader()).toBe(leader);
    expect(b.elector.leader()).toBe(leader);
    const later = await readLease(ns);
    expect(later.spec?.holderIdentity).toBe(leader);
    expect(Date.parse(String(later.spec?.renewTime))).toBeGreaterThan(Date.parse(String(first.spec?.renewTime)));
    expect(String(later.spec?.acquireTime)).toBe(String(first.spec?.acquireTime));
    expect(leadership.overlaps).toEqual([]);
  });

  it('hands over at once when the leader stops and releases the lease', async () => {
    const ns = await leaseNamespace('lease-release');
    const leadership = new Leadership();
    const replicas = { 'pod-a': replica('pod-a', ns, leadership), 'pod-b': replica('pod-b', ns, leadership) };
    replicas['pod-a'].elector.start();
    replicas['pod-b'].elector.start();
    const leader = (await leaderOf(leadership)) as keyof typeof replicas;
    const standby = leader === 'pod-a' ? 'pod-b' : 'pod-a';

    await replicas[leader].elector.stop();
    const released = Date.now();
    await eventually('the standby to lead', async () => [...leadership.leading], (ids) => ids[0] === standby);

    // Well within the lease duration: the standby did not wait for the lease to expire.
    expect(leadership.startedAt.get(standby)! - released).toBeLessThan(TIMINGS.leaseDurationMs / 2);
    expect((await readLease(ns)).spec).toMatchObject({ holderIdentity: standby, leaseTransitions: 1 });
    expect(leadership.overlaps).toEqual([]);
  });

  it('hands over only after the lease expires when the leader dies without releasing it', async () => {
    const ns = await leaseNamespace('lease-crash');
    const leadership = new Leadership();
    const replicas = { 'pod-a': replica('pod-a', ns, leadership), 'pod-b': replica('pod-b', ns, leadership) };
    replicas['pod-a'].elector.start();
    replicas['pod-b'].elector.start();
    const leader = (await leaderOf(leadership)) as keyof typeof replicas;
    const standby = leader === 'pod-a' ? 'pod-b' : 'pod-a';

    const renewed = Date.parse(String((await readLease(ns)).spec?.renewTime));
    await replicas[leader].elector.stop({ release: false });
    await eventually('the standby to lead', async () => [...leadership.leading], (ids) => ids[0] === standby, { timeoutMs: 10_000 });

    // Not before the last renewal seen plus the lease duration (the leader may have renewed once more since).
    expect(leadership.startedAt.get(standby)! - renewed).toBeGreaterThanOrEqual(TIMINGS.leaseDurationMs);
    expect((await readLease(ns)).spec).toMatchObject({ holderIdentity: standby, leaseTransitions: 1 });
  });

  it('makes a leader cut off from the API server step down after the renew deadline, before another takes over', async () => {
    const ns = await leaseNamespace('lease-partition');
    const leadership = new Leadership();
    const replicas = { 'pod-a': replica('pod-a', ns, leadership), 'pod-b': replica('pod-b', ns, leadership) };
    replicas['pod-a'].elector.start();
    replicas['pod-b'].elector.start();
    const leader = (await leaderOf(leadership)) as keyof typeof replicas;
    const standby = leader === 'pod-a' ? 'pod-b' : 'pod-a';

    replicas[leader].api.cut = true;
    const cut = Date.now();
    await eventually('the standby to lead', async () => leadership.startedAt.get(standby), (t) => t !== undefined, { timeoutMs: 10_000 });

    const steppedDown = leadership.stoppedAt.get(leader)!;
    // Its last renewal was at most one retry period before the cut.
    expect(steppedDown - cut).toBeGreaterThanOrEqual(TIMINGS.renewDeadlineMs - TIMINGS.retryPeriodMs - 50);
    expect(steppedDown - cut).toBeLessThan(TIMINGS.renewDeadlineMs + 500);
    // The margin between the two is leaseDuration - renewDeadline (1 s), less scheduling noise.
    expect(leadership.startedAt.get(standby)! - steppedDown).toBeGreaterThan(500);
    expect(leadership.overlaps).toEqual([]);
    expect(replicas[leader].elector.isLeader()).toBe(false);
  });

  it('lets exactly one of two replicas win the race for an absent lease; the other is refused with 409', async () => {
    const ns = await leaseNamespace('lease-race-create');
    const leadership = new Leadership();
    const both = new Rendezvous(2);
    const a = replica('pod-a', ns, leadership, new TestLeaseApi(both));
    const b = replica('pod-b', ns, leadership, new TestLeaseApi(both));
    a.elector.start();
    b.elector.start();

    const leader = await leaderOf(leadership);
    expect([a.api.writes[0], b.api.writes[0]].sort()).toEqual([200, 409]);
    await new Promise((r) => setTimeout(r, 4 * TIMINGS.retryPeriodMs));
    expect([...leadership.leading]).toEqual([leader]);
    expect((await readLease(ns)).spec).toMatchObject({ holderIdentity: leader, leaseTransitions: 0 });
    expect(leadership.overlaps).toEqual([]);
  });

  it('lets exactly one of two replicas take over an expired lease, counting one transition', async () => {
    const ns = await leaseNamespace('lease-race-expired');
    const long = new V1MicroTime(Date.now() - 60_000);
    await admin.coordination.createNamespacedLease({
      namespace: ns,
      body: { metadata: { name: LEASE }, spec: { holderIdentity: 'pod-gone', leaseDurationSeconds: 3, acquireTime: long, renewTime: long, leaseTransitions: 4 } },
    });
    const leadership = new Leadership();
    const both = new Rendezvous(2);
    // A replica takes a lease over one lease duration after it saw the record last change (its first read
    // here, the record being abandoned), however old the renewTime: hold a read of each from shortly before
    // then (no read started earlier can see the lease expired), and let it return only once it has.
    const hold = { from: TIMINGS.leaseDurationMs - 2 * TIMINGS.retryPeriodMs, until: TIMINGS.leaseDurationMs + TIMINGS.retryPeriodMs };
    const a = replica('pod-a', ns, leadership, new TestLeaseApi(both, hold));
    const b = replica('pod-b', ns, leadership, new TestLeaseApi(both, hold));
    a.elector.start();
    b.elector.start();

    const leader = await leaderOf(leadership);
    expect([a.api.writes[0], b.api.writes[0]].sort()).toEqual([200, 409]);
    expect((await readLease(ns)).spec).toMatchObject({ holderIdentity: leader, leaseTransitions: 5 });
    expect(leadership.overlaps).toEqual([]);
  });
});

/** Records what the forwarder publishes instead of sending it to EventBridge. */
class RecordingPublisher implements ForwarderPublisher {
  readonly entries: PutEventsEntry[] = [];
  closed = false;

  async publish(entries: PutEventsEntry[]): Promise<void> {
    if (this.closed) throw new Error('closed');
    this.entries.push(...entries);
  }

  async close(): Promise<FlushResult> {
    this.closed = true;
    return { delivered: true, left: [] };
  }

  stats(): PublisherStats {
    const n = this.entries.length;
    return { depth: 0, inFlight: 0, oldestAgeMs: 0, observed: n, emitted: n, coalesced: 0, dropped: 0, retried: 0, calls: n, callFailures: {}, entryFailures: {} };
  }

  /** "name Code+Code" for every node event. */
  nodeChanges(): string[] {
    return this.entries
      .filter((e) => e.DetailType === 'Node Schedulability Changed')
      .map((e) => JSON.parse(e.Detail) as { node: { name: string }; reasons: { code: string }[] })
      .map((d) => `${d.node.name} ${d.reasons.map((r) => r.code).join('+')}`);
  }

  /** "bound ns/name" for every assistant pod event. */
  podChanges(): string[] {
    return this.entries
      .filter((e) => e.DetailType === 'Assistant Pod Changed')
      .map((e) => JSON.parse(e.Detail) as { change: string; pod: { namespace: string; name: string } })
      .map((d) => `${d.change} ${d.pod.namespace}/${d.pod.name}`);
  }
}

const quiet: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('the forwarder', () => {
  const forwarders: Forwarder[] = [];

  afterAll(async () => {
    await Promise.all(forwarders.map((f) => f.stop()));
  });

  async function assistantPod(namespace: string, name: string, nodeName: string): Promise<void> {
    await admin.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, labels: DEFAULT_CONFIG.assistantSelector },
        spec: { nodeName, containers: [{ name: 'affinity-assistant', image: 'registry.invalid/nop' }] },
      },
    });
  }

  async function get(port: number, path: string): Promise<{ status: number; body: string }> {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, body: await res.text() };
  }

  it('publishes only from the leader, and after a failover the new leader re-lists, so nothing is lost', async () => {
    const ns = await leaseNamespace('forwarder');
    const clusterRole = shipped<V1ClusterRole>('clusterrole.yaml');
    await admin.rbac.createClusterRole({ body: { ...clusterRole, metadata: { name: clusterRole.metadata!.name } } });
    await admin.rbac.createClusterRoleBinding({
      body: { metadata: { name: 'forwarder-test' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole.metadata!.name! }, subjects: [bindTo] },
    });
    await eventually('the ClusterRole to take effect', () => status(relocator.core.listNode()), (s) => s === 200);
    await createNamespace(admin, 'builds');
    for (const n of ['node-1', 'node-2']) await createNode(admin, n);

    const publishers = { 'pod-a': new RecordingPublisher(), 'pod-b': new RecordingPublisher() };
    const started: Record<string, Forwarder> = {};
    for (const podName of ['pod-a', 'pod-b'] as const) {
      const settings = { cluster: 'test', eventBusName: 'unused', podName, namespace: ns, leaseName: LEASE, opsPort: 0, resyncMs: 0, config: DEFAULT_CONFIG, election: TIMINGS };
      started[podName] = await startForwarder(settings, { kc: cp.kubeConfig('relocator'), publisher: publishers[podName], log: quiet });
      forwarders.push(started[podName]);
    }
    const leader = await eventually('a leader', async () => (['pod-a', 'pod-b'] as const).filter((p) => started[p]!.isLeader()), (l) => l.length === 1).then(([p]) => p!);
    const standby = leader === 'pod-a' ? 'pod-b' : 'pod-a';
    // Both are Ready (the standby too, or a rollout would never finish), and the leader's watch is synced.
    await eventually('both to be ready', () => Promise.all([leader, standby].map((p) => get(started[p]!.opsPort, '/readyz'))), (rs) => rs.every((r) => r.status === 200));

    await assistantPod('builds', 'affinity-assistant-1', 'node-1');
    await eventually('the leader to publish the assistant', async () => publishers[leader].podChanges(), (c) => c.includes('bound builds/affinity-assistant-1'));
    expect(publishers[standby].entries).toEqual([]);
    expect((await get(started[leader]!.opsPort, '/metrics')).body).toMatch(/^affinity_relocator_forwarder_leader 1$/m);
    expect((await get(started[standby]!.opsPort, '/metrics')).body).toMatch(/^affinity_relocator_forwarder_leader 0$/m);

    await started[leader]!.stop();
    forwarders.splice(forwarders.indexOf(started[leader]!), 1);
    expect(publishers[leader].closed).toBe(true);
    // A transition while nobody leads: the new leader's first list must publish it.
    await admin.core.patchNode({ name: 'node-1', body: { spec: { unschedulable: true } } }, mergePatch);
    await eventually('the new leader to publish the cordon made during the failover', async () => publishers[standby].nodeChanges(), (c) => c.includes('node-1 Cordoned'), { timeoutMs: 10_000 });
    await assistantPod('builds', 'affinity-assistant-2', 'node-2');
    await eventually('the new leader to publish a new assistant', async () => publishers[standby].podChanges(), (c) => c.includes('bound builds/affinity-assistant-2'));
    expect(publishers[leader].podChanges()).toEqual(['bound builds/affinity-assistant-1']);
    expect(publishers[leader].nodeChanges()).toEqual([]);
    expect((await readLease(ns)).spec?.holderIdentity).toBe(standby);
  });
});
