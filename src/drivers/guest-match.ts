/**
 * Which inventory guest a cluster-manager resource or a boot-time entry stands for. Configurations name
 * guests in several ways (the domain name, its config file's path, the file's base name, with or
 * without `.cfg`), so the match is liberal: any of them that names exactly one guest.
 */

export interface GuestRef {
  name: string;
  configFile?: string | undefined;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function stem(file: string): string {
  return file.replace(/\.(cfg|conf|xml|sxp|hvm|pv)$/i, "");
}

interface GuestIndex {
  /** Position of the first guest so named, and of the first with this config file. */
  byName: Map<string, number>;
  byConfigFile: Map<string, number>;
  /** Every guest so named, and every guest whose config file has this base name. */
  allByName: Map<string, number[]>;
  allByConfigBase: Map<string, number[]>;
}

/**
 * Indexes by guests list: a cluster's configuration names each of hundreds of guests, and a scan of
 * the inventory per name made reading it quadratic. Lists are the inventory's, never altered after
 * loading (readonly), so an index stays right for as long as its list lives.
 */
const indexes = new WeakMap<readonly GuestRef[], GuestIndex>();

function indexOf(guests: readonly GuestRef[]): GuestIndex {
  const known = indexes.get(guests);
  if (known) return known;
  const index: GuestIndex = {
    byName: new Map(),
    byConfigFile: new Map(),
    allByName: new Map(),
    allByConfigBase: new Map(),
  };
  const add = (map: Map<string, number[]>, key: string, i: number) => {
    const list = map.get(key);
    if (list) list.push(i);
    else map.set(key, [i]);
  };
  guests.forEach((g, i) => {
    if (!index.byName.has(g.name)) index.byName.set(g.name, i);
    add(index.allByName, g.name, i);
    if (g.configFile !== undefined) {
      if (!index.byConfigFile.has(g.configFile)) index.byConfigFile.set(g.configFile, i);
      add(index.allByConfigBase, basename(g.configFile), i);
    }
  });
  indexes.set(guests, index);
  return index;
}

/** The guest `ref` (a name, a path, a file name) stands for, or null. */
export function guestOf(ref: string, guests: readonly GuestRef[]): string | null {
  const r = ref.trim();
  if (r === "") return null;
  const index = indexOf(guests);
  // The first guest named so or configured from this file, as a scan in order would find it.
  const exact = Math.min(index.byName.get(r) ?? Infinity, index.byConfigFile.get(r) ?? Infinity);
  if (exact !== Infinity) return guests[exact]?.name ?? null;
  const base = basename(r);
  const candidates = new Set([
    ...(index.allByConfigBase.get(base) ?? []),
    ...(index.allByName.get(base) ?? []),
    ...(index.allByName.get(stem(base)) ?? []),
  ]);
  if (candidates.size !== 1) return null;
  const [only] = candidates;
  return only === undefined ? null : (guests[only]?.name ?? null);
}
