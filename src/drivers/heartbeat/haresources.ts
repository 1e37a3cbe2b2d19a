/**
 * heartbeat v1 `/etc/ha.d/haresources`, as heartbeat's ResourceManager reads it: `#` starts a comment
 * (to the end of the line), a backslash at the end of a line continues it, and each remaining line is
 * one resource group, `NODE RESOURCE...`, NODE being the group's preferred node. A resource is
 * `SCRIPT` or `SCRIPT::ARG1::ARG2...` (a script of /etc/ha.d/resource.d or /etc/init.d), or a bare IP
 * address (short for IPaddr::ADDRESS). Example:
 *
 *   ics2 IPaddr::192.0.2.80/24/eth0 drbddisk::internet \
 *        xendomains::internet
 *
 * Xen guests appear as `xendomains::NAME`, `Xen::NAME`, or a site script such as `xen-guest::NAME`
 * or `xm::/etc/xen/NAME`: a resource stands for an inventory guest when one of its arguments (or,
 * without arguments, its script name) names the guest or its config file, unless the script is one of
 * heartbeat's well-known non-guest scripts (drbddisk names a DRBD resource that often shares the
 * guest's name).
 */
import { ParseError } from "../../errors";
import type { HaConfig, HaManagedGuest } from "../../model";
import { type GuestRef, guestOf } from "../guest-match";

export const HARESOURCES_KIND = "haresources";
export const HARESOURCES_PATH = "/etc/ha.d/haresources";

export interface HaResource {
  /** As written, e.g. `drbddisk::internet`. */
  text: string;
  /** Script name (`IPaddr` for a bare address). */
  script: string;
  args: string[];
}

export interface HaResourceGroup {
  /** 1-based line where the group starts. */
  line: number;
  node: string;
  resources: HaResource[];
}

/** Scripts that never start a guest, whatever their argument says. */
const NOT_GUESTS = new Set(
  [
    "drbddisk",
    "drbdupper",
    "Filesystem",
    "IPaddr",
    "IPaddr2",
    "IPsrcaddr",
    "IPv6addr",
    "MailTo",
    "SendArp",
    "LVM",
    "LinuxSCSI",
    "Raid1",
    "ServeRAID",
    "WAS",
    "WinPopup",
    "Xinetd",
    "Delay",
    "AudibleAlarm",
    "ICP",
    "OCF",
    "portblock",
    "db2",
    "apache",
    "hto-mapfuncs",
    "ldirectord",
    "mysql",
    "nfs-kernel-server",
    "nfs-common",
    "samba",
  ].map((s) => s.toLowerCase()),
);

const IP_ADDRESS = /^\d{1,3}(\.\d{1,3}){3}(\/\S*)?$/;
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The groups, in file order. An empty file (or only comments) has none. */
export function parseHaresources(text: string): HaResourceGroup[] {
  const raw = text.replace(/\r\n?/g, "\n").split("\n");
  const groups: HaResourceGroup[] = [];
  let words: string[] = [];
  let start = 0;
  const flush = (): void => {
    if (words.length === 0) return;
    const [node, ...rest] = words as [string, ...string[]];
    if (!NODE_NAME.test(node))
      throw new ParseError(HARESOURCES_KIND, start, `"${node}" is not a node name`, raw[start - 1]);
    if (rest.length === 0)
      throw new ParseError(HARESOURCES_KIND, start, `node ${node} has no resources`, raw[start - 1]);
    groups.push({ line: start, node, resources: rest.map(resource) });
    words = [];
  };
  raw.forEach((line, i) => {
    const hash = line.indexOf("#");
    let body = hash >= 0 ? line.slice(0, hash) : line;
    // A comment ends the line, so a backslash before it does not continue the line.
    const continues = hash < 0 && /\\\s*$/.test(body);
    if (continues) body = body.replace(/\\\s*$/, "");
    const got = body.trim().split(/\s+/).filter(Boolean);
    if (words.length === 0 && got.length > 0) start = i + 1;
    words.push(...got);
    if (!continues) flush();
  });
  flush();
  return groups;
}

function resource(text: string): HaResource {
  if (IP_ADDRESS.test(text)) return { text, script: "IPaddr", args: [text] };
  const [script = "", ...args] = text.split("::");
  return { text, script, args };
}

/** The guest a resource starts, or null. */
export function guestOfResource(r: HaResource, guests: readonly GuestRef[]): string | null {
  if (NOT_GUESTS.has(r.script.toLowerCase())) return null;
  for (const a of r.args) {
    const g = guestOf(a, guests);
    if (g) return g;
  }
  return r.args.length === 0 ? guestOf(r.script, guests) : null;
}

/** The guests haresources hands to heartbeat. */
export function haresourcesToHaConfig(
  groups: readonly HaResourceGroup[],
  guests: readonly GuestRef[],
): HaConfig {
  const managed: HaManagedGuest[] = [];
  for (const g of groups) {
    for (const r of g.resources) {
      const guest = guestOfResource(r, guests);
      if (!guest || managed.some((m) => m.guest === guest)) continue;
      managed.push({
        guest,
        resource: r.text,
        agent: r.script,
        preferredNode: g.node,
        group: g.resources.map((x) => x.text),
        allowMigrate: null,
        constraints: [],
      });
    }
  }
  return { stack: "heartbeat", source: HARESOURCES_PATH, guests: managed };
}
