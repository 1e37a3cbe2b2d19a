/**
 * Orders strings by UTF-16 code unit, for sorting names (nodes, resources, checks, labels). Unlike
 * localeCompare it does not depend on the host's locale, so every process sorts the same way, and it
 * keeps ICU's collation data out of memory: the first localeCompare pages in about 3 MB of it.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
