/**
 * List + watch of one resource that keeps only what the forwarder decides on. client-node's informer
 * caches whole objects, and a Node carries its image list, addresses and every condition: at 5,000
 * nodes and 10,000 assistant pods that cache alone pushed the forwarder past its 200 MB budget. Here
 * each object is reduced by `slim` before it is stored or handed on.
 *
 * Semantics (those of client-go's reflector): list (in pages), then watch from the list's resourceVersion with
 * bookmarks; a watch that ends normally is resumed from the last resourceVersion seen; 410 Gone (an
 * expired resourceVersion) relists, and the relist reports objects deleted meanwhile as deletions; any
 * other failure, an ERROR event with another Status included (see watch-status.ts), is reported and
 * retried with capped exponential backoff.
 */
import { type KubeConfig, Watch } from '@kubernetes/client-node';
import { Backoff } from '../cluster/backoff.js';
import { KubeHttpClient } from '../cluster/http.js';
import { httpStatusOf } from '../cluster/retry.js';
import { watchStatusError } from './watch-status.js';

export interface ObjectMeta {
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export interface SlimInformerOptions<T extends ObjectMeta> {
  kc: KubeConfig;
  /** Collection path, e.g. /api/v1/nodes. */
  path: string;
  labelSelector?: string;
  /** e.g. `spec.nodeName=,status.phase=Pending`: an object that stops matching is reported deleted. */
  fieldSelector?: string;
  slim: (raw: unknown) => T;
  onUpsert: (obj: T, previous: T | undefined) => void;
  onDelete: (obj: T) => void;
  onError?: (e: unknown) => void;
  /** Objects per list page; default LIST_PAGE_SIZE. */
  pageSize?: number;
  /** Backoff between failed watches, in [0, 1); injectable for tests. Default Math.random. */
  random?: () => number;
}

/** Waits between failed watches: full jitter under a ceiling from 1 s doubling to 30 s, as client-go's reflector caps at 30 s. */
const WATCH_BACKOFF = { baseMs: 1_000, maxMs: 30_000 };

interface List {
  items?: unknown[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/**
 * Objects per list page, as client-go's reflector pages its lists: the forwarder parses one page at a time
 * instead of one response of every node or pod of the cluster (tens of MB of JSON at 10,000 pods), which
 * set its peak memory. The pages of one list are one snapshot (the continue token pins its resourceVersion).
 */
export const LIST_PAGE_SIZE = 500;

const keyOf = (o: ObjectMeta): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class SlimInformer<T extends ObjectMeta> {
  private readonly objects = new Map<string, T>();
  private readonly http: KubeHttpClient;
  private readonly watch: Watch;
  private resourceVersion = '';
  private stopped = false;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly backoff: Backoff;
  /** Lists done (the first sync, and one per 410) and watch failures. */
  readonly counters = { lists: 0, failures: 0 };

  constructor(private readonly o: SlimInformerOptions<T>) {
    this.http = new KubeHttpClient(o.kc);
    this.watch = new Watch(o.kc);
    this.backoff = new Backoff({ ...WATCH_BACKOFF, random: o.random });
  }

  get(name: string, namespace = ''): T | undefined {
    return this.objects.get(`${namespace}/${name}`);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  /** Resolves after the first list (the cache is synced); keeps watching until stop(). */
  async start(): Promise<void> {
    await this.relist();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
    await this.loop;
  }

  private async relist(): Promise<void> {
    const seen = new Set<string>();
    let page: List;
    let next: string | undefined;
    do {
      page = await this.http.request<List>({
        method: 'GET',
        path: this.o.path,
        query: { ...this.selectors(), limit: String(this.o.pageSize ?? LIST_PAGE_SIZE), continue: next },
      });
      for (const raw of page.items ?? []) {
        const obj = this.o.slim(raw);
        seen.add(keyOf(obj));
        this.upsert(obj);
      }
      next = page.metadata?.continue || undefined;
    } while (next);
    this.counters.lists++;
    for (const [key, obj] of this.objects) {
      if (!seen.has(key)) {
        this.objects.delete(key);
        this.o.onDelete(obj);
      }
    }
    this.resourceVersion = page.metadata?.resourceVersion ?? '';
  }

  private selectors(): { labelSelector?: string; fieldSelector?: string } {
    return {
      ...(this.o.labelSelector ? { labelSelector: this.o.labelSelector } : {}),
      ...(this.o.fieldSelector ? { fieldSelector: this.o.fieldSelector } : {}),
    };
  }

  private upsert(obj: T): void {
    const key = keyOf(obj);
    const previous = this.objects.get(key);
    // A replay of what is cached (a relist, a re-sent event) changes nothing.
    if (previous && previous.metadata?.resourceVersion === obj.metadata?.resourceVersion) return;
    this.objects.set(key, obj);
    this.o.onUpsert(obj, previous);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.relist();
        await this.watchOnce();
        this.backoff.reset();
      } catch (e) {
        if (this.stopped) return;
        if (httpStatusOf(e) === 410) {
          this.resourceVersion = '';
          continue;
        }
        this.counters.failures++;
        this.o.onError?.(e);
        await this.pause(this.backoff.next());
      }
    }
  }

  private watchOnce(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (err: unknown) => (err && !this.stopped ? reject(err) : resolve());
      let stream: AbortController | undefined;
      this.watch
        .watch(
          this.o.path,
          { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, ...this.selectors() },
          (phase: string, raw: { metadata?: { resourceVersion?: string } }) => {
            if (phase === 'ERROR') {
              // The server's last word on this watch; run() relists on 410 and backs off on anything else.
              // Stop reading: the stream may still end normally after it, which must not count as success.
              done(watchStatusError(this.o.path, raw));
              stream?.abort();
              return;
            }
            if (phase === 'BOOKMARK') {
              this.resourceVersion = raw.metadata?.resourceVersion ?? this.resourceVersion;
              return;
            }
            const obj = this.o.slim(raw);
            if (phase === 'DELETED') {
              this.objects.delete(keyOf(obj));
              this.o.onDelete(obj);
            } else {
              this.upsert(obj);
            }
            this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
          },
          done,
        )
        .then((ac) => {
          stream = this.abort = ac;
          if (this.stopped) ac.abort();
        }, reject);
    });
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}
