/**
 * Canonical JSON (object keys sorted at every depth, undefined members dropped), for hashing. There are
 * two on purpose: hashes already stored (audit records in the file and in Redis, state hashes bound to
 * pending approvals) were computed with each, and they part ways on values JSON data never holds. Both
 * agree on anything JSON.parse or zod produces; keep each where it is used, or stored hashes break.
 *
 *                       canonicalJson (audit chain)   sortedKeysJson (approval state hash)
 *   symbol member       "k":null                      dropped
 *   own "__proto__"     kept                          dropped
 *   own toJSON method   dropped                       called
 */

/** Walks the value itself: every own key whose value is not undefined or a function. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined || typeof v === "function" ? "null" : canonicalJson(v))).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined && typeof obj[k] !== "function")
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

/** Sorts keys into a copy, then JSON.stringify: what JSON.stringify drops or calls, this does too. */
export function sortedKeysJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? "null";
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : sortKeys(v)));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}
