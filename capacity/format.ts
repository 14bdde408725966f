/** Number formats shared by the findings and the CLI's reports: fixed decimals without trailing noise, percentages of fractions. */

/** 0.78125 → "78.1 %". */
export function percent(fraction: number, digits = 1): string {
  return `${(fraction * 100).toFixed(digits)} %`;
}

/** At most `digits` decimals, no trailing zeros: 10.4167 → "10.42", 4 → "4". */
export function num(n: number, digits = 2): string {
  return Number(n.toFixed(digits)).toString();
}
