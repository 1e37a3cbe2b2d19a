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

/** The guest `ref` (a name, a path, a file name) stands for, or null. */
export function guestOf(ref: string, guests: readonly GuestRef[]): string | null {
  const r = ref.trim();
  if (r === "") return null;
  const exact = guests.find((g) => g.name === r || g.configFile === r);
  if (exact) return exact.name;
  const base = basename(r);
  const byFile = guests.filter(
    (g) =>
      (g.configFile !== undefined && basename(g.configFile) === base) ||
      g.name === base ||
      g.name === stem(base),
  );
  return byFile.length === 1 ? (byFile[0]?.name ?? null) : null;
}
