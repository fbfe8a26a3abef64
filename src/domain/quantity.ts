/**
 * Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource), exactly: a quantity becomes a
 * bigint count of nano-units, so that sums of requests are exact whatever their suffixes, and is rounded
 * only where the scheduler rounds (MilliValue for cpu, Value for the rest, both rounding up).
 */

const BINARY: Record<string, bigint> = { Ki: 1n << 10n, Mi: 1n << 20n, Gi: 1n << 30n, Ti: 1n << 40n, Pi: 1n << 50n, Ei: 1n << 60n };
/** Decimal suffixes as powers of ten. */
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

export class QuantityError extends Error {}

/** The quantity in nano-units (value × 10^9), rounded up where it has more precision than that. */
export function parseQuantity(text: string | number): bigint {
  const s = String(text).trim();
  const m = QUANTITY.exec(s);
  if (!m) throw new QuantityError(`"${s}" is not a Kubernetes quantity`);
  const [, sign, number, suffix = ''] = m;
  const [whole = '', frac = ''] = number!.split('.');
  let num = BigInt(`${whole}${frac}` || '0');
  let den = 10n ** BigInt(frac.length);
  if (suffix in BINARY) num *= BINARY[suffix]!;
  else {
    const exp = suffix in DECIMAL ? DECIMAL[suffix]! : Number(suffix.slice(1));
    if (exp >= 0) num *= 10n ** BigInt(exp);
    else den *= 10n ** BigInt(-exp);
  }
  const nano = ceilDiv(num * 1_000_000_000n, den);
  return sign === '-' ? -nano : nano;
}

export function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b > 0n ? q + 1n : q;
}

/** MilliValue(): milli-units, rounded up. */
export function milliValue(nano: bigint): bigint {
  return ceilDiv(nano, 1_000_000n);
}

/** Value(): whole units, rounded up. */
export function wholeValue(nano: bigint): bigint {
  return ceilDiv(nano, 1_000_000_000n);
}
