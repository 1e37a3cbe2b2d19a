/**
 * The configuration files a simulated node has besides /proc/drbd, in the formats of the real ones:
 * heartbeat's `/etc/ha.d/haresources` (one line per HA group, identical on every node), xendomains'
 * `/etc/default/xendomains` and its `/etc/xen/auto` directory (`ls -l`), and Pacemaker's CIB
 * configuration (`cibadmin --query`). They follow the simulation: haresources lists the HA groups,
 * the CIB has a Xen primitive per group, /etc/xen/auto links what `autostart` says.
 *
 * Default, as the HA guides demand for managed guests: /etc/xen/auto empty for them,
 * XENDOMAINS_RESTORE=false and XENDOMAINS_SAVE empty (so xendomains never brings a guest back behind
 * the cluster manager's back). Unmanaged guests are linked on their home node.
 */
import type { Program } from "./cmd/context";
import { configFile } from "./config-files";
import { haresourcesLine } from "./ha-log";
import type { SimClusterSpecParsed, SimGuest, SimStartup } from "./model";
import { xmlAttr } from "./render/format";
import { PACEMAKER_VERSION } from "./render/pacemaker";
import type { Simulation } from "./simulation";

export const HARESOURCES = "/etc/ha.d/haresources";
export const XENDOMAINS_DEFAULTS = "/etc/default/xendomains";
export const XEN_AUTO = "/etc/xen/auto";

export function initialStartup(
  spec: SimClusterSpecParsed,
  guests: readonly SimGuest[],
  managed: ReadonlySet<string>,
): Record<string, SimStartup> {
  const out: Record<string, SimStartup> = {};
  for (const n of spec.nodes) out[n.name] = { autoGuests: [], restore: false, save: "" };
  for (const g of spec.guests) {
    const home = guests.find((x) => x.name === g.name)?.home ?? null;
    const on = g.autostartOn ?? (managed.has(g.name) || !home ? [] : [home]);
    for (const node of on) out[node]?.autoGuests.push(g.name);
  }
  return out;
}

function startupOf(sim: Simulation, node: string): SimStartup {
  const s = sim.state.startup[node];
  if (!s) throw new Error(`unknown node ${node}; nodes are ${sim.state.nodes.map((n) => n.name).join(", ")}`);
  return s;
}

/** Links (on) or removes (off) the guest's config in NODE's /etc/xen/auto. */
export function setAutostart(sim: Simulation, node: string, guest: string, on: boolean): void {
  const s = startupOf(sim, node);
  if (!sim.guest(guest)) throw new Error(`unknown guest ${guest}`);
  s.autoGuests = s.autoGuests.filter((g) => g !== guest);
  if (on) s.autoGuests.push(guest);
  sim.changed();
}

/** XENDOMAINS_RESTORE (and XENDOMAINS_SAVE: `/var/lib/xen/save` when restoring, unless given). */
export function setXendomainsRestore(sim: Simulation, node: string, restore: boolean, save?: string): void {
  const s = startupOf(sim, node);
  s.restore = restore;
  s.save = save ?? (restore ? "/var/lib/xen/save" : "");
  sim.changed();
}

// ------------------------------------------------------------------------------------------- files

const HARESOURCES_HEAD = `#
#	This is a list of resources that move from machine to machine as
#	nodes go down and come up in the cluster.  Do not include
#	"administrative" or fixed IP addresses in this file.
#
#	The haresources files MUST BE IDENTICAL on all nodes of the cluster.
#
#	The node names listed in front of the resource group information
#	is the name of the preferred node to run the service.  It is
#	not necessarily the name of the current machine.  If you are running
#	auto_failback ON (or legacy), then these services will be started
#	up on the preferred nodes - any time they're up.
#
#	Each line is one resource group; a line ending in a backslash goes on
#	on the next one.
#
#	DRBD first (drbddisk makes the disk Primary), then the domain.
#
`;

/** heartbeat's haresources: one group per line, the domain on a continuation line. */
export function renderHaresources(sim: Simulation): string {
  const lines = sim.state.ha.groups.map((g) => {
    const words = haresourcesLine(g).split(" ");
    const last = words.pop() ?? "";
    return `${words.join(" ")} \\\n\t${last}\n`;
  });
  return `${HARESOURCES_HEAD}${lines.join("")}`;
}

/** Debian's /etc/default/xendomains (xen-utils-common), comments shortened. */
export function renderXendomainsDefaults(sim: Simulation, node: string): string {
  const s = startupOf(sim, node);
  return `## Path: System/Virtualization
## Type: string
## Default: ""
#
# Set this to a non-empty string if you want to migrate virtual machines
# on shutdown to another host.
XENDOMAINS_MIGRATE=""

## Type: string
## Default: /var/lib/xen/save
#
# Directory to save running domains to when the system (dom0) is
# shut down. Will also be used to restore domains from if # XENDOMAINS_RESTORE
# is set (see below). Leave empty to disable domain saving on shutdown
# (e.g. because you rather shut domains down).
XENDOMAINS_SAVE=${s.save}

## Type: string
## Default: "--halt --wait"
XENDOMAINS_SHUTDOWN="--halt --wait"

## Type: boolean
## Default: true
#
# This variable determines whether saved domains from XENDOMAINS_SAVE
# will be restored on system startup.
XENDOMAINS_RESTORE=${s.restore ? "true" : "false"}

## Type: string
## Default: /etc/xen/auto
#
# This variable sets the directory where domains configurations
# are stored that should be started on system startup automatically.
XENDOMAINS_AUTO=${XEN_AUTO}

## Type: boolean
## Default: false
XENDOMAINS_AUTO_ONLY=false

## Type: integer
## Default: 300
XENDOMAINS_STOP_MAXWAIT=300
`;
}

function two(n: number): string {
  return String(n).padStart(2, "0");
}

/** `ls -l /etc/xen/auto`: symlinks to the guests' configs (Debian etch ls: long-iso times). */
export function renderAutoLs(sim: Simulation, node: string): string {
  const d = new Date(sim.state.startTime - 86_400_000 * 30);
  const when = `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}`;
  const lines = startupOf(sim, node)
    .autoGuests.map((g) => sim.guest(g))
    .filter((g): g is SimGuest => g !== undefined)
    .map((g) => {
      const name = g.configFile.slice(g.configFile.lastIndexOf("/") + 1);
      return `lrwxrwxrwx 1 root root ${g.configFile.length} ${when} ${name} -> ${g.configFile}\n`;
    });
  return `total 0\n${lines.join("")}`;
}

/**
 * A file of NODE by path (null: no such file): a lab edit (`!sim config`) first, then these files,
 * then the other configuration files (src/sim/config-files.ts).
 */
export function simFile(sim: Simulation, node: string, path: string): string | null {
  return configFile(sim, node, path, () => startupFile(sim, node, path))?.content ?? null;
}

function startupFile(sim: Simulation, node: string, path: string): string | null {
  if (path === HARESOURCES && sim.state.toolstack.ha === "heartbeat") return renderHaresources(sim);
  if (path === XENDOMAINS_DEFAULTS) return renderXendomainsDefaults(sim, node);
  return null;
}

/** Directories `ls` can list (null: not one). */
export function simDirectory(sim: Simulation, node: string, path: string): string | null {
  return path.replace(/\/+$/, "") === XEN_AUTO ? renderAutoLs(sim, node) : null;
}

// ------------------------------------------------------------------------------------------- CIB

function nv(id: string, name: string, value: string, indent: string): string {
  return `${indent}<nvpair id="${xmlAttr(`${id}-${name}`)}" name="${xmlAttr(name)}" value="${xmlAttr(value)}"/>\n`;
}

/** The CIB's <configuration>: fence devices, a promotable DRBD clone per resource, a Xen primitive per guest. */
export function renderCibConfiguration(sim: Simulation, indent = ""): string {
  const i1 = `${indent}  `;
  const i2 = `${i1}  `;
  const i3 = `${i2}  `;
  const i4 = `${i3}  `;
  const opt = "cib-bootstrap-options";
  let x = `${indent}<configuration>\n${i1}<crm_config>\n${i2}<cluster_property_set id="${opt}">\n`;
  x += nv(opt, "have-watchdog", "false", i3);
  x += nv(opt, "dc-version", PACEMAKER_VERSION, i3);
  x += nv(opt, "cluster-infrastructure", "corosync", i3);
  x += nv(opt, "cluster-name", sim.state.name, i3);
  x += nv(opt, "stonith-enabled", "true", i3);
  x += `${i2}</cluster_property_set>\n${i1}</crm_config>\n${i1}<nodes>\n`;
  sim.state.nodes.forEach((n, k) => {
    x += `${i2}<node id="${k + 1}" uname="${xmlAttr(n.name)}"/>\n`;
  });
  x += `${i1}</nodes>\n${i1}<resources>\n`;
  const fence = sim.state.fence;
  for (const n of sim.state.nodes) {
    const id = `fence-${n.name}`;
    x += `${i2}<primitive id="${xmlAttr(id)}" class="stonith" type="${xmlAttr(fence?.type ?? "fence_ipmilan")}">\n`;
    x += `${i3}<instance_attributes id="${xmlAttr(id)}-instance_attributes">\n`;
    x += nv(`${id}-instance_attributes`, "ip", n.bmcAddress, i4);
    x += nv(`${id}-instance_attributes`, "username", fence?.login ?? "admin", i4);
    x += nv(`${id}-instance_attributes`, "pcmk_host_list", n.name, i4);
    x += `${i3}</instance_attributes>\n`;
    x += `${i3}<operations>\n${i4}<op id="${xmlAttr(id)}-monitor-interval-60s" interval="60s" name="monitor"/>\n${i3}</operations>\n`;
    x += `${i2}</primitive>\n`;
  }
  const used = new Set(sim.state.ha.groups.flatMap((g) => g.drbd));
  for (const r of sim.state.drbd.filter((d) => used.has(d.name))) {
    const clone = `drbd-${r.name}-clone`;
    const prim = `drbd-${r.name}`;
    x += `${i2}<clone id="${xmlAttr(clone)}">\n${i3}<meta_attributes id="${xmlAttr(clone)}-meta_attributes">\n`;
    for (const [k, v] of [
      ["promotable", "true"],
      ["promoted-max", r.allowTwoPrimaries ? "2" : "1"],
      ["clone-max", "2"],
      ["notify", "true"],
    ] as const)
      x += nv(`${clone}-meta_attributes`, k, v, i4);
    x += `${i3}</meta_attributes>\n`;
    x += `${i3}<primitive id="${xmlAttr(prim)}" class="ocf" provider="linbit" type="drbd">\n`;
    x += `${i4}<instance_attributes id="${xmlAttr(prim)}-instance_attributes">\n`;
    x += nv(`${prim}-instance_attributes`, "drbd_resource", r.name, `${i4}  `);
    x += `${i4}</instance_attributes>\n${i3}</primitive>\n${i2}</clone>\n`;
  }
  for (const g of sim.state.ha.groups) {
    const id = `vm-${g.guest}`;
    const cfg = sim.guest(g.guest)?.configFile ?? `/etc/xen/${g.guest}.cfg`;
    x += `${i2}<primitive id="${xmlAttr(id)}" class="ocf" provider="heartbeat" type="Xen">\n`;
    x += `${i3}<instance_attributes id="${xmlAttr(id)}-instance_attributes">\n`;
    x += nv(`${id}-instance_attributes`, "xmfile", cfg, i4);
    x += nv(`${id}-instance_attributes`, "name", g.guest, i4);
    x += `${i3}</instance_attributes>\n`;
    x += `${i3}<meta_attributes id="${xmlAttr(id)}-meta_attributes">\n`;
    x += nv(`${id}-meta_attributes`, "allow-migrate", "true", i4);
    x += `${i3}</meta_attributes>\n${i3}<operations>\n`;
    for (const [name, extra] of [
      ["monitor", ' interval="10s" timeout="30s"'],
      ["start", ' interval="0s" timeout="60s"'],
      ["stop", ' interval="0s" timeout="40s"'],
      ["migrate_to", ' interval="0s" timeout="120s"'],
      ["migrate_from", ' interval="0s" timeout="120s"'],
    ] as const)
      x += `${i4}<op id="${xmlAttr(id)}-${name}" name="${name}"${extra}/>\n`;
    x += `${i3}</operations>\n${i2}</primitive>\n`;
  }
  x += `${i1}</resources>\n${i1}<constraints>\n`;
  for (const g of sim.state.ha.groups) {
    const id = `vm-${g.guest}`;
    for (const r of g.drbd) {
      x += `${i2}<rsc_colocation id="colocation-${xmlAttr(id)}-drbd-${xmlAttr(r)}-clone-INFINITY" rsc="${xmlAttr(id)}" with-rsc="drbd-${xmlAttr(r)}-clone" with-rsc-role="Promoted" score="INFINITY"/>\n`;
      x += `${i2}<rsc_order id="order-drbd-${xmlAttr(r)}-clone-${xmlAttr(id)}-mandatory" first="drbd-${xmlAttr(r)}-clone" first-action="promote" then="${xmlAttr(id)}" then-action="start"/>\n`;
    }
    x += `${i2}<rsc_location id="location-${xmlAttr(id)}-${xmlAttr(g.home)}-50" rsc="${xmlAttr(id)}" node="${xmlAttr(g.home)}" score="50"/>\n`;
  }
  for (const l of sim.state.ha.locations ?? [])
    x += `${i2}<rsc_location id="${xmlAttr(l.id)}" rsc="${xmlAttr(l.rsc)}" role="Started" node="${xmlAttr(l.node)}" score="${xmlAttr(l.score)}"/>\n`;
  x += `${i1}</constraints>\n${indent}</configuration>\n`;
  return x;
}

/**
 * `cibadmin --query [--scope configuration]` (also `-Q`, `-o configuration`): read-only; any other
 * cibadmin use is refused. Without the local Pacemaker it cannot connect.
 */
export const cibadmin: Program = (ctx) => {
  let query = false;
  let scope: string | null = null;
  const a = ctx.args;
  for (let i = 0; i < a.length; i++) {
    const arg = a[i] as string;
    if (arg === "--query" || arg === "-Q") query = true;
    else if (arg === "--scope" || arg === "-o") scope = a[++i] ?? "";
    else if (arg.startsWith("--scope=")) scope = arg.slice("--scope=".length);
    else {
      ctx.io.stderr(`cibadmin: option ${arg} is not simulated by xenops-sim\n`);
      return 64;
    }
  }
  if (!query || (scope !== null && scope !== "configuration")) {
    ctx.io.stderr("cibadmin: only `cibadmin --query [--scope configuration]` is simulated by xenops-sim\n");
    return 64;
  }
  if (!ctx.node.haRunning) {
    ctx.io.stderr(
      "Could not connect to the CIB: Transport endpoint is not connected\nInit failed, could not perform requested operations\n",
    );
    return 102;
  }
  if (scope === "configuration") {
    ctx.io.stdout(renderCibConfiguration(ctx.sim));
    return 0;
  }
  const epoch = Math.max(1, Math.floor((ctx.sim.state.ha.lastChange - ctx.sim.state.startTime) / 1000) + 100);
  ctx.io.stdout(
    `<cib crm_feature_set="3.19.6" validate-with="pacemaker-3.10" epoch="${epoch}" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1">\n${renderCibConfiguration(ctx.sim, "  ")}  <status/>\n</cib>\n`,
  );
  return 0;
};
