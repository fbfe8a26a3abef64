/**
 * AWS's CloudFormation linter (cfn-lint, from PyPI; test/support/cfn-lint.ts installs it) on the packaged
 * template, with every optional feature on and with the defaults: no error and no warning. A warning is
 * fixed in serverless.yml, or ignored in the template's (or one resource's) Metadata with the reason next
 * to it, under `lint-exceptions`, which this test requires for every ignored check.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CfnLintMatch, CfnLintInstallError, cfnLint, ensureCfnLint } from '../../support/cfn-lint.js';
import { DEFAULT_PARAMS, PARAMS, type Params, packaged } from './packaged.js';

/** Packaging (~1-2 min), a first cfn-lint install (~3 min) and its run (~30 s) on a busy 2-core machine. */
const TIMEOUT = 900_000;

const show = (m: CfnLintMatch) => `${m.Level} ${m.Rule.Id} at ${(m.Location.Path ?? []).join('/')}: ${m.Message}`;

type Metadata = { 'cfn-lint'?: { config?: { ignore_checks?: string[] } }; 'lint-exceptions'?: Record<string, string> };

describe.each([
  ['every optional feature on', PARAMS],
  ['the defaults', DEFAULT_PARAMS],
] as [string, Params][])('the packaged CloudFormation template, %s', (_name, params) => {
  it(
    'has no cfn-lint error and no warning',
    async () => {
      const pkg = await packaged(params);
      const matches = await cfnLint(path.join(pkg.dir, 'cloudformation-template-update-stack.json'));
      expect(matches.filter((m) => m.Level !== 'Informational').map(show)).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    'says why for every check it has cfn-lint ignore',
    async () => {
      const { template } = await packaged(params);
      const t = template as typeof template & { Metadata?: Metadata };
      const places: [string, Metadata | undefined][] = [
        ['the template', t.Metadata],
        ...Object.entries(t.Resources).map(([id, r]) => [id, (r as { Metadata?: Metadata }).Metadata] as [string, Metadata | undefined]),
      ];
      const ignored = new Set<string>();
      for (const [where, metadata] of places) {
        for (const check of metadata?.['cfn-lint']?.config?.ignore_checks ?? []) {
          ignored.add(check);
          expect(metadata?.['lint-exceptions']?.[check], `${where} ignores ${check} without a reason in lint-exceptions`).toMatch(/\w{3,}.{40,}/);
        }
      }
      // These three and no more (each argued in serverless.yml): constant conditions of package-time
      // parameters, the empty VPC branch they guard, and osls's own DependsOn. A new one is a decision.
      expect([...ignored].sort()).toEqual(['W1033', 'W3005', 'W8003']);
    },
    TIMEOUT,
  );
});

describe('installing cfn-lint', () => {
  it('fails at once, saying what to install, without a Python that makes virtual environments', async () => {
    const cacheDir = mkdtempSync(path.join(tmpdir(), 'ar-cache-'));
    const err = await ensureCfnLint({ python: '/nonexistent/python3', cacheDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CfnLintInstallError);
    expect((err as Error).message).toMatch(/\/nonexistent\/python3 cannot make a virtual environment \(.*ENOENT.*\)/);
    expect((err as Error).message).toContain('python3-venv');
    expect(readdirSync(cacheDir)).toEqual([]);
  });
});
