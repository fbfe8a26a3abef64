/**
 * The README's Layout table and the import rules it states, checked against the tree: a path the table
 * names must exist, every folder of src/ and test/ must be in the table, and the core never imports its
 * edges (nor does shipped code import tests).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function layoutPaths(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Layout\n'), readme.indexOf('\n## ', readme.indexOf('## Layout\n') + 1));
  const firstCells = section.split('\n').filter((l) => l.startsWith('| `')).map((l) => l.split('|')[1]!);
  return firstCells.flatMap((cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\/$/, '')));
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(p);
    return /\.(ts|mts)$/.test(e.name) ? [p] : [];
  });
}

/** Every relative import of a file, as a path from the repository root. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:from|import\(|import)\s*'(\.{1,2}\/[^']+)'/g)].map((m) => relative(ROOT, resolve(dirname(join(ROOT, file)), m[1]!)));
}

/** Every package import (bare specifier) of a file. */
function packagesOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:from|import\(|import)\s*'([^.'][^']*)'/g)].map((m) => m[1]!);
}

describe('the README Layout table', () => {
  const paths = layoutPaths();

  it('names only paths that exist', () => {
    expect(paths.length).toBeGreaterThan(10);
    expect(paths.filter((p) => !statSync(join(ROOT, p), { throwIfNoEntry: false }))).toEqual([]);
  });

  it('names every folder of src/ and test/', () => {
    const folders = ['src', 'test'].flatMap((top) =>
      readdirSync(join(ROOT, top), { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => `${top}/${e.name}`),
    );
    expect(folders.filter((f) => !paths.some((p) => p === f || p.startsWith(`${f}/`)))).toEqual([]);
  });
});

describe('docs/design.md', () => {
  const text = readFileSync(join(ROOT, 'docs/design.md'), 'utf8');

  it('names only paths that exist', () => {
    const named = [...text.matchAll(/`((?:src|test|functions|infra|bench|scripts|docs)\/[^`\s]*|serverless\.yml|README\.md)`/g)].map((m) => m[1]!.replace(/\/$/, ''));
    expect(named.length).toBeGreaterThan(20);
    expect(named.filter((p) => !statSync(join(ROOT, p), { throwIfNoEntry: false }))).toEqual([]);
  });

  it('and the README link nothing outside the repository', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const links = [...`${text}\n${readme}`.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]!);
    expect(links.filter((l) => l.startsWith('../') || l.startsWith('/'))).toEqual([]);
    expect(readme).toContain('](docs/design.md)');
  });
});

describe('import rules', () => {
  const shipped = ['src', 'functions', 'scripts'].flatMap(filesUnder);

  it('shipped code never imports tests', () => {
    expect(shipped.flatMap((f) => importsOf(f).filter((i) => i.startsWith('test/')).map((i) => `${f} -> ${i}`))).toEqual([]);
  });

  it('the domain is pure: it imports only itself, the event schemas and type-only client-node models', () => {
    const bad = filesUnder('src/domain').flatMap((f) => [
      ...importsOf(f).filter((i) => !i.startsWith('src/domain/') && !i.startsWith('src/events/')).map((i) => `${f} -> ${i}`),
      ...packagesOf(f).filter((p) => p !== '@kubernetes/client-node').map((p) => `${f} -> ${p}`),
    ]);
    expect(bad).toEqual([]);
  });

  it('the use case does not import its adapters, Lambda or EventBridge', () => {
    const edges = ['src/cluster/', 'src/lambda/', 'src/runtime/', 'src/cli/', 'src/forwarder/', 'src/local-cluster/'];
    const bad = filesUnder('src/relocator').flatMap((f) => [
      ...importsOf(f).filter((i) => edges.some((e) => i.startsWith(e))).map((i) => `${f} -> ${i}`),
      ...packagesOf(f).filter((p) => /^@aws-(lambda-powertools|sdk)\//.test(p) || p === 'aws-lambda').map((p) => `${f} -> ${p}`),
    ]);
    expect(bad).toEqual([]);
  });

  it('the Kubernetes adapter knows the use case only by its ports', () => {
    const bad = filesUnder('src/cluster').flatMap((f) =>
      importsOf(f)
        .filter((i) => i.startsWith('src/relocator/') && i !== 'src/relocator/ports.js')
        .map((i) => `${f} -> ${i}`),
    );
    expect(bad).toEqual([]);
  });
});
