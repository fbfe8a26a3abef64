import { describe, expect, it } from 'vitest';
import { BearerVerifier, bearerTokenOf, sameSecret, TokenUnavailableError } from '../../../src/alerts/token.js';

const TOKEN = 'b4e1f0c2d9a87e6f5a4b3c2d1e0f9a8b';
const ROTATED = 'c5f2a1d3e0b98f7a6b5c4d3e2f1a0b9c';

/** A token source that answers from a list (an Error is thrown), counting its reads. */
function source(...answers: (string | Error)[]) {
  const s = {
    reads: 0,
    read: async () => {
      const a = answers[Math.min(s.reads, answers.length - 1)]!;
      s.reads++;
      if (a instanceof Error) throw a;
      return a;
    },
  };
  return s;
}

function clock() {
  const c = { t: 0, now: () => c.t };
  return c;
}

describe('the Authorization header', () => {
  it.each([
    [`Bearer ${TOKEN}`, TOKEN],
    [`bearer ${TOKEN}`, TOKEN],
    ['Bearer abc+/=', 'abc+/='],
  ])('%s carries a bearer token', (header, token) => {
    expect(bearerTokenOf(header)).toBe(token);
  });

  it.each([[undefined], [''], ['Bearer'], ['Bearer '], [`Basic ${TOKEN}`], [`Bearer ${TOKEN} extra`], [`Token ${TOKEN}`]])('%j does not', (header) => {
    expect(bearerTokenOf(header)).toBeUndefined();
  });

  it('compares secrets of any length', () => {
    expect(sameSecret(TOKEN, TOKEN)).toBe(true);
    expect(sameSecret(TOKEN, `${TOKEN}x`)).toBe(false);
    expect(sameSecret('', TOKEN)).toBe(false);
  });
});

describe('checking the shared token', () => {
  it('reads the token once, then answers from the cache until the TTL', async () => {
    const s = source(TOKEN);
    const c = clock();
    const v = new BearerVerifier(s.read, { ttlMs: 300_000, now: c.now });
    expect(await v.verify(TOKEN)).toBe(true);
    c.t = 299_000;
    expect(await v.verify(TOKEN)).toBe(true);
    expect(s.reads).toBe(1);
    c.t = 300_000;
    expect(await v.verify(TOKEN)).toBe(true);
    expect(s.reads).toBe(2);
  });

  it('shares one read between concurrent requests of a cold container', async () => {
    const s = source(TOKEN);
    const v = new BearerVerifier(s.read);
    expect(await Promise.all([v.verify(TOKEN), v.verify(TOKEN), v.verify('x'.repeat(32))])).toEqual([true, true, false]);
    expect(s.reads).toBe(1);
  });

  it('honours a rotation at once, rereading on a mismatch at most once per recheck interval', async () => {
    const s = source(TOKEN, ROTATED);
    const c = clock();
    const v = new BearerVerifier(s.read, { ttlMs: 300_000, recheckAfterMs: 30_000, now: c.now });
    expect(await v.verify(TOKEN)).toBe(true);
    c.t = 10_000;
    expect(await v.verify(ROTATED)).toBe(false); // too soon to reread: a stream of bad tokens costs nothing
    expect(s.reads).toBe(1);
    c.t = 30_000;
    expect(await v.verify(ROTATED)).toBe(true);
    expect(s.reads).toBe(2);
    expect(await v.verify(TOKEN)).toBe(false);
  });

  it('keeps the last token when the store fails, and fails when it never had one', async () => {
    const c = clock();
    const flaky = source(TOKEN, new Error('ThrottlingException'));
    const v = new BearerVerifier(flaky.read, { ttlMs: 1_000, now: c.now });
    expect(await v.verify(TOKEN)).toBe(true);
    c.t = 5_000;
    expect(await v.verify(TOKEN)).toBe(true);

    const down = new BearerVerifier(source(new Error('AccessDeniedException')).read);
    await expect(down.verify(TOKEN)).rejects.toThrow(TokenUnavailableError);
    await expect(down.verify(TOKEN)).rejects.toThrow(/could not read the webhook token: AccessDeniedException/);
  });

  it('refuses everything when the stored token is too short to be a secret', async () => {
    const c = clock();
    const s = source(TOKEN, '  short \n');
    const v = new BearerVerifier(s.read, { ttlMs: 1_000, now: c.now });
    expect(await v.verify(TOKEN)).toBe(true);
    c.t = 2_000;
    await expect(v.verify('short')).rejects.toThrow(/shorter than 16 characters/);
    await expect(v.verify(TOKEN)).rejects.toThrow(TokenUnavailableError);
  });

  it('ignores whitespace around the stored token (a parameter written from a file)', async () => {
    const v = new BearerVerifier(source(`${TOKEN}\n`).read);
    expect(await v.verify(TOKEN)).toBe(true);
  });
});
