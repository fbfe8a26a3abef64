import { it } from 'vitest';
import { ControlPlane } from '/work/wt-tekton/test/cluster/controlplane.js';
import { TektonController } from '/work/wt-tekton/test/cluster/tekton.js';
it('starts', async () => {
  const cp = await ControlPlane.start({ keepWorkDir: true });
  try {
    const t = await TektonController.start(cp);
    console.log('started', cp.workDir);
    await t.setCoschedule('pipelineruns');
    console.log('coschedule set');
    await t.stop();
  } finally { await cp.stop(); }
}, 300_000);
