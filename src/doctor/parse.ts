/**
 * Small parsers for the configuration files and command outputs the doctor reads. The larger formats
 * have their own parsers elsewhere and are reused: DRBD's configuration (src/drivers/drbd-conf.ts),
 * haresources (src/drivers/heartbeat/haresources.ts), xendomains (src/drivers/xendomains/parse.ts),
 * the CIB (src/drivers/pacemaker/cib.ts), `xm info` (src/drivers/xen/parse-info.ts).
 */

/** xend-config.sxp: the top-level `(name value...)` lists; values unquoted. Later ones win, as in xend. */
export function parseSxpConfig(text: string): Record<string, { value: string; line: number }> {
  const out: Record<string, { value: string; line: number }> = {};
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/^\s+/, "");
    if (!line.startsWith("(")) return;
    const m = /^\(\s*([A-Za-z0-9_-]+)\s*(.*?)\s*\)\s*(#.*)?$/.exec(line);
    if (!m) return;
    let value = (m[2] ?? "").trim();
    const q = /^'(.*)'$/.exec(value) ?? /^"(.*)"$/.exec(value);
    if (q) value = (q[1] ?? "").replace(/\\\\/g, "\\");
    out[m[1] as string] = { value, line: i + 1 };
  });
  return out;
}

/**
 * A Python-syntax domain config (xm) or xl's config: `name = value` lines; lists of quoted strings
 * become arrays. Enough for disk, vif, name, memory.
 */
export function parseDomainConfig(text: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  // Join lists that span lines.
  const body = text.replace(/#[^\n'"]*$/gm, "");
  const re = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(\[[^\]]*\]|'[^']*'|"[^"]*"|[^\n#]*)/gm;
  for (const m of body.matchAll(re)) {
    const key = m[1] as string;
    const raw = (m[2] ?? "").trim();
    if (raw.startsWith("["))
      out[key] = [...raw.matchAll(/'([^']*)'|"([^"]*)"/g)].map((x) => x[1] ?? x[2] ?? "");
    else out[key] = raw.replace(/^['"]|['"]$/g, "");
  }
  return out;
}

/** The block device or DRBD resource a disk spec names (`drbd:r0,xvda,w`, `phy:/dev/drbd0,...`, `target=...`). */
export function diskTarget(spec: string): string {
  const parts = spec.split(",").map((p) => p.trim());
  const target = parts.find((p) => p.startsWith("target="));
  if (target) return target.slice("target=".length);
  return parts[0] ?? "";
}

/** The bridges a vif list names (`bridge=xenbr0`); a vif without one uses the default bridge. */
export function vifBridges(vifs: readonly string[], fallback: string): string[] {
  return vifs.map((v) => /(?:^|,)\s*bridge=([^,\s]+)/.exec(v)?.[1] ?? fallback);
}

/** heartbeat ha.cf: directives in order (`node` and `stonith_host` repeat). */
export function parseHaCf(text: string): { key: string; value: string; line: number }[] {
  const out: { key: string; value: string; line: number }[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*$/, "").trim();
    if (!line) return;
    const m = /^(\S+)\s*(.*)$/.exec(line);
    if (m) out.push({ key: (m[1] as string).toLowerCase(), value: (m[2] ?? "").trim(), line: i + 1 });
  });
  return out;
}

/** heartbeat times: `30`, `30s`, `500ms`, `2min` → seconds. */
export function haSeconds(value: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|min|m)?$/.exec(value.trim());
  if (!m) return null;
  const n = Number(m[1]);
  return m[2] === "ms" ? n / 1000 : m[2] === "min" || m[2] === "m" ? n * 60 : n;
}

/** corosync.conf: `section { key: value }` nesting flattened to `section.key` (first of each key). */
export function parseCorosyncConf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const path: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (!line) continue;
    const open = /^([A-Za-z0-9_.-]+)\s*\{$/.exec(line);
    if (open) path.push(open[1] as string);
    else if (line === "}") path.pop();
    else {
      const kv = /^([A-Za-z0-9_.-]+)\s*:\s*(.*)$/.exec(line);
      if (kv) {
        const key = [...path, kv[1]].join(".");
        if (!(key in out)) out[key] = (kv[2] ?? "").trim();
      }
    }
  }
  return out;
}

/** /etc/hosts: name → addresses (every name of a line, canonical and aliases). */
export function parseHosts(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split("\n")) {
    const [addr, ...names] = raw.replace(/#.*$/, "").trim().split(/\s+/);
    if (!addr || names.length === 0) continue;
    for (const n of names) out.set(n.toLowerCase(), [...(out.get(n.toLowerCase()) ?? []), addr]);
  }
  return out;
}

/** `brctl show` (bridge names in the first column) or `ip -o link show type bridge`. */
export function parseBridges(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const ipLine = /^\d+:\s+([^:@\s]+)[:@]/.exec(line);
    if (ipLine) out.push(ipLine[1] as string);
    else if (/^bridge name\s/.test(line) || /^\s/.test(line) || line.trim() === "") continue;
    else out.push(line.split(/\s+/)[0] as string);
  }
  return out;
}

export interface IpAddr {
  iface: string;
  address: string;
}

/** `ip -o addr show`: the IPv4/IPv6 addresses per interface. */
export function parseIpAddr(text: string): IpAddr[] {
  const out: IpAddr[] = [];
  for (const line of text.split("\n")) {
    const m = /^\d+:\s+(\S+)\s+inet6?\s+([0-9a-fA-F.:]+)(?:\/\d+)?/.exec(line);
    if (m) out.push({ iface: (m[1] as string).replace(/@.*$/, ""), address: m[2] as string });
  }
  return out;
}

/** `ip -o link show`: interface → up (`UP` flag and `LOWER_UP`, or `state UP`). */
export function parseIpLink(text: string): Map<string, { up: boolean; line: string }> {
  const out = new Map<string, { up: boolean; line: string }>();
  for (const line of text.split("\n")) {
    const m = /^\d+:\s+([^:@\s]+)(?:@\S+)?:\s+<([^>]*)>/.exec(line);
    if (!m) continue;
    const flags = (m[2] as string).split(",");
    const state = /\sstate\s+(\S+)/.exec(line)?.[1];
    const up =
      state !== undefined && state !== "UNKNOWN"
        ? state === "UP"
        : flags.includes("UP") && flags.includes("LOWER_UP");
    out.set(m[1] as string, { up, line: line.replace(/\\\s+link\/.*$/, "") });
  }
  return out;
}

/** `/proc/drbd`'s first line: `version: 8.2.6 (api:88/proto:86-88)` → 8.2.6. */
export function drbdModuleVersion(procDrbd: string): string | null {
  return /^version:\s*(\d+\.\d+\.\d+)/m.exec(procDrbd)?.[1] ?? null;
}

/** `drbdadm -V` (KEY=value lines) or an older usage text (`Version: 8.2.6 (api:88)`). */
export function drbdUtilsVersion(text: string): string | null {
  return /^DRBDADM_VERSION=(\S+)/m.exec(text)?.[1] ?? /Version:\s*(\d+\.\d+\.\d+)/.exec(text)?.[1] ?? null;
}

export function versionParts(v: string): number[] {
  return v.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
}

/** `date +%s.%N` → milliseconds. */
export function parseEpoch(text: string): number | null {
  const m = /^\s*(\d+)(?:\.(\d+))?\s*$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * 1000 + Number(`0.${m[2] ?? "0"}`) * 1000;
}
