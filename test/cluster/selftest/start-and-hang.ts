/**
 * Run by harness.test.ts as `node --import tsx`: starts a control plane, prints READY with the component
 * pids, and hangs until killed. The test SIGKILLs it to prove the components die with it.
 */
import { ControlPlane } from '../../../src/local-cluster/controlplane.js';

const cp = await ControlPlane.start({ kubelets: false });
const pids = (['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const).map((n) => cp.component(n).pid);
process.stdout.write(`READY ${pids.join(' ')}\n`);
setInterval(() => undefined, 60_000);
