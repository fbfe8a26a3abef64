/**
 * Bundles every Lambda entry point `functions/<name>.ts` into `dist/functions/<name>.mjs` (plus its source
 * map and an esbuild metafile, `<name>.meta.json`), then prints a size table. `npm run build` runs this
 * file; the packaging tests and the bundle bench call `buildFunctions()` with their own output directory.
 *
 * The AWS SDK is BUNDLED, not left external to the copy the nodejs22.x runtime ships. Measured on a
 * placeholder handler that imports @aws-sdk/client-eventbridge, @kubernetes/client-node and zod: Node 20,
 * minified, 20 fresh processes per variant, interleaved (the 2-core machine was shared with other builds,
 * so compare the rows rather than trusting the absolute times; `npm run bench` measures the real functions):
 *
 *   | AWS SDK  | size plugins | bundle  | cold import p50 | p99    |
 *   |----------|--------------|---------|-----------------|--------|
 *   | bundled  | yes (ships)  | 1.64 MB | 127 ms          | 168 ms |
 *   | external | yes          | 1.33 MB | 174 ms          | 219 ms |
 *   | bundled  | no           | 2.30 MB | 159 ms          | 186 ms |
 *   | external | no           | 1.99 MB | 212 ms          | 247 ms |
 *
 * Externalising saves 0.3 MB but costs ~45 ms of cold import: Node then loads the SDK's complete CommonJS
 * builds (36 files of 17 packages for our handlers), where the bundle carries only the tree-shaken part
 * of their ES builds. It would also tie us to whatever SDK (and @smithy/signature-v4, which the EKS token
 * presigner uses directly) the runtime happens to carry, which AWS changes without notice. Shipping the
 * versions pinned in package-lock.json is both faster and predictable.
 *
 * What is left is dominated by V8 compiling the bundle, i.e. by its size. client-node's generated API
 * classes were 60% of it (CoreV1Api alone ~370 KB) until src/cluster/http.ts replaced them with a small
 * JSON client (1.98 MB -> 0.80 MB), and the Lambdas reach EKS without client-node's KubeConfig, which
 * brought js-yaml, socks, ip-address, jsonpath-plus, node-fetch and openid-client along (-> 0.58 MB). The
 * schemas use zod's functional API `zod/mini` (src/events/zod.ts) instead of classic zod's method-laden
 * classes: zod 188 -> 34 KiB of each bundle (0.58 -> 0.42 MB, alertmanager 0.82 -> 0.66 MB), cold import
 * p50 103 -> 74 ms for on-node-event and 139 -> 101 ms for alertmanager (25 runs each, interleaved). Now
 * the AWS SDK leads the size table.
 */
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Packages the nodejs22.x runtime provides; only left external when measuring (`awsSdk: 'external'`). */
const RUNTIME_SDK = ['@aws-sdk/*', '@smithy/*', '@aws-crypto/*'];

// CommonJS dependencies bundled into an ES module still call `require()` (for Node built-ins); esbuild's
// shim throws "Dynamic require is not supported" unless a real `require` is in scope. The import is aliased
// so that it cannot clash with a bundled module's own top-level `createRequire`.
const BANNER =
  "import { createRequire as __bannerCreateRequire } from 'module'; const require = __bannerCreateRequire(import.meta.url);";

export interface BuildFunctionsOptions {
  /** Where the bundles go; default `dist/functions` in the repository. */
  outDir?: string;
  /** Where the entry points are; default `functions/` in the repository. */
  functionsDir?: string;
  /** 'bundle' (what ships) or 'external' (for measuring against the runtime's SDK). */
  awsSdk?: 'bundle' | 'external';
  /** Apply the size plugins (default true; false only to measure what they save). */
  slim?: boolean;
  /** Print the size table (default true). */
  log?: boolean;
}

export interface BuiltFunction {
  /** The function's name: the entry point's file name without `.ts`. */
  name: string;
  entryPoint: string;
  /** Absolute path of the bundle (`<outDir>/<name>.mjs`). */
  bundle: string;
  sourceMap: string;
  metafile: string;
  bytes: number;
  mapBytes: number;
  /** Bytes contributed by each top-level package (or `(project)` for our own sources). */
  byPackage: Record<string, number>;
}

/** The entry points: every `*.ts` directly in `functionsDir`, except tests and declaration files. */
export async function findEntryPoints(functionsDir = path.join(repoRoot, 'functions')): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(functionsDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names
    .filter((n) => n.endsWith('.ts') && !n.endsWith('.d.ts') && !n.endsWith('.test.ts'))
    .sort()
    .map((n) => path.join(functionsDir, n));
}

/**
 * Size plugins. Cold-start time is dominated by V8 compiling the bundle (roughly 35-40 ms per MB of bundle on this machine), so
 * bytes that can never run are worth removing; each of these removes code that is dead on Node by
 * construction, and the packaging test imports every bundle to prove it still loads.
 */
const slimPlugins: Plugin[] = [
  {
    // node-fetch 2 (used by @kubernetes/client-node) does `const URL = Url.URL || whatwgUrl.URL`: on Node,
    // `require('url').URL` always exists, so the whatwg-url polyfill and its Unicode tables (tr46, ~290 KB
    // minified) are dead code. Replace it, for node-fetch only, by the built-in URL.
    name: 'node-fetch-builtin-url',
    setup(b) {
      b.onResolve({ filter: /^whatwg-url$/ }, (args) =>
        /[\\/]node_modules[\\/]node-fetch[\\/]/.test(args.importer) ? { path: 'whatwg-url', namespace: 'builtin-url' } : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: 'builtin-url' }, () => ({
        contents: 'export const URL = globalThis.URL; export default { URL: globalThis.URL };',
        loader: 'js',
      }));
    },
  },
  {
    // @kubernetes/client-node's modules have no import-time side effects (none is imported for effect
    // alone), but the package does not declare `"sideEffects": false`, so esbuild keeps every API class
    // that its index re-exports. Declaring it lets the ~60 API groups we never call be dropped.
    name: 'kubernetes-client-side-effect-free',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === 'side-effect-free' || !/@kubernetes[\\/]client-node/.test(`${args.importer} ${args.path}`)) return undefined;
        const resolved = await b.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: 'side-effect-free',
        });
        if (resolved.errors.length > 0 || !/[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]/.test(resolved.path)) return undefined;
        return { ...resolved, sideEffects: false };
      });
    },
  },
  {
    // zod's namespace (`zod/mini`'s as classic's) includes `locales` (and `core.locales`): error messages in
    // ~50 languages (~250 KB), all kept because a namespace cannot be tree-shaken. Our messages are English
    // (src/events/zod.ts configures them), so `locales` offers English only.
    name: 'zod-english-only',
    setup(b) {
      b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
        /[\\/]node_modules[\\/]zod[\\/]v4[\\/](?:classic|core|mini)[\\/]/.test(args.importer)
          ? { path: path.join(path.dirname(args.importer), '..', 'locales', 'index.js'), namespace: 'zod-locales' }
          : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
        contents: "export { default as en } from './en.js';",
        resolveDir: path.dirname(args.path),
        loader: 'js',
      }));
    },
  },
];

export function esbuildOptions(
  entryPoint: string,
  outDir: string,
  { awsSdk = 'bundle', slim = true }: Pick<BuildFunctionsOptions, 'awsSdk' | 'slim'> = {},
): BuildOptions {
  const name = path.basename(entryPoint, '.ts');
  return {
    entryPoints: [entryPoint],
    outfile: path.join(outDir, `${name}.mjs`),
    absWorkingDir: repoRoot,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    bundle: true,
    minify: true,
    // No keepNames: it costs ~75 KB (4%) to keep class and function names that nothing of ours or of our
    // dependencies reads (errors carry explicit `name`s), and stack traces are mapped to file:line:column
    // of the TypeScript sources through the source map.
    // Linked: the .map file plus the sourceMappingURL comment that --enable-source-maps needs to find it.
    sourcemap: 'linked',
    sourcesContent: false,
    // Prefer the ES module builds of dependencies: they tree-shake far better than their CommonJS ones.
    mainFields: ['module', 'main'],
    banner: { js: BANNER },
    // The bundles run in our own account, they are not redistributed: no licence comments to carry.
    legalComments: 'none',
    external: awsSdk === 'external' ? RUNTIME_SDK : [],
    plugins: slim ? slimPlugins : [],
    metafile: true,
    logLevel: 'warning',
  };
}

/** Bytes of the output attributed to each top-level package. */
function bytesByPackage(meta: Metafile): Record<string, number> {
  const result: Record<string, number> = {};
  for (const output of Object.values(meta.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const at = input.lastIndexOf('node_modules/');
      const [scope = '', pkg = ''] = at < 0 ? [] : input.slice(at + 'node_modules/'.length).split('/');
      const key = at < 0 ? '(project)' : scope.startsWith('@') ? `${scope}/${pkg}` : scope;
      result[key] = (result[key] ?? 0) + bytesInOutput;
    }
  }
  return result;
}

export async function buildFunctions(options: BuildFunctionsOptions = {}): Promise<BuiltFunction[]> {
  const outDir = path.resolve(options.outDir ?? path.join(repoRoot, 'dist', 'functions'));
  const entryPoints = await findEntryPoints(options.functionsDir);
  // Start clean, so that a function deleted from functions/ does not linger in the package. Only our own
  // outputs are removed: outDir may be any directory.
  await mkdir(outDir, { recursive: true });
  for (const file of await readdir(outDir)) {
    if (/\.(mjs|mjs\.map|meta\.json)$/.test(file)) await rm(path.join(outDir, file), { force: true });
  }

  const built = await Promise.all(
    entryPoints.map(async (entryPoint): Promise<BuiltFunction> => {
      const name = path.basename(entryPoint, '.ts');
      const result = await build(esbuildOptions(entryPoint, outDir, options));
      const meta = result.metafile!;
      const bundle = path.join(outDir, `${name}.mjs`);
      const metafile = path.join(outDir, `${name}.meta.json`);
      await writeFile(metafile, JSON.stringify(meta));
      return {
        name,
        entryPoint,
        bundle,
        sourceMap: `${bundle}.map`,
        metafile,
        bytes: (await stat(bundle)).size,
        mapBytes: (await stat(`${bundle}.map`)).size,
        byPackage: bytesByPackage(meta),
      };
    }),
  );
  if (options.log ?? true) printSizeTable(built, outDir);
  return built;
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

export function printSizeTable(built: BuiltFunction[], outDir: string): void {
  if (built.length === 0) {
    console.log('build: no entry points in functions/; nothing bundled');
    return;
  }
  console.log(`build: ${built.length} function(s) -> ${path.relative(process.cwd(), outDir) || '.'}`);
  const rows = built.map((b) => {
    const top = Object.entries(b.byPackage)
      .sort((x, y) => y[1] - x[1])
      .slice(0, 3)
      .map(([pkg, bytes]) => `${pkg} ${kb(bytes)}`)
      .join(', ');
    return [b.name, kb(b.bytes), kb(b.mapBytes), top];
  });
  const header = ['function', 'bundle', 'source map', 'largest packages'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 || i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

function parseArgs(argv: string[]): BuildFunctionsOptions {
  const options: BuildFunctionsOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`build: ${arg} needs a value`);
      return v;
    };
    if (arg === '--out-dir') options.outDir = value();
    else if (arg === '--functions-dir') options.functionsDir = value();
    else if (arg === '--aws-sdk-external') options.awsSdk = 'external';
    else if (arg === '--no-slim') options.slim = false;
    else throw new Error(`build: unknown argument ${arg} (known: --out-dir DIR, --functions-dir DIR, --aws-sdk-external, --no-slim)`);
  }
  return options;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildFunctions(parseArgs(process.argv.slice(2))).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
