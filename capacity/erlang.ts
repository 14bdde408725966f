/**
 * Erlang B and Erlang C for a offered Erlangs on c servers.
 *
 * Erlang B uses the stable forward recursion B(k) = a·B(k−1) / (k + a·B(k−1)), B(0) = 1, in its reciprocal
 * form 1/B(k) = 1 + (k/a) · 1/B(k−1): the same numbers, a sum of positive terms (no cancellation, no
 * factorials, no powers), one multiply-add per step instead of a division. 1/B only grows once k > a, and when
 * it overflows B is below 1e-308 and is returned as 0: no NaN, no Infinity, for c in the tens of thousands.
 *
 * 1/B(c) = Σ_{i≤c} (c!/i!)/a^{c−i} is a sum of Poisson-shaped terms around i = min(a, c); the terms more than
 * 12·√m + 2 below m = min(a, c) weigh less than e^-72 of it, so the recursion starts there (from 1/B = 1, as
 * at k = 0) instead of at 0. That is exact to double precision and makes one evaluation cost O(√a) steps up to
 * a, then at most c − a more.
 */

const TAIL_SDS = 12;

/** Blocking probability of an M/M/c/c system (Erlang B); 1 when c = 0, 0 when a = 0 and c ≥ 1. */
export function erlangB(a: number, c: number): number {
  if (!(a >= 0) || !Number.isFinite(a))
    throw new RangeError(`offered load must be a finite number ≥ 0; got ${a}`);
  if (!Number.isInteger(c) || c < 0) throw new RangeError(`servers must be a whole number ≥ 0; got ${c}`);
  if (a === 0) return c === 0 ? 1 : 0;
  const m = Math.min(a, c);
  const start = Math.max(0, Math.floor(m) - Math.ceil(TAIL_SDS * Math.sqrt(m)) - 2);
  const perA = 1 / a;
  let inverse = 1;
  for (let k = start + 1; k <= c; k++) {
    inverse = 1 + k * perA * inverse;
    if (inverse === Number.POSITIVE_INFINITY) return 0;
  }
  return 1 / inverse;
}

/**
 * Probability that an arriving job waits in an M/M/c queue (Erlang C): B / (1 − ρ(1 − B)) with ρ = a/c.
 * When a ≥ c the queue is unstable and every job waits: 1.
 */
export function erlangC(a: number, c: number): number {
  if (c === 0 || a >= c) return 1;
  const b = erlangB(a, c);
  const rho = a / c;
  return b / (1 - rho * (1 - b));
}
