/**
 * The read-only commands `xenops doctor` uses to read a node's configuration, in the real tools'
 * formats: `drbdadm dump` and `drbdadm -V`, `sha256sum`, `brctl show`, `ip -o addr|link show`,
 * `stat -c %a`, `date +%s.%N`, `command -v`, `blockdev --getsize64` and `crm_verify -L`. Files come
 * from the node's file table (src/sim/config-files.ts), so lab edits show everywhere.
 */
import { createHash } from "node:crypto";
import {
  DRBD_CONF,
  DRBD_D,
  defaultConfigFile,
  editedConfigFile,
  managementAddress,
  REPLICATION_IFACE,
  simBridges,
} from "../config-files";
import { type DumpSource, renderDrbdadmDump } from "../render/drbd-dump";
import { simFile } from "../startup";
import type { CommandContext, Program } from "./context";

function fileOf(ctx: CommandContext, path: string): string | null {
  return simFile(ctx.sim, ctx.node.name, path);
}

function versionCode(v: string): string {
  const [a = 0, b = 0, c = 0] = v.split(".").map((x) => Number.parseInt(x, 10) || 0);
  return `0x${[a, b, c].map((n) => n.toString(16).padStart(2, "0")).join("")}`;
}

/** `drbdadm -V` / `--version` and `drbdadm dump`; null for every other drbdadm use. */
export function drbdadmConfigCommand(ctx: CommandContext): number | null {
  const args = ctx.args.filter((a) => a !== "-d" && a !== "--dry-run");
  const nine = ctx.sim.state.toolstack.drbd === 9;
  const kernel = ctx.sim.state.toolstack.drbdVersion;
  if (args[0] === "-V" || args[0] === "--version") {
    const utils = nine ? "9.27.0" : kernel;
    ctx.io.stdout(
      `DRBDADM_BUILDTAG=GIT-hash:\\ 3e69822d3bb4920a8c1bfdf7d647169eba7d2eb4\\ build\\ by\\ buildd@debian,\\ 2008-06-01\\ 10:11:12\n` +
        `DRBDADM_API_VERSION=${nine ? 2 : 88}\n` +
        `DRBD_KERNEL_VERSION_CODE=${versionCode(kernel)}\n` +
        (nine ? `DRBD_KERNEL_VERSION=${kernel}\n` : "") +
        `DRBDADM_VERSION_CODE=${versionCode(utils)}\n` +
        `DRBDADM_VERSION=${utils}\n`,
    );
    return 0;
  }
  if (args[0] !== "dump") return null;
  const node = ctx.node.name;
  const sources: DumpSource[] = [];
  if (!nine) {
    const text = fileOf(ctx, DRBD_CONF);
    if (text === null) {
      ctx.io.stderr(`Can not open '${DRBD_CONF}': No such file or directory\n`);
      return 20;
    }
    sources.push({ path: DRBD_CONF, text });
  } else {
    const paths = new Set([
      `${DRBD_D}/global_common.conf`,
      ...ctx.sim.resourcesOn(node).map((r) => `${DRBD_D}/${r.name}.res`),
      ...Object.keys(ctx.sim.state.files?.[node] ?? {}).filter((p) => /^\/etc\/drbd\.d\/[^/]+\.res$/.test(p)),
    ]);
    for (const path of paths) {
      const text = fileOf(ctx, path);
      if (text !== null) sources.push({ path, text });
    }
  }
  const out = renderDrbdadmDump(sources, node, nine, args.slice(1));
  ctx.io.stdout(out.stdout);
  ctx.io.stderr(out.stderr);
  return out.exitCode;
}

export const sha256sum: Program = (ctx) => {
  let rc = 0;
  for (const path of ctx.args.filter((a) => !a.startsWith("-"))) {
    const text = fileOf(ctx, path);
    if (text === null) {
      ctx.io.stderr(`sha256sum: ${path}: No such file or directory\n`);
      rc = 1;
    } else ctx.io.stdout(`${createHash("sha256").update(text).digest("hex")}  ${path}\n`);
  }
  return rc;
};

/** Bridge → its physical port (network-bridge renames eth0 to peth0). */
function bridgePorts(ctx: CommandContext): [string, string][] {
  return simBridges(ctx.sim).map((b) => [b, b === "xenbr0" ? "peth0" : `peth0.${b.replace(/^xenbr/, "")}`]);
}

export const brctl: Program = (ctx) => {
  if (ctx.args[0] !== "show" || ctx.args.length > 1) {
    ctx.io.stderr(`brctl ${ctx.args.join(" ")}: not simulated by xenops-sim\n`);
    return 1;
  }
  let out = "bridge name\tbridge id\t\tSTP enabled\tinterfaces\n";
  bridgePorts(ctx).forEach(([b, port], i) => {
    out += `${b}\t\t8000.feffffffff${(i + 1).toString(16).padStart(2, "0")}\tno\t\t${port}\n`;
  });
  ctx.io.stdout(out);
  return 0;
};

interface Iface {
  name: string;
  up: boolean;
  mac: string;
  addr: string | null;
  bridge: boolean;
}

function interfaces(ctx: CommandContext): Iface[] {
  const n = ctx.node;
  const state = (fileOf(ctx, `/sys/class/net/${REPLICATION_IFACE}/operstate`) ?? "down").trim();
  const mac = (k: number) =>
    `00:30:48:5c:${(n.index + 1).toString(16).padStart(2, "0")}:${k.toString(16).padStart(2, "0")}`;
  return [
    { name: "lo", up: true, mac: "00:00:00:00:00:00", addr: "127.0.0.1/8", bridge: false },
    { name: "eth0", up: true, mac: mac(0), addr: `${managementAddress(n)}/24`, bridge: false },
    {
      name: REPLICATION_IFACE,
      up: state === "up",
      mac: mac(1),
      addr: `${n.replicationAddress}/24`,
      bridge: false,
    },
    ...simBridges(ctx.sim).map((b) => ({
      name: b,
      up: true,
      mac: "fe:ff:ff:ff:ff:ff",
      addr: null,
      bridge: true,
    })),
  ];
}

/** iproute2 `ip -o addr show` / `ip -o link show [type bridge]` (one line per entry). */
export const ip: Program = (ctx) => {
  const a = ctx.args.filter((x) => x !== "-o" && x !== "-oneline");
  const oneline = ctx.args.includes("-o") || ctx.args.includes("-oneline");
  const [object = "", verb = "show", ...rest] = a;
  if (!oneline || verb !== "show") {
    ctx.io.stderr(`ip ${ctx.args.join(" ")}: only \`ip -o addr|link show\` is simulated by xenops-sim\n`);
    return 255;
  }
  const list = interfaces(ctx);
  if (["addr", "address", "a"].includes(object) && rest.length === 0) {
    list.forEach((i, k) => {
      if (!i.addr) return;
      const brd = i.name === "lo" ? "" : ` brd ${i.addr.replace(/\.\d+\/24$/, ".255")}`;
      ctx.io.stdout(
        `${k + 1}: ${i.name}    inet ${i.addr}${brd} scope ${i.name === "lo" ? "host" : "global"} ${i.name}\\       valid_lft forever preferred_lft forever\n`,
      );
    });
    return 0;
  }
  if (["link", "l"].includes(object) && (rest.length === 0 || rest.join(" ") === "type bridge")) {
    list.forEach((i, k) => {
      if (rest.length > 0 && !i.bridge) return;
      const flags = i.name === "lo" ? "LOOPBACK" : "BROADCAST,MULTICAST";
      const up = i.up ? ",UP,LOWER_UP" : "";
      const st = i.name === "lo" ? "UNKNOWN" : i.up ? "UP" : "DOWN";
      const kind = i.name === "lo" ? "loopback" : "ether";
      ctx.io.stdout(
        `${k + 1}: ${i.name}: <${flags}${up}> mtu ${i.name === "lo" ? 65536 : 1500} qdisc ${i.bridge || i.name === "lo" ? "noqueue" : "pfifo_fast"} state ${st} mode DEFAULT group default qlen 1000\\    link/${kind} ${i.mac} brd ${i.name === "lo" ? "00:00:00:00:00:00" : "ff:ff:ff:ff:ff:ff"}\n`,
      );
    });
    return 0;
  }
  ctx.io.stderr(`ip ${ctx.args.join(" ")}: not simulated by xenops-sim\n`);
  return 255;
};

/** `stat -c %a PATH` (only the permission bits are simulated). */
export const stat: Program = (ctx) => {
  const a = ctx.args;
  const format = a[0] === "-c" ? a[1] : a[0]?.startsWith("--format=") ? a[0].slice(9) : undefined;
  const paths = a.slice(a[0] === "-c" ? 2 : 1);
  if (format !== "%a" || paths.length === 0) {
    ctx.io.stderr(`stat ${a.join(" ")}: only \`stat -c %a PATH\` is simulated by xenops-sim\n`);
    return 1;
  }
  let rc = 0;
  for (const path of paths) {
    if (fileOf(ctx, path) === null) {
      ctx.io.stderr(`stat: cannot stat '${path}': No such file or directory\n`);
      rc = 1;
      continue;
    }
    const mode =
      editedConfigFile(ctx.sim, ctx.node.name, path)?.mode ??
      defaultConfigFile(ctx.sim, ctx.node.name, path)?.mode ??
      "644";
    ctx.io.stdout(`${mode}\n`);
  }
  return rc;
};

/** `date +%s.%N` (and `date +%s`): the simulated clock. */
export const date: Program = (ctx) => {
  const ms = ctx.sim.now() + (ctx.node.clockSkewMs ?? 0);
  const s = Math.floor(ms / 1000);
  const frac = `${String(Math.floor(ms % 1000)).padStart(3, "0")}000000`;
  const fmt = ctx.args[0];
  if (fmt === "+%s.%N") ctx.io.stdout(`${s}.${frac}\n`);
  else if (fmt === "+%s") ctx.io.stdout(`${s}\n`);
  else if (fmt === undefined) ctx.io.stdout(`${new Date(ms).toUTCString().replace("GMT", "UTC")}\n`);
  else {
    ctx.io.stderr(`date: format ${fmt} is not simulated by xenops-sim\n`);
    return 1;
  }
  return 0;
};

const SBIN = new Set([
  "stonith",
  "stonith_admin",
  "crm_mon",
  "cibadmin",
  "crm_verify",
  "brctl",
  "ip",
  "blockdev",
]);

/** A POSIX shell's `command -v NAME`: the program's path, exit 1 (no output) when there is none. */
export function commandBuiltin(programs: () => Record<string, Program>): Program {
  return (ctx) => {
    if (ctx.args[0] !== "-v" || ctx.args.length !== 2) {
      ctx.io.stderr("command: only `command -v NAME` is simulated by xenops-sim\n");
      return 2;
    }
    const name = ctx.args[1] as string;
    if (!Object.hasOwn(programs(), name)) return 1;
    const dir = SBIN.has(name) || name.startsWith("fence_") || name === "drbdadm" ? "/usr/sbin" : "/usr/bin";
    ctx.io.stdout(`${dir}/${name}\n`);
    return 0;
  };
}

/** `blockdev --getsize64 DEV`: a DRBD resource's backing disk (its size plus internal meta data). */
export const blockdev: Program = (ctx) => {
  const [flag, dev] = ctx.args;
  if (flag !== "--getsize64" || !dev) {
    ctx.io.stderr("blockdev: only `blockdev --getsize64 DEVICE` is simulated by xenops-sim\n");
    return 1;
  }
  const r = ctx.sim.resourcesOn(ctx.node.name).find((x) => x.backingDisk === dev || x.device === dev);
  if (!r) {
    ctx.io.stderr(`blockdev: cannot open ${dev}: No such file or directory\n`);
    return 1;
  }
  const bytes = (r.sizeKiB + (r.device === dev ? 0 : 32 * 1024)) * 1024;
  ctx.io.stdout(`${bytes}\n`);
  return 0;
};

/** `crm_verify -L [-V]`: the live CIB is valid (the simulated CIB always has fencing configured). */
export const crmVerify: Program = (ctx) => {
  if (!ctx.args.includes("-L") && !ctx.args.includes("--live-check")) {
    ctx.io.stderr("crm_verify: only `crm_verify -L` is simulated by xenops-sim\n");
    return 64;
  }
  if (!ctx.node.haRunning) {
    ctx.io.stderr("crm_verify: Connection to the CIB manager failed: Transport endpoint is not connected\n");
    return 102;
  }
  return 0;
};
