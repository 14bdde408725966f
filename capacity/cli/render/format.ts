/** Number formats shared by the reports: fixed decimals without trailing noise, percentages of fractions. */

/** 0.78125 → "78.1 %". */
export function percent(fraction: number, digits = 1): string {
  return `${(fraction * 100).toFixed(digits)} %`;
}

/** At most `digits` decimals, no trailing zeros: 10.4167 → "10.42", 4 → "4". */
export function num(n: number, digits = 2): string {
  return Number(n.toFixed(digits)).toString();
}

/** Seconds, or a word when the queue has no finite wait. */
export function seconds(s: number | null): string {
  return s === null ? "unbounded (unstable)" : `${num(s)} s`;
}
