/**
 * One Lambda execution environment: a process of its own (forked by ./lambda-environment.ts, bundled by
 * esbuild so that no TypeScript loader weighs on its memory or start) that imports one built bundle (the
 * "Init" phase), then runs one invocation at a time with a context shaped like the Node.js runtime's.
 *
 *   argv: <bundle path> <export name>
 *   parent -> child: { type: 'invoke', id, event, context: { awsRequestId, functionName, ..., deadlineMs } }
 *   child -> parent: { type: 'ready', initMs, initRssKb } once, then { type: 'result', id, ok, value | error, durationMs, cpuMs, maxRssKb, heapUsedBytes }
 */
import { pathToFileURL } from 'node:url';
import { peakRssKb } from '../peak-rss.js';
// Type only: erased from the bundle, which must not load the parent's module.
import type { InvocationContext } from './lambda-environment.js';

interface InvokeMessage {
  type: 'invoke';
  id: number;
  event: unknown;
  /** deadlineMs: epoch ms when the function's timeout ends. */
  context: InvocationContext & { deadlineMs: number };
}

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

const [bundle, exportName] = process.argv.slice(2);
// Lambda's runtime sends SIGTERM when it shuts an environment down; exit as normally (a --cpu-prof profile
// is written on exit, never on the default signal death).
process.on('SIGTERM', () => process.exit(0));
const send = (m: object) => process.send!(m);

const initStarted = performance.now();
const mod = (await import(pathToFileURL(bundle!).href)) as Record<string, unknown>;
const handler = mod[exportName!];
if (typeof handler !== 'function') throw new Error(`${bundle} exports no function ${exportName}`);
send({ type: 'ready', initMs: performance.now() - initStarted, initRssKb: process.memoryUsage().rss / 1024 });

process.on('message', (m: InvokeMessage) => {
  if (m.type !== 'invoke') return;
  const { deadlineMs, ...fields } = m.context;
  const context = {
    ...fields,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const finish = (r: { ok: true; value: unknown } | { ok: false; error: { name: string; message: string } }) => {
    const cpu = process.cpuUsage(cpuBefore);
    send({ type: 'result', id: m.id, ...r, durationMs: performance.now() - started, cpuMs: (cpu.user + cpu.system) / 1000, maxRssKb: peakRssKb(), heapUsedBytes: process.memoryUsage().heapUsed });
  };
  (handler as Handler)(m.event, context).then(
    (value) => finish({ ok: true, value }),
    (e: unknown) => finish({ ok: false, error: { name: e instanceof Error ? e.name : 'Error', message: e instanceof Error ? e.message : String(e) } }),
  );
});
