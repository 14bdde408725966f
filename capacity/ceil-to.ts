/**
 * `value` rounded up to a multiple of `step` (10 MB, 0.001 s…), printed without float noise (0.012, not
 * 0.012000000000000002). The 1e-9 keeps a value already on the step where it is. Budgets derived from a
 * measurement are rounded so, whether the lab's benchmarks or production's Prometheus measured it.
 */
export function ceilTo(value: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  return Number((Math.ceil(value / step - 1e-9) * step).toFixed(decimals));
}
