/**
 * Node.js 22 everywhere: the tests run on it (the `node` devDependency puts its Node first on the PATH of
 * npm scripts and npx, whatever the system's Node is), the Lambdas' runtime and the forwarder's image use
 * the same major, and so do esbuild's targets and the Node typings.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../scripts/build.js';

const read = (file: string) => readFile(path.join(repoRoot, file), 'utf8');
const pkg = JSON.parse(await read('package.json')) as { devDependencies: Record<string, string>; engines: { node: string } };
const major = (range: string) => Number(/(\d+)/.exec(range)?.[1]);
const NODE = major(pkg.devDependencies.node!);

describe('Node.js version', () => {
  it('is 22 in the node devDependency and the Node typings', () => {
    expect(NODE).toBe(22);
    expect(major(pkg.devDependencies['@types/node']!)).toBe(NODE);
  });

  it('runs the tests on the node devDependency, not on the system Node', () => {
    expect(process.versions.node.split('.')[0]).toBe(String(NODE));
    expect(process.execPath).toContain(path.join('node_modules', 'node'));
  });

  it('is the Lambdas runtime, the forwarder image and the esbuild targets (Lambdas, image, bench children)', async () => {
    expect(await read('serverless.yml')).toMatch(new RegExp(`^  runtime: nodejs${NODE}\\.x$`, 'm'));
    const dockerfile = await read('infra/docker/forwarder.Dockerfile');
    expect(dockerfile).toContain(`FROM --platform=$BUILDPLATFORM node:${NODE}-slim AS build`);
    expect(dockerfile).toContain(`FROM gcr.io/distroless/nodejs${NODE}-debian12:nonroot`);
    expect(dockerfile).toContain(`"--target=node${NODE}"`);
    expect(await read('scripts/build.ts')).toContain(`target: 'node${NODE}'`);
    // The bench children (the forwarder's, one invocation's) are bundled in one place.
    expect(await read('bench/lib.ts')).toContain(`target: 'node${NODE}'`);
  });
});
