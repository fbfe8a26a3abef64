/** The pending-pod differential's state generator (test/cluster/fixtures/pending-states.ts): seeded and sound. */
import { describe, expect, it } from 'vitest';
import { ASSISTANT_CPU_MILLI, ASSISTANT_MEMORY_MI, staticallyAllowed, tolerates, ZONE_KEY } from '../cluster/fixtures/cluster-states.js';
import { ASSISTANTS_ONLY_TAINT, generatePendingState, POOL_LABEL } from '../cluster/fixtures/pending-states.js';

const SEEDS = Array.from({ length: 300 }, (_, i) => i + 1);

describe('generated pending-pod states', () => {
  it('gives the same state for the same seed, and names of its own', () => {
    for (const seed of [1, 7, 500]) {
      expect(JSON.parse(JSON.stringify(generatePendingState(seed)))).toEqual(generatePendingState(seed));
      const st = generatePendingState(seed);
      expect([st.id, st.namespace, st.startNode, ...st.nodes.map((n) => n.name), ...st.fillers.map((f) => f.node)].every((x) => x.startsWith(`pend-${seed}`))).toBe(true);
    }
    expect(generatePendingState(1)).not.toEqual(generatePendingState(2));
  });

  it('keeps the assistant startable and every node within what a kubelet would admit', () => {
    for (const seed of SEEDS) {
      const st = generatePendingState(seed);
      const start = st.nodes.find((n) => n.name === st.startNode)!;
      expect(staticallyAllowed(start, st.assistant.podTemplate), `seed ${seed}: start node allowed`).toBe(true);
      for (const n of st.nodes) {
        const here = st.fillers.filter((f) => f.node === n.name);
        const assistants = st.otherAssistants.filter((o) => o.node === n.name).length + (n === start ? 1 : 0);
        const cpu = here.reduce((s, f) => s + Math.max(f.cpuMilli, f.init?.cpuMilli ?? 0), 0) + assistants * ASSISTANT_CPU_MILLI;
        const mem = here.reduce((s, f) => s + Math.max(f.memoryMi, f.init?.memoryMi ?? 0), 0) + assistants * ASSISTANT_MEMORY_MI;
        expect(cpu, `seed ${seed} node ${n.name} cpu`).toBeLessThanOrEqual(n.cpuMilli);
        expect(mem, `seed ${seed} node ${n.name} memory`).toBeLessThanOrEqual(n.memoryMi);
        expect(here.length + assistants, `seed ${seed} node ${n.name} pods`).toBeLessThanOrEqual(n.pods);
      }
      expect(new Set(st.fillers.map((f) => f.name)).size, `seed ${seed}: filler names`).toBe(st.fillers.length);
      expect(new Set(st.nodes.map((n) => n.name)).size, `seed ${seed}: node names`).toBe(st.nodes.length);
      expect(st.held.cpuMilli, `seed ${seed}`).toBeGreaterThan(0);
      expect(st.held.memoryMi, `seed ${seed}`).toBeGreaterThan(0);
    }
  });

  it('makes each cause keep the held pod off the assistant’s node, as far as the node objects tell', () => {
    for (const seed of SEEDS) {
      const st = generatePendingState(seed);
      const start = st.nodes.find((n) => n.name === st.startNode)!;
      const h = st.held;
      if (h.cause === 'taint') {
        expect(start.taints, `seed ${seed}`).toContainEqual(ASSISTANTS_ONLY_TAINT);
        expect((h.tolerations ?? []).some((t) => tolerates(t, ASSISTANTS_ONLY_TAINT)), `seed ${seed}`).toBe(false);
      }
      if (h.cause === 'node-selector') {
        expect(start.labels[POOL_LABEL], `seed ${seed}`).toBeUndefined();
        expect(st.nodes.some((n) => n.labels[POOL_LABEL] === 'big'), `seed ${seed}`).toBe(true);
      }
      if (h.cause === 'node-affinity') expect(h.nodeAffinity?.[0]?.matchExpressions?.[0], `seed ${seed}`).toEqual({ key: ZONE_KEY, operator: 'NotIn', values: [start.zone] });
      if (h.cause === 'anti-affinity') expect(st.fillers.some((f) => f.node === start.name && f.labels.app === 'batch'), `seed ${seed}`).toBe(true);
      if (h.cause === 'pod-count') expect(st.fillers.filter((f) => f.node === start.name).length + 1 + st.otherAssistants.filter((o) => o.node === start.name).length, `seed ${seed}`).toBe(start.pods);
      if (h.cause === 'volume') expect(h.ownVolume?.kind === 'zone' ? h.ownVolume.zone : 'node', `seed ${seed}`).not.toBe(start.zone);
    }
  });

  it('covers every cause, the three coschedule modes, the shared workspace and the held pod’s own terms', () => {
    const states = SEEDS.map(generatePendingState);
    expect(new Set(states.map((s) => s.held.cause))).toEqual(new Set(['resources', 'node-selector', 'taint', 'anti-affinity', 'node-affinity', 'volume', 'pod-count']));
    expect(new Set(states.map((s) => s.assistant.mode))).toEqual(new Set(['workspaces', 'pipelineruns', 'isolate-pipelinerun']));
    expect(states.some((s) => s.held.sharesWorkspace && s.assistant.volumes.some((v) => v.placement.kind === 'zone'))).toBe(true);
    expect(states.some((s) => s.held.tolerations)).toBe(true);
    expect(states.some((s) => s.held.init)).toBe(true);
    expect(states.some((s) => s.held.antiBatch === ZONE_KEY)).toBe(true);
    expect(states.some((s) => s.held.affinityCache)).toBe(true);
    expect(states.some((s) => s.held.ownVolume?.kind === 'anywhere')).toBe(true);
  });
});
