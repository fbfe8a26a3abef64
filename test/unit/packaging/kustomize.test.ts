/**
 * The cluster side installs with one `kubectl apply -k`: infra/kubernetes/kustomization.yaml takes every
 * component directory, and each directory's kustomization lists exactly the manifests it holds (a file
 * left out would silently not be applied). No kustomize binary on this machine kind: the files are read.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../scripts/build.js';

const root = path.join(repoRoot, 'infra', 'kubernetes');
const kustomization = (dir: string) => yaml.load(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
const components = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(path.join(root, d.name, 'kustomization.yaml')))
  .map((d) => d.name)
  .sort();

describe('infra/kubernetes', () => {
  it('applies every component with one kustomization: relocator RBAC, admission policies, steering, forwarder', () => {
    expect(components).toEqual(['admission', 'forwarder', 'relocator', 'steering']);
    expect([...kustomization(root).resources].sort()).toEqual(components);
  });

  it.each(components)('%s: its kustomization lists exactly the manifests of the directory', (dir) => {
    const files = readdirSync(path.join(root, dir)).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
    expect([...kustomization(path.join(root, dir)).resources].sort()).toEqual(files);
  });

  it('documents the install, upgrade and removal of every component', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    for (const heading of ['## 1. The AWS side', '## 2. The cluster side', '## Upgrade', '## Removal']) expect(readme).toContain(heading);
    for (const dir of components) expect(readme).toContain(`(${dir}/)`);
  });
});
