import { describe, expect, it } from 'vitest';
import { parseQuantity, QuantityError } from '../../../src/domain/quantity.js';
import { insufficientResources, podRequests } from '../../../src/domain/resources.js';
import { aNode, aPod } from './builders.js';

const r = (entries: Record<string, number>) => new Map(Object.entries(entries).map(([k, v]) => [k, BigInt(v)]));

describe('resource quantities', () => {
  it('reads every suffix form exactly, in nano-units', () => {
    expect(parseQuantity('50m')).toBe(50_000_000n);
    expect(parseQuantity('1')).toBe(1_000_000_000n);
    expect(parseQuantity('1.5')).toBe(1_500_000_000n);
    expect(parseQuantity('100Mi')).toBe(100n * 1024n * 1024n * 1_000_000_000n);
    expect(parseQuantity('2k')).toBe(2_000n * 1_000_000_000n);
    expect(parseQuantity('1e3')).toBe(1_000n * 1_000_000_000n);
    expect(parseQuantity('250u')).toBe(250_000n);
    expect(parseQuantity('.5Gi')).toBe(512n * 1024n * 1024n * 1_000_000_000n);
    expect(parseQuantity(3)).toBe(3_000_000_000n);
  });

  it('names what is not a quantity', () => {
    expect(() => parseQuantity('12 cores')).toThrow(QuantityError);
    expect(() => parseQuantity('1Qi')).toThrow(/"1Qi" is not a Kubernetes quantity/);
  });
});

describe("a pod's request, as the scheduler computes it", () => {
  it('sums the containers, rounds cpu up to millicores and the rest up to units', () => {
    const pod = aPod('p', { requests: { cpu: '0.0501', memory: '100Mi', 'example.com/gpu': '1' } });
    expect(podRequests(pod)).toEqual(r({ cpu: 51, memory: 104857600, 'example.com/gpu': 1 }));
  });

  it('takes the largest init container, each on top of the sidecars started before it', () => {
    const pod = aPod('p', {
      requests: { cpu: '100m' },
      initContainers: [
        { name: 'sidecar', image: 'x', restartPolicy: 'Always', resources: { requests: { cpu: '200m' } } },
        { name: 'init', image: 'x', resources: { requests: { cpu: '500m' } } },
      ],
    });
    // max(100 + 200 (app + sidecar), 200 + 500 (init on top of the sidecar)) = 700
    expect(podRequests(pod).get('cpu')).toBe(700n);
  });

  it('uses pod-level cpu and memory requests instead of the containers, and adds the overhead', () => {
    const pod = aPod('p', { requests: { cpu: '100m', memory: '1Gi', 'ephemeral-storage': '1Gi' }, overhead: { cpu: '10m' } });
    pod.spec!.resources = { requests: { cpu: '300m' } };
    const req = podRequests(pod);
    expect(req.get('cpu')).toBe(310n);
    expect(req.get('memory')).toBe(1073741824n); // not set at pod level: the containers' sum stays
    expect(req.get('ephemeral-storage')).toBe(1073741824n);
  });

  it('ignores names the scheduler does not track', () => {
    expect(podRequests(aPod('p', { requests: { cpu: '1', storage: '5Gi' } }))).toEqual(r({ cpu: 1000 }));
  });
});

describe("a node's room", () => {
  const node = aNode('w2').allocatable({ cpu: '1', memory: '1Gi', pods: '3', 'example.com/gpu': '1' }).build();
  const filler = (name: string, requests: Record<string, string>) => aPod(name, { node: 'w2', requests });

  it('fits what allocatable minus the requests of the pods there leaves', () => {
    expect(insufficientResources(r({ cpu: 500 }), node, [filler('a', { cpu: '500m' })])).toEqual([]);
    expect(insufficientResources(r({ cpu: 501 }), node, [filler('a', { cpu: '500m' })])).toEqual(['Insufficient cpu']);
    expect(insufficientResources(r({ memory: 2 ** 30 + 1 }), node, [])).toEqual(['Insufficient memory']);
    expect(insufficientResources(r({ 'example.com/gpu': 1 }), node, [filler('g', { 'example.com/gpu': '1' })])).toEqual(['Insufficient example.com/gpu']);
    expect(insufficientResources(r({ 'example.com/fpga': 1 }), node, [])).toEqual(['Insufficient example.com/fpga']);
  });

  it('counts pods, whatever they request', () => {
    const three = [filler('a', {}), filler('b', {}), filler('c', {})];
    expect(insufficientResources(r({}), node, three)).toEqual(['Too many pods']);
    expect(insufficientResources(r({}), node, three.slice(1))).toEqual([]);
  });

  it('admits nothing on a node that reports no allocatable pods', () => {
    const bare = aNode('bare').build();
    delete bare.status!.allocatable;
    expect(insufficientResources(r({}), bare, [])).toEqual(['Too many pods']);
  });
});
