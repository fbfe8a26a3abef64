import { describe, expect, it } from 'vitest';
import { entrySize, objectKey } from '../../../src/forwarder/put-events-entry.js';
import { aCordonedNode, anAssistantBound } from './fixtures.js';

describe('entrySize', () => {
  it('counts the UTF-8 bytes of Source, DetailType and Detail, and not the bus name', () => {
    // "é" is 2 bytes in UTF-8, "🚀" 4: a count of characters would say 1 and 2.
    expect(entrySize({ Source: 'src', DetailType: 'é', Detail: '"🚀"', EventBusName: 'a-long-bus-name' })).toBe(3 + 2 + 6);
  });

  it('adds 14 bytes for Time and the bytes of each resource', () => {
    expect(entrySize({ Source: 's', DetailType: 't', Time: new Date(), Resources: ['arn:a', 'arn:bc'] })).toBe(1 + 1 + 14 + 5 + 6);
  });
});

describe('objectKey', () => {
  it('keys a node event by node name and a pod event by namespace and name', () => {
    expect(objectKey(aCordonedNode('worker-1'))).toBe('node/worker-1');
    expect(objectKey(anAssistantBound('ci', 'affinity-assistant-abc-0', 'worker-1'))).toBe('pod/ci/affinity-assistant-abc-0');
  });

  it('gives an entry about no object a key of its own', () => {
    const entry = { Source: 'affinity-relocator' as const, DetailType: 'Relocation Requested', Detail: '{"requestedBy":"alice"}' };

    expect(objectKey(entry)).not.toBe(objectKey(entry));
  });
});
