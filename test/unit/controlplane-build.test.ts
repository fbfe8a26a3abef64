import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildKey, GoBuildError, ensureControlPlaneBinary, goVersion } from '../../src/local-cluster/binary.js';
import { ensureChartTools, HELM_VERSION } from '../cluster/helm.js';

describe('control-plane build', () => {
  it('fails at once with a clear message when there is no Go toolchain', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'ar-cache-'));
    const err = await ensureControlPlaneBinary({ goBinary: '/nonexistent/go', cacheDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GoBuildError);
    expect((err as Error).message).toMatch(/Go toolchain not usable \(\/nonexistent\/go: .*ENOENT/);
    expect((err as Error).message).toMatch(/install Go >= 1\.26/);
    expect(readdirSync(cacheDir)).toEqual([]); // nothing half-built left behind
  });

  it('keys the cache on the Go version as well as the sources', () => {
    expect(buildKey('go1.26.8')).not.toBe(buildKey('go1.27.3'));
    expect(buildKey('go1.26.8')).toBe(buildKey('go1.26.8'));
    expect(goVersion()).toMatch(/^go1\.\d+/);
  });

  it('builds Helm from the version its module requires, and fails as clearly without Go', async () => {
    expect(HELM_VERSION).toMatch(/^v4\.\d+\.\d+$/);
    const cacheDir = mkdtempSync(join(tmpdir(), 'ar-cache-'));
    const err = await ensureChartTools({ goBinary: '/nonexistent/go', cacheDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GoBuildError);
    expect((err as Error).message).toMatch(/Go toolchain not usable \(\/nonexistent\/go: .*ENOENT/);
    expect(readdirSync(cacheDir)).toEqual([]);
  });
});
