/**
 * The forwarder under test, in its own process so that its memory and CPU are measured alone: the
 * real watcher publishing through the real EventBridgePublisher to the parent's loopback endpoint.
 * Talks to the parent over IPC: 'ready' once synced; answers 'stats'; exits on 'stop'.
 */
import { writeHeapSnapshot } from 'node:v8';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_CONFIG } from '../src/domain/config.js';
import { EventBridgePublisher } from '../src/forwarder/eventbridge-publisher.js';
import { ClusterWatcher } from '../src/forwarder/watcher.js';

const [kubeconfig, endpoint] = process.argv.slice(2);
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig!);
kc.setCurrentContext('admin');
const client = new EventBridgeClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' }, maxAttempts: 1 });
const publisher = new EventBridgePublisher({ eventBusName: 'bench', client });
const watcher = new ClusterWatcher({ kc, cluster: 'bench', config: DEFAULT_CONFIG, assistantSelector: DEFAULT_CONFIG.assistantSelector, publisher });
await watcher.start();
process.send!({ type: 'ready' });
process.on('message', (m: { type: string }) => {
  if (m.type === 'stats') {
    global.gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    process.send!({ type: 'stats', rss, heapUsed, cpu: process.cpuUsage(), watcher: watcher.stats(), publisher: publisher.stats() });
  } else if (m.type === 'stop') {
    // FORWARDER_HEAP_SNAPSHOT=<file>: what the heap holds at the end, for Chrome DevTools' Memory tab.
    if (process.env.FORWARDER_HEAP_SNAPSHOT) writeHeapSnapshot(process.env.FORWARDER_HEAP_SNAPSHOT);
    void watcher.stop().then(() => publisher.close()).then(() => process.exit(0));
  }
});
