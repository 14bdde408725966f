import { num } from "../../format.js";

export { num, percent } from "../../format.js";

/** Seconds, or a word when the queue has no finite wait. */
export function seconds(s: number | null): string {
  return s === null ? "unbounded (unstable)" : `${num(s)} s`;
}
