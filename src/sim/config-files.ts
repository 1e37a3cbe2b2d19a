/**
 * A node's configuration files beyond those src/sim/startup.ts renders: DRBD's drbd.conf (DRBD 8) or
 * /etc/drbd.d (DRBD 9), xend-config.sxp / xl.conf, the guests' domain configs, heartbeat's ha.cf and
 * authkeys, corosync.conf, /etc/hosts, the custom network script, and the replication NIC's sysfs
 * state. They are rendered from the simulation until the lab edits one (`!sim config`): the edited
 * text is then kept in `state.files[node][path]` and served as is (so a script can break exactly one
 * line on one node). `simFile` (startup.ts) consults the table first for every path, its own included.
 *
 * The reference lab carries the reference guide's own settings: allow-two-primaries without fencing,
 * `after-sb-0pri discard-least-changes`, relocation open to both nodes, VLAN bridges built by a custom
 * network script, heartbeat with APC Smart-UPS STONITH over serial lines.
 */
import type { SimFileEdit, SimGuest, SimNode } from "./model";
import type { Simulation } from "./simulation";

export const DRBD_CONF = "/etc/drbd.conf";
export const DRBD_D = "/etc/drbd.d";
export const XEND_CONFIG = "/etc/xen/xend-config.sxp";
export const XL_CONF = "/etc/xen/xl.conf";
export const HA_CF = "/etc/ha.d/ha.cf";
export const AUTHKEYS = "/etc/ha.d/authkeys";
export const COROSYNC_CONF = "/etc/corosync/corosync.conf";
export const HOSTS = "/etc/hosts";
export const NETWORK_SCRIPT = "/etc/xen/scripts/network-bridge-vlan";
/** The interface DRBD replicates over on every simulated node. */
export const REPLICATION_IFACE = "eth1";

export interface SimFileContent {
  content: string;
  mode: string;
}

/** Management address of a node (what /etc/hosts names it with). */
export function managementAddress(node: SimNode): string {
  return `203.0.113.${node.index + 1}`;
}

/** Bridges the network script builds on every node of this flavour. */
export function simBridges(sim: Simulation): string[] {
  return sim.state.flavour === "reference" ? ["xenbr0", "xenbr10"] : ["xenbr0"];
}

function guestBridge(sim: Simulation): string {
  return sim.state.flavour === "reference" ? "xenbr10" : "xenbr0";
}

function mac(index: number): string {
  return `00:16:3e:4a:1c:${(index + 1).toString(16).padStart(2, "0")}`;
}

function rate(kibps: number): string {
  return kibps % 1024 === 0 ? `${kibps / 1024}M` : `${Math.round(kibps)}K`;
}

// ------------------------------------------------------------------------------------------- DRBD

/** The reference guide's /etc/drbd.conf (DRBD 8.2), one resource block per simulated resource. */
function drbdConf8(sim: Simulation): string {
  let out = `#
# /etc/drbd.conf - identical on both nodes.
# Xen guests live-migrate between the nodes, so every resource allows two primaries.
#
global {
    usage-count no;
}

common {
    protocol C;
}
`;
  for (const r of sim.state.drbd) {
    out += `
resource ${r.name} {
    handlers {
        pri-on-incon-degr "echo o > /proc/sysrq-trigger ; halt -f";
        pri-lost-after-sb "echo o > /proc/sysrq-trigger ; halt -f";
        local-io-error "echo o > /proc/sysrq-trigger ; halt -f";
    }

    startup {
        degr-wfc-timeout 120;
    }

    disk {
        on-io-error detach;
    }

    net {
${r.allowTwoPrimaries ? "        allow-two-primaries;\n" : ""}        after-sb-0pri discard-least-changes;
        after-sb-1pri discard-secondary;
        after-sb-2pri disconnect;
    }

    syncer {
        rate ${rate(r.syncRateKiBps)};
        al-extents 257;
    }
`;
    for (const n of r.nodes) {
      const node = sim.node(n);
      out += `
    on ${n} {
        device ${r.device};
        disk ${r.backingDisk};
        address ${node?.replicationAddress ?? "0.0.0.0"}:${r.port};
        meta-disk internal;
    }
`;
    }
    out += "}\n";
  }
  return out;
}

function globalCommon9(): string {
  return `global {
    usage-count no;
}

common {
    handlers {
        fence-peer "/usr/lib/drbd/crm-fence-peer.9.sh";
        unfence-peer "/usr/lib/drbd/crm-unfence-peer.9.sh";
    }
    disk {
        on-io-error detach;
    }
    net {
        protocol C;
        fencing resource-and-stonith;
        after-sb-0pri disconnect;
        after-sb-1pri disconnect;
        after-sb-2pri disconnect;
        rr-conflict disconnect;
    }
}
`;
}

function resource9(sim: Simulation, name: string): string | null {
  const r = sim.resource(name);
  if (!r) return null;
  let out = `resource ${r.name} {
    net {
${r.allowTwoPrimaries ? "        allow-two-primaries yes;\n" : ""}    }
    disk {
        c-max-rate ${rate(r.syncRateKiBps)};
    }
`;
  r.nodes.forEach((n, k) => {
    const node = sim.node(n);
    out += `    on ${n} {
        node-id ${k};
        device ${r.device} minor ${r.minor};
        disk ${r.backingDisk};
        address ${node?.replicationAddress ?? "0.0.0.0"}:${r.port};
        meta-disk internal;
    }
`;
  });
  return `${out}}\n`;
}

// ------------------------------------------------------------------------------------------- Xen

function xendConfig(sim: Simulation): string {
  const allow = ["^localhost$", "^localhost\\\\.localdomain$", ...sim.state.nodes.map((n) => `^${n.name}$`)];
  return `# -*- sh -*-
#
# Xend configuration file.
#
(logfile /var/log/xen/xend.log)
(loglevel DEBUG)

(xend-http-server no)
(xend-unix-server yes)
(xend-tcp-xmlrpc-server no)
(xend-unix-xmlrpc-server yes)
(xend-relocation-server yes)

(xend-unix-path /var/lib/xend/xend-socket)

# Port xend should use for the relocation interface, if xend-relocation-server
# is set.
(xend-relocation-port 8002)

# Address xend should listen on for relocation-socket connections, if
# xend-relocation-server is set.
# Also, interface name is allowed (e.g. eth0) there to get the
# relocation address to be bound on.
(xend-relocation-address '')

# The hosts allowed to talk to the relocation port.  If this is empty (the
# default), then all connections are allowed (assuming that the connection
# arrives on a port and interface on which we are listening; see
# xend-relocation-port and xend-relocation-address above).  Otherwise, this
# should be a space-separated sequence of regular expressions.  Any host with
# a fully-qualified domain name or an IP address that matches one of these
# regular expressions will be accepted.
(xend-relocation-hosts-allow '${allow.join(" ")}')

# The VLAN bridges (${simBridges(sim).join(", ")}) are built by our own script.
(network-script network-bridge-vlan)
(vif-script vif-bridge)

(dom0-min-mem 196)
(dom0-cpus 0)
(vncpasswd '')
`;
}

function xlConf(): string {
  return `## Global XL config file ##

# automatically balloon down dom0 when xen doesn't have enough free
# memory to create a domain.  "auto" means only balloon if dom0
# starts with all the host's memory.
#autoballoon="auto"

# full path of the lockfile used by xl during domain creation
#lockfile="/var/lock/xl"

# default bridge device to use with vif-bridge hotplug scripts
vif.default.bridge="xenbr0"
`;
}

function guestConfig(sim: Simulation, g: SimGuest, index: number): string {
  const disks = g.drbd
    .map((name, k) => {
      const r = sim.resource(name);
      const vdev = `xvd${String.fromCharCode(97 + k)}`;
      if (sim.state.toolstack.hypervisor === "xm") return `'drbd:${name},${vdev},w'`;
      return `'phy:${r?.device ?? `/dev/drbd/by-res/${name}/0`},${vdev},w'`;
    })
    .join(", ");
  const vif = `'mac=${mac(index)}, bridge=${guestBridge(sim)}'`;
  if (sim.state.toolstack.hypervisor === "xm")
    return `#  -*- mode: python; -*-
# ${g.name}: its disk${g.drbd.length === 1 ? " is" : "s are"} DRBD resource${g.drbd.length === 1 ? "" : "s"} ${g.drbd.join(", ")}; same file on every node.
kernel      = '/boot/vmlinuz-2.6.18-6-xen-686'
ramdisk     = '/boot/initrd.img-2.6.18-6-xen-686'
memory      = '${g.memMiB}'
vcpus       = '${g.vcpus}'
name        = '${g.name}'
root        = '/dev/xvda1 ro'
disk        = [ ${disks} ]
vif         = [ ${vif} ]
on_poweroff = 'destroy'
on_reboot   = 'restart'
on_crash    = 'restart'
extra       = 'xencons=tty'
`;
  return `# ${g.name}
name = "${g.name}"
type = "pvh"
kernel = "/usr/lib/grub-xen/grub-i386-xen_pvh.bin"
memory = ${g.memMiB}
vcpus = ${g.vcpus}
disk = [ ${disks} ]
vif = [ ${vif} ]
on_crash = "restart"
`;
}

// ------------------------------------------------------------------------------------------- HA

function haCf(sim: Simulation): string {
  const dead = Math.max(1, Math.round(sim.state.ha.deadtimeMs / 1000));
  const nodes = sim.state.nodes;
  const fence = sim.state.fence;
  const stonith = nodes
    .map((from) => {
      const others = nodes.filter((n) => n !== from).map((n) => n.name);
      return fence ? `stonith_host ${from.name} ${fence.type} ${fence.ttydev} ${others.join(" ")}\n` : "";
    })
    .join("");
  return `# /etc/ha.d/ha.cf - identical on both nodes
logfacility     local0
logfile         /var/log/ha-log
keepalive       2
deadtime        ${dead}
warntime        ${Math.max(1, Math.floor(dead / 3))}
initdead        ${dead * 4}
udpport         694
bcast           ${REPLICATION_IFACE}
auto_failback   ${sim.state.ha.autoFailback ? "on" : "off"}
${stonith}${nodes.map((n) => `node            ${n.name}\n`).join("")}`;
}

function corosyncConf(sim: Simulation): string {
  return `totem {
    version: 2
    cluster_name: ${sim.state.name}
    crypto_cipher: aes256
    crypto_hash: sha256
}

nodelist {
${sim.state.nodes
  .map(
    (n) => `    node {
        ring0_addr: ${n.replicationAddress}
        name: ${n.name}
        nodeid: ${n.index + 1}
    }
`,
  )
  .join("")}}

quorum {
    provider: corosync_votequorum
${sim.state.nodes.length === 2 ? "    two_node: 1\n" : ""}}

logging {
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_syslog: yes
    timestamp: on
}
`;
}

function hosts(sim: Simulation): string {
  return `127.0.0.1\tlocalhost
${sim.state.nodes.map((n) => `${managementAddress(n)}\t${n.name}.example.net\t${n.name}\n`).join("")}
# The following lines are desirable for IPv6 capable hosts
::1     ip6-localhost ip6-loopback
fe00::0 ip6-localnet
ff00::0 ip6-mcastprefix
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
`;
}

const NETWORK_SCRIPT_TEXT = `#!/bin/sh
# Builds one bridge per VLAN on top of peth0, then the default xenbr0.
dir=$(dirname "$0")
"$dir/network-bridge" "$@" vifnum=0 netdev=eth0 bridge=xenbr0
vconfig add eth0 10
"$dir/network-bridge" "$@" vifnum=1 netdev=eth0.10 bridge=xenbr10
`;

// ------------------------------------------------------------------------------------------- table

/** What NODE's file at PATH holds before any lab edit; null: no such file. */
export function defaultConfigFile(sim: Simulation, node: string, path: string): SimFileContent | null {
  const s = sim.state;
  const n = sim.node(node);
  if (!n) return null;
  const file = (content: string | null, mode = "644"): SimFileContent | null =>
    content === null ? null : { content, mode };
  if (s.toolstack.drbd === 8 && path === DRBD_CONF) return file(drbdConf8(sim));
  if (s.toolstack.drbd === 9) {
    if (path === DRBD_CONF)
      return file(`# You can find an example in  /usr/share/doc/drbd.../drbd.conf.example

include "drbd.d/global_common.conf";
include "drbd.d/*.res";
`);
    if (path === `${DRBD_D}/global_common.conf`) return file(globalCommon9());
    const res = /^\/etc\/drbd\.d\/([^/]+)\.res$/.exec(path);
    if (res) return file(resource9(sim, res[1] as string));
  }
  if (s.toolstack.hypervisor === "xm") {
    if (path === XEND_CONFIG) return file(xendConfig(sim));
    if (path === NETWORK_SCRIPT) return file(NETWORK_SCRIPT_TEXT, "755");
  } else if (path === XL_CONF) return file(xlConf());
  const gi = s.guests.findIndex((g) => g.configFile === path);
  if (gi >= 0) return file(guestConfig(sim, s.guests[gi] as SimGuest, gi));
  if (s.toolstack.ha === "heartbeat") {
    if (path === HA_CF) return file(haCf(sim));
    if (path === AUTHKEYS) return file("auth 1\n1 sha1 xenops-lab-heartbeat-key\n", "600");
  } else if (path === COROSYNC_CONF) return file(corosyncConf(sim));
  if (path === HOSTS) return file(hosts(sim));
  if (path === `/sys/class/net/${REPLICATION_IFACE}/operstate`) return file("up\n");
  if (path === `/sys/class/net/${REPLICATION_IFACE}/speed`) return file("1000\n");
  return null;
}

/** The lab's edit of NODE's PATH, if any (content null: the file was deleted). */
export function editedConfigFile(sim: Simulation, node: string, path: string): SimFileEdit | undefined {
  return sim.state.files?.[node]?.[path];
}

/** NODE's PATH as the node has it now (edits first); null: no such file. */
export function configFile(
  sim: Simulation,
  node: string,
  path: string,
  render: () => string | null,
): SimFileContent | null {
  const edit = editedConfigFile(sim, node, path);
  if (edit) return edit.content === null ? null : { content: edit.content, mode: edit.mode };
  const own = render();
  if (own !== null) return { content: own, mode: "644" };
  return defaultConfigFile(sim, node, path);
}

export type ConfigEdit =
  | { op: "set"; content: string }
  | { op: "replace"; from: string; to: string }
  | { op: "append"; text: string }
  | { op: "delete" }
  | { op: "mode"; mode: string }
  | { op: "reset" };

/**
 * Edits NODE's PATH (`current` is what the node serves now). Returns a one-line description. A replace
 * whose text is not in the file is refused, so a lab script cannot silently test nothing.
 */
export function editConfigFile(
  sim: Simulation,
  node: string,
  path: string,
  current: SimFileContent | null,
  edit: ConfigEdit,
): string {
  if (!sim.node(node))
    throw new Error(`unknown node ${node}; nodes are ${sim.state.nodes.map((n) => n.name).join(", ")}`);
  if (!/^\/[A-Za-z0-9._/-]+$/.test(path)) throw new Error(`not an absolute path: ${path}`);
  sim.state.files ??= {};
  const files = sim.state.files;
  files[node] ??= {};
  const mine = files[node];
  const put = (content: string | null, mode: string): void => {
    mine[path] = { content, mode };
    sim.changed();
  };
  switch (edit.op) {
    case "reset":
      delete mine[path];
      sim.changed();
      return `${node}:${path} follows the simulation again`;
    case "delete":
      if (!current) throw new Error(`${node} has no ${path}`);
      put(null, current.mode);
      return `${node}:${path} deleted`;
    case "set":
      put(edit.content, current?.mode ?? "644");
      return `${node}:${path} set (${edit.content.split("\n").length} line(s))`;
    case "append":
      if (!current) throw new Error(`${node} has no ${path}`);
      put(
        `${current.content}${current.content.endsWith("\n") || current.content === "" ? "" : "\n"}${edit.text}\n`,
        current.mode,
      );
      return `${node}:${path}: appended "${edit.text}"`;
    case "mode":
      if (!current) throw new Error(`${node} has no ${path}`);
      if (!/^[0-7]{3,4}$/.test(edit.mode)) throw new Error(`not an octal mode: ${edit.mode}`);
      put(current.content, edit.mode.replace(/^0(?=\d{3}$)/, ""));
      return `${node}:${path} is now mode ${edit.mode}`;
    case "replace": {
      if (!current) throw new Error(`${node} has no ${path}`);
      if (!current.content.includes(edit.from)) throw new Error(`"${edit.from}" is not in ${node}:${path}`);
      put(current.content.split(edit.from).join(edit.to), current.mode);
      return `${node}:${path}: "${edit.from}" → "${edit.to}"`;
    }
  }
}
