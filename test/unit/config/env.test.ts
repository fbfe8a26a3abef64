import { describe, expect, it } from 'vitest';
import { ConfigError, list, parseEnv, required } from '../../../src/config/env.js';
import * as z from '../../../src/events/zod.js';

const Schema = z.object({
  NAME: required('a name'),
  ITEMS: z.optional(list),
  API_TOKEN: z.optional(z.string().check(z.minLength(20))),
  TOKEN_PARAMETER: z.optional(z.string().check(z.minLength(20))),
});

describe('parseEnv', () => {
  it('reads only the variables of its schema and treats empty ones as unset', () => {
    expect(parseEnv(Schema, { NAME: 'x', ITEMS: '', OTHER: 'ignored' })).toEqual({ NAME: 'x' });
    expect(parseEnv(Schema, { NAME: 'x', ITEMS: ' a, ,b ' })).toEqual({ NAME: 'x', ITEMS: ['a', 'b'] });
  });

  it('names whose configuration, every bad variable, what it had and the hint', () => {
    const attempt = () => parseEnv(Schema, { TOKEN_PARAMETER: 'short' }, { what: 'webhook', hints: { NAME: 'see the README' } });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(
      'invalid webhook configuration: NAME: required: a name (got unset; see the README); TOKEN_PARAMETER: Too small: expected string to have >=20 characters (got "short")',
    );
  });

  it('never shows the value of a secret-like variable', () => {
    const attempt = () => parseEnv(Schema, { NAME: 'x', API_TOKEN: 'hunter2' });
    expect(attempt).toThrow(/API_TOKEN: .* \(got a value\)$/);
    expect(attempt).not.toThrow(/hunter2/);
  });

  it('cuts a long value', () => {
    expect(() => parseEnv(Schema, { NAME: 'x', TOKEN_PARAMETER: 'y'.repeat(10) + '\n' })).toThrow(/got "y{10}\\n"/);
    expect(() => parseEnv(z.object({ N: z.string().check(z.maxLength(5)) }), { N: 'z'.repeat(200) })).toThrow(/got "z{77}\.\.\."\)$/);
  });
});
