import { isMap, isScalar, isSeq } from "yaml";

/**
 * The path of the first key given twice in one mapping of a parsed YAML document (`at.key`, lists as
 * `at[i]`), or undefined. A set per mapping: linear in the number of keys, where the yaml library's own
 * `uniqueKeys` check compares every key with every earlier one (a 1 MiB file of 90 000 keys took minutes).
 * Parse with `uniqueKeys: false` and call this instead.
 */
export function firstDuplicateKey(node: unknown, at: string): string | undefined {
  if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
      const path = at === "" ? key : `${at}.${key}`;
      if (seen.has(key)) return path;
      seen.add(key);
      const inner = firstDuplicateKey(pair.value, path);
      if (inner !== undefined) return inner;
    }
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) {
      const inner = firstDuplicateKey(item, `${at}[${i}]`);
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}
