/**
 * The webhook's shared bearer token: Alertmanager sends `Authorization: Bearer <token>` (its webhook_config
 * `http_config.authorization.credentials_file`), and we compare it with the SecureString parameter in SSM.
 *
 * The token is read once per container and cached for `ttlMs`, so a rotation takes effect within that
 * time without an SSM call per request. A request whose token does not match a cached value older than
 * `recheckAfterMs` rereads it once, so a rotation done on both sides is honoured at once, while a stream of
 * bad tokens costs at most one SSM call per `recheckAfterMs`. If SSM fails, the last value read is kept.
 * The token is never logged, and never part of an error message.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Reads the current token (e.g. from SSM). */
export type TokenSource = () => Promise<string>;

/** A stored token shorter than this is a configuration mistake, not a secret: every request is refused. */
export const MIN_TOKEN_LENGTH = 16;

export class TokenUnavailableError extends Error {
  override readonly name = 'TokenUnavailableError';
}

export interface BearerVerifierOptions {
  /** How long a token read from the source is trusted (default 5 min). */
  ttlMs?: number;
  /** A mismatch rereads a cached token at least this old (default 30 s). */
  recheckAfterMs?: number;
  now?: () => number;
}

export class BearerVerifier {
  private cached: { token: string; at: number } | undefined;
  private reading: Promise<string> | undefined;
  private readonly ttlMs: number;
  private readonly recheckAfterMs: number;
  private readonly now: () => number;

  constructor(
    private readonly source: TokenSource,
    o: BearerVerifierOptions = {},
  ) {
    this.ttlMs = o.ttlMs ?? 5 * 60_000;
    this.recheckAfterMs = o.recheckAfterMs ?? 30_000;
    this.now = o.now ?? Date.now;
  }

  /**
   * Whether `presented` (the token of the Authorization header) is the shared token. Throws
   * TokenUnavailableError when no token could ever be read, or the stored one is unusable.
   */
  async verify(presented: string): Promise<boolean> {
    if (sameSecret(presented, await this.current())) return true;
    if (this.cached && this.now() - this.cached.at >= this.recheckAfterMs) return sameSecret(presented, await this.read());
    return false;
  }

  private async current(): Promise<string> {
    if (this.cached && this.now() - this.cached.at < this.ttlMs) return this.cached.token;
    return this.read();
  }

  /** One read at a time, shared by concurrent callers. */
  private read(): Promise<string> {
    this.reading ??= this.source()
      .then(
        (raw) => {
          const token = raw.trim();
          if (token.length < MIN_TOKEN_LENGTH) {
            // The stored token is the truth: once it is unusable, the one cached before is not accepted either.
            this.cached = undefined;
            throw new TokenUnavailableError(`the stored webhook token is shorter than ${MIN_TOKEN_LENGTH} characters`);
          }
          this.cached = { token, at: this.now() };
          return token;
        },
        (e: unknown) => {
          // Stale if error: SSM throttling or an outage must not lock Alertmanager out.
          if (this.cached) return this.cached.token;
          throw new TokenUnavailableError(`could not read the webhook token: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        },
      )
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), if that is what it is. */
export function bearerTokenOf(header: string | undefined): string | undefined {
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header ?? '');
  return m?.[1];
}

/** Constant-time comparison; hashing first hides the length of the secret as well. */
export function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** The token from an SSM parameter (a SecureString, decrypted), with the function's own credentials. */
export function ssmTokenSource(parameterName: string): TokenSource {
  let client: Promise<{ read: () => Promise<string | undefined> }> | undefined;
  return async () => {
    // Loaded on the first read, not at cold start: nothing else of the function needs SSM.
    client ??= import('@aws-sdk/client-ssm').then(
      ({ SSMClient, GetParameterCommand }) => {
        const ssm = new SSMClient({});
        return {
          read: async () => (await ssm.send(new GetParameterCommand({ Name: parameterName, WithDecryption: true }))).Parameter?.Value,
        };
      },
      (e: unknown) => {
        client = undefined; // retried on the next read rather than failing forever
        throw e;
      },
    );
    const value = await (await client).read();
    if (value === undefined) throw new TokenUnavailableError(`SSM parameter ${parameterName} has no value`);
    return value;
  };
}
