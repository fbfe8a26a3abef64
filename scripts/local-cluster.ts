/**
 * Starts the local control plane (the same one the tests use) with three kind-like nodes and keeps it
 * running until Ctrl-C, printing the kubeconfig to use with kubectl or `npm start -- --kubeconfig`.
 */
import { ControlPlane } from '../src/local-cluster/controlplane.js';
import { clientsFor } from '../src/local-cluster/fixtures/clients.js';
import { createNode } from '../src/local-cluster/fixtures/nodes.js';
import { installPipelineRunCrd } from '../src/local-cluster/fixtures/tekton.js';

const cp = await ControlPlane.start();
const c = clientsFor(cp.kubeConfig('admin'));
await installPipelineRunCrd(c);
await createNode(c, 'kind-multinode-control-plane', { controlPlane: true });
await createNode(c, 'kind-multinode-worker1');
await createNode(c, 'kind-multinode-worker2');
console.log(`control plane ready at ${cp.server}`);
console.log(`export KUBECONFIG=${cp.kubeconfigPath}   # contexts: admin (default), relocator`);
console.log('Ctrl-C stops it.');
const stop = async () => {
  await cp.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
