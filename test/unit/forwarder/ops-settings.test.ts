/** The forwarder's settings, read from its environment once at start-up (src/forwarder/main.ts). */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../../src/domain/config.js';
import { forwarderSettings } from '../../../src/forwarder/main.js';

const REQUIRED = { CLUSTER_NAME: 'prod', EVENT_BUS_NAME: 'affinity-relocator-prod', POD_NAME: 'forwarder-abc', POD_NAMESPACE: 'affinity-relocator' };

describe('the forwarder settings', () => {
  it('take the required variables and default the rest', () => {
    expect(forwarderSettings(REQUIRED)).toEqual({
      cluster: 'prod',
      eventBusName: 'affinity-relocator-prod',
      podName: 'forwarder-abc',
      namespace: 'affinity-relocator',
      leaseName: 'affinity-relocator-forwarder',
      opsPort: 8080,
      resyncMs: 600_000,
      config: DEFAULT_CONFIG,
    });
  });

  it('name every missing variable in one error, and count an empty one as missing', () => {
    const error = () => forwarderSettings({ CLUSTER_NAME: '', POD_NAMESPACE: 'x' });
    expect(error).toThrow(/CLUSTER_NAME: required.*EVENT_BUS_NAME: required.*POD_NAME: required/);
    expect(error).not.toThrow(/POD_NAMESPACE/);
  });

  it('name the variable whose value is wrong', () => {
    expect(() => forwarderSettings({ ...REQUIRED, OPS_PORT: '80a' })).toThrow(/OPS_PORT/);
    expect(() => forwarderSettings({ ...REQUIRED, OPS_PORT: '70000' })).toThrow(/OPS_PORT/);
    expect(() => forwarderSettings({ ...REQUIRED, RESYNC_SECONDS: '-1' })).toThrow(/RESYNC_SECONDS/);
    expect(() => forwarderSettings({ ...REQUIRED, LEASE_NAME: 'Forwarder_Lease' })).toThrow(/LEASE_NAME/);
    expect(() => forwarderSettings({ ...REQUIRED, ASSISTANT_SELECTOR: 'no-equals-sign' })).toThrow(/ASSISTANT_SELECTOR/);
  });

  it('take the optional variables and the relocator settings the watcher uses', () => {
    const s = forwarderSettings({
      ...REQUIRED,
      LEASE_NAME: 'forwarder-blue',
      OPS_PORT: '9090',
      RESYNC_SECONDS: '0',
      ASSISTANT_SELECTOR: 'app.kubernetes.io/component=affinity-assistant,team=ci',
      TAINT_EXCLUDE: 'karpenter.sh/disrupted',
      PENDING_TASKRUNS: 'off',
      PENDING_GRACE_SECONDS: '45',
    });
    expect(s).toMatchObject({ leaseName: 'forwarder-blue', opsPort: 9090, resyncMs: 0 });
    expect(s.config.assistantSelector).toEqual({ 'app.kubernetes.io/component': 'affinity-assistant', team: 'ci' });
    expect(s.config.taintExclude).toEqual(['karpenter.sh/disrupted']);
    expect(s.config).toMatchObject({ pendingTaskRuns: 'off', pendingGraceMs: 45_000 });
  });
});
