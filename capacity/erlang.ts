/**
 * Erlang B and Erlang C for a offered Erlangs on c servers.
 *
 * Erlang B uses the forward recursion B(k) = a·B(k−1) / (k + a·B(k−1)), which keeps every value in (0, 1]:
 * no factorials, no powers, no overflow, fine for c in the tens of thousands. The recursion is a sum of
 * Poisson-shaped terms a^i/i! seen from k = c; terms more than 12·√m + 2 below m = min(a, c) weigh less than
 * e^-72 of the total, so the recursion starts there (from B = 1, as at k = 0) instead of at 0. That is exact to
 * double precision and makes one evaluation cost O(√a) steps rather than O(c); it also stops once B underflows
 * to 0, where it stays.
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
  let b = 1;
  for (let k = start + 1; k <= c && b > 0; k++) b = (a * b) / (k + a * b);
  return b;
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
