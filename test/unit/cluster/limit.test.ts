import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../../src/cluster/limit.js';

/** A task that runs until the test finishes it, recording when it started. */
function tasks() {
  const started: string[] = [];
  const finish = new Map<string, (fail?: Error) => void>();
  let running = 0;
  let mostRunning = 0;
  const task = (name: string) => () =>
    new Promise<string>((resolve, reject) => {
      started.push(name);
      mostRunning = Math.max(mostRunning, ++running);
      finish.set(name, (fail) => {
        running--;
        if (fail) reject(fail);
        else resolve(name);
      });
    });
  const done = (name: string, fail?: Error) => finish.get(name)?.(fail);
  return { task, done, started, mostRunning: () => mostRunning };
}

/** Lets every settled promise's continuation run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('createLimiter', () => {
  it('runs at most max tasks at once, the rest in the order they came', async () => {
    const limit = createLimiter(2);
    const { task, done, started, mostRunning } = tasks();

    const results = ['a', 'b', 'c', 'd', 'e'].map((name) => limit(task(name)));
    await settle();
    expect(started).toEqual(['a', 'b']);

    done('b');
    await settle();
    expect(started).toEqual(['a', 'b', 'c']);

    for (const name of ['a', 'c', 'd', 'e']) {
      done(name);
      await settle();
    }
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(started).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(mostRunning()).toBe(2);
  });

  it('frees the slot of a task that fails', async () => {
    const limit = createLimiter(1);
    const { task, done, started } = tasks();

    const failing = limit(task('failing'));
    const next = limit(task('next'));
    await settle();
    done('failing', new Error('boom'));

    await expect(failing).rejects.toThrow('boom');
    await settle();
    expect(started).toEqual(['failing', 'next']);
    done('next');
    await expect(next).resolves.toBe('next');
  });

  it('frees the slot of a task that throws before returning a promise', async () => {
    const limit = createLimiter(1);

    await expect(
      limit(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    await expect(limit(async () => 'after')).resolves.toBe('after');
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses a limit of %s', (max) => {
    expect(() => createLimiter(max)).toThrow(RangeError);
  });
});
