/** The differential test's state generator (test/cluster/fixtures/cluster-states.ts): seeded and sound. */
import { describe, expect, it } from 'vitest';
import {
  ASSISTANT_CPU_MILLI,
  ASSISTANT_MEMORY_MI,
  generateClusterState,
  mulberry32,
  staticallyAllowed,
  tolerates,
} from '../cluster/fixtures/cluster-states.js';

const SEEDS = Array.from({ length: 300 }, (_, i) => i + 1);

describe('generated cluster states', () => {
  it('mulberry32 is a fixed sequence per seed', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(mulberry32(43)()).not.toBe(xs[0]);
  });

  it('gives the same state for the same seed, and another for another seed', () => {
    for (const seed of [1, 7, 500, 123456]) {
      expect(JSON.parse(JSON.stringify(generateClusterState(seed)))).toEqual(generateClusterState(seed));
      expect(generateClusterState(seed)).toEqual(generateClusterState(seed));
    }
    expect(generateClusterState(1)).not.toEqual(generateClusterState(2));
  });

  it('keeps every state within what the brief asks and what a kubelet would admit', () => {
    for (const seed of SEEDS) {
      const st = generateClusterState(seed);
      const start = st.nodes.find((n) => n.name === st.startNode)!;
      expect(st.nodes.length, `seed ${seed}`).toBeGreaterThanOrEqual(2);
      expect(st.nodes.length, `seed ${seed}`).toBeLessThanOrEqual(6);
      expect(start, `seed ${seed}`).toBeDefined();
      expect(staticallyAllowed(start, st.assistant.podTemplate), `seed ${seed}: start node allowed`).toBe(true);
      expect(start.taints.some((t) => t.key.startsWith('karpenter.sh/')), `seed ${seed}: start node not bad yet`).toBe(false);
      for (const n of st.nodes) {
        const here = st.fillers.filter((f) => f.node === n.name);
        const others = st.otherAssistants.filter((o) => o.node === n.name).length;
        const assistant = n === start ? 1 : 0;
        const cpu = here.reduce((s, f) => s + Math.max(f.cpuMilli, f.init?.cpuMilli ?? 0), 0) + (assistant + others) * ASSISTANT_CPU_MILLI;
        const mem = here.reduce((s, f) => s + Math.max(f.memoryMi, f.init?.memoryMi ?? 0), 0) + (assistant + others) * ASSISTANT_MEMORY_MI;
        expect(cpu, `seed ${seed} node ${n.name} cpu`).toBeLessThanOrEqual(n.cpuMilli);
        expect(mem, `seed ${seed} node ${n.name} memory`).toBeLessThanOrEqual(n.memoryMi);
        expect(here.length + others + assistant, `seed ${seed} node ${n.name} pods`).toBeLessThanOrEqual(n.pods);
      }
      expect(st.otherAssistants.every((o) => o.node !== st.startNode), `seed ${seed}`).toBe(true);
      // An untolerated NoExecute bad mark would have the assistant evicted before anyone decides.
      const bad = st.bad;
      if (bad.kind === 'taint' && bad.taint.effect === 'NoExecute') {
        expect((st.assistant.podTemplate.tolerations ?? []).some((t) => tolerates(t, bad.taint)), `seed ${seed}`).toBe(true);
      }
    }
  });

  it('covers the three coschedule modes, both bad marks, tolerated marks, pinned volumes and inter-pod terms', () => {
    const states = SEEDS.map(generateClusterState);
    expect(new Set(states.map((s) => s.assistant.mode))).toEqual(new Set(['workspaces', 'pipelineruns', 'isolate-pipelinerun']));
    expect(new Set(states.map((s) => s.bad.kind))).toEqual(new Set(['cordon', 'taint']));
    expect(states.some((s) => s.toleratesBad)).toBe(true);
    const placements = new Set(states.flatMap((s) => s.assistant.volumes.map((v) => `${v.source}:${v.placement.kind}`)));
    for (const p of ['claim:anywhere', 'claim:zone', 'claim:node', 'template:zone', 'template:node']) expect(placements).toContain(p);
    expect(states.some((s) => s.assistant.podTemplate.affinity?.podAffinity)).toBe(true);
    expect(states.some((s) => s.assistant.podTemplate.affinity?.podAntiAffinity)).toBe(true);
    expect(states.some((s) => s.fillers.some((f) => f.antiAssistant))).toBe(true);
    expect(states.some((s) => s.fillers.some((f) => f.init))).toBe(true);
    expect(states.some((s) => s.nodes.some((n) => n.notReady))).toBe(true);
    expect(states.some((s) => s.otherAssistants.length > 0 && s.assistant.mode === 'isolate-pipelinerun')).toBe(true);
  });
});
