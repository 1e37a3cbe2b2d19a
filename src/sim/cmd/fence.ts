/**
 * Fencing front ends:
 *  - heartbeat/cluster-glue `stonith` (lib/stonith/main.c): exit status is the plugin's S_* code
 *    (0 OK, 1 BADCONFIG, 2 ACCESS, 3 INVAL, 4 BADHOST, 5 RESETFAIL, 8 OOPS). Run without a tty (as
 *    over SSH) it logs through cl_log to syslog, so it prints nothing on success or failure.
 *  - fence-agents `fence_apc` / `fence_ipmilan` (lib/fencing.py): options as name=value lines on
 *    stdin or as command-line flags; "Status: ON" exits 0, "Status: OFF" exits 2, failures exit 1.
 *  - Pacemaker `stonith_admin --reboot|--off|--unfence NODE`: silent on success.
 */
import type { SimNode } from "../model";
import { pyAsctime } from "../render/format";
import type { CommandContext, Program } from "./context";
import { getoptShort } from "./context";

const S_OK = 0;
const S_BADCONFIG = 1;
const S_ACCESS = 2;
const S_BADHOST = 4;
const S_OOPS = 8;

/** Plugin types `stonith -L` lists (cluster-glue 1.0.x) and their config names. */
const STONITH_TYPES: Record<string, string[]> = {
  apcmaster: ["ipaddr", "login", "password"],
  apcmastersnmp: ["ipaddr", "port", "community"],
  apcsmart: ["ttydev", "hostlist"],
  baytech: ["ipaddr", "login", "password"],
  cyclades: ["ipaddr", "login", "serialport"],
  "external/ipmi": ["hostname", "ipaddr", "userid", "passwd", "interface"],
  "external/ssh": ["hostlist"],
  ibmhmc: ["ipaddr"],
  ipmilan: ["hostname", "ipaddr", "port", "auth", "priv", "login", "password", "reset_method"],
  meatware: ["hostlist"],
  null: ["hostlist"],
  nw_rpc100s: ["ttydev", "hostlist"],
  rcd_serial: ["ttydev", "hostlist", "signal", "pulse"],
  rps10: ["ttydev", "hostlist"],
  ssh: ["hostlist"],
  suicide: [],
  wti_mpc: ["ipaddr", "port", "community", "mib-version"],
  wti_nps: ["ipaddr", "password"],
};

const STONITH_USAGE = (cmd: string): string =>
  "usage:\n" +
  `\t ${cmd} [-svh] -L\n` +
  `\t ${cmd} [-svh] -t stonith-device-type -n\n` +
  `\t ${cmd} [-svh] -t stonith-device-type -m\n` +
  `\t ${cmd} [-svh] -t stonith-device-type {-p stonith-device-parameters | -F stonith-device-parameters-file | -E | name=value...} [-c count] -lS\n` +
  `\t ${cmd} [-svh] -t stonith-device-type {-p stonith-device-parameters | -F stonith-device-parameters-file | -E | name=value...} [-c count] -T {reset|on|off} nodename\n` +
  "\nwhere:\n" +
  "\t-L\tlist supported stonith device types\n" +
  "\t-l\tlist hosts controlled by this stonith device\n" +
  "\t-S\treport stonith device status\n" +
  "\t-s\tsilent\n" +
  "\t-v\tverbose\n" +
  "\t-n\toutput the config names of stonith-device-parameters\n" +
  "\t-m\tdisplay meta-data of the stonith device type\n" +
  "\t-h\tdisplay detailed help message with stonith device description(s)\n";

function hostOf(ctx: CommandContext, name: string): SimNode | undefined {
  return ctx.sim.state.nodes.find((n) => n.name.toLowerCase() === name.toLowerCase());
}

export const stonith: Program = async (ctx) => {
  const { io } = ctx;
  const usage = (): number => {
    io.stderr(STONITH_USAGE("stonith"));
    return 1;
  };
  const parsed = getoptShort("stonith", ctx.args, "c:F:p:t:T:EsnSlLmvhVd");
  if (parsed.error) {
    io.stderr(parsed.error);
    return usage();
  }
  let type: string | null = null;
  let params: string | null = null;
  let file: string | null = null;
  let action: "reset" | "on" | "off" = "reset";
  let status = false;
  let listHosts = false;
  let listTypes = false;
  let listNames = false;
  let count = 1;
  for (const [o, v] of parsed.opts) {
    if (o === "t") type = v as string;
    else if (o === "p") params = v as string;
    else if (o === "F") file = v as string;
    else if (o === "S") status = true;
    else if (o === "l") listHosts = true;
    else if (o === "L") listTypes = true;
    else if (o === "n") listNames = true;
    else if (o === "E" || o === "m" || o === "h") {
      io.stderr(`stonith -${o}: not simulated by xenops-sim\n`);
      return 1;
    } else if (o === "c") {
      count = Number.parseInt(v as string, 10);
      if (!(count >= 1)) {
        io.stderr(`bad count [${v}]\n`);
        return usage();
      }
    } else if (o === "T") {
      if (v === "on" || v === "off" || v === "reset") action = v;
      else {
        io.stderr(`bad reset type [${v}]\n`);
        return usage();
      }
    }
  }
  if (file && params) {
    io.stderr("Please use just one of -F, -p, and -E options\n");
    return usage();
  }
  const rest = [...parsed.rest];
  const nv: [string, string][] = [];
  while (rest.length && (rest[0] as string).includes("=")) {
    if (params || file) {
      io.stderr("Cannot mix name=value and -p, -F, or -E style arguments\n");
      return usage();
    }
    const a = rest.shift() as string;
    nv.push([a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]);
  }
  if (!(rest.length === 1 || (rest.length < 1 && (status || listHosts || listTypes || listNames))))
    return usage();
  if (listTypes) {
    io.stdout(
      Object.keys(STONITH_TYPES)
        .map((t) => `${t}\n`)
        .join(""),
    );
    return 0;
  }
  // "Must specify device type (-t option)" goes to syslog; the usage to stderr.
  if (type === null) return usage();
  const names = STONITH_TYPES[type];
  if (!names) return S_OOPS; // "Invalid device type" is logged, not printed.
  if (!listNames && !params && !file && nv.length === 0 && names.length > 0) {
    io.stderr("Must specify either -p option, -F option, -E option, or name=value style arguments\n");
    return usage();
  }
  if (listNames) {
    io.stdout(`${names.map((n) => `${n}  `).join("")}\n`);
    return 0;
  }

  const sim = ctx.sim;
  const fence = sim.state.fence;
  const config = new Map<string, string>();
  if (params !== null) {
    // stonith1_compat_string_to_NVpair: one blank-separated token per name, the last takes the rest.
    const tokens = params.trim().split(/[ \t\n\r\f]+/);
    names.forEach((n, i) => {
      const value = i === names.length - 1 ? tokens.slice(i).join(" ") : tokens[i];
      if (value !== undefined && value !== "") config.set(n, value);
    });
  } else if (file === "/dev/stdin") {
    // A parameter "file" on stdin (how xenops passes secret parameters): one line, values in -n order.
    const tokens =
      (await io.readStdin())
        .split("\n")[0]
        ?.trim()
        .split(/[ \t\r\f]+/) ?? [];
    names.forEach((n, i) => {
      const value = i === names.length - 1 ? tokens.slice(i).join(" ") : tokens[i];
      if (value !== undefined && value !== "") config.set(n, value);
    });
  } else if (file !== null) {
    // The only parameter file on a simulated node is the plugin's default one, matching the device.
    if (!fence || file !== `/etc/ha.d/${type}.cfg` || fence.type !== type) return S_BADCONFIG;
    config.set("ttydev", fence.ttydev);
    config.set("hostlist", sim.state.nodes.map((n) => n.name).join(" "));
  } else for (const [k, v] of nv) config.set(k, v);
  for (const n of names) {
    if (!config.has(n)) {
      io.stderr(`Invalid config info for ${type} device\n`);
      if (nv.length) io.stderr(`Valid config names are:\n${names.map((x) => `\t${x}\n`).join("")}`);
      return S_BADCONFIG;
    }
  }

  // The configured device must be the one the simulated fence hardware is: same plugin, same port.
  const deviceMatches =
    fence !== null &&
    fence.type === type &&
    (!config.has("ttydev") || config.get("ttydev") === fence.ttydev) &&
    (!config.has("ipaddr") || config.get("ipaddr") === fence.address);
  const reachable = deviceMatches && fence?.reachable === true;
  const hostlist = (config.get("hostlist") ?? config.get("hostname") ?? "")
    .split(/[ ,]+/)
    .filter((h) => h !== "");

  let rc = S_OK;
  for (let i = 0; i < count; i++) {
    rc = S_OK;
    if (status && !reachable) rc = S_ACCESS;
    if (listHosts) {
      if (!reachable) rc = -1;
      else io.stdout(hostlist.map((h) => `${h.toLowerCase()}\n`).join(""));
    }
    const target = rest[0];
    if (target !== undefined) {
      if (!hostlist.some((h) => h.toLowerCase() === target.toLowerCase())) rc = S_BADHOST;
      else if (!reachable) rc = S_ACCESS;
      else {
        const node = hostOf(ctx, target);
        if (!node) rc = S_BADHOST;
        else
          rc = sim.fence(node.name, action, { client: "stonith", origin: ctx.node.name }).ok
            ? S_OK
            : S_ACCESS;
      }
    }
  }
  return rc < 0 ? 255 : rc;
};

// ------------------------------------------------------------------ fence-agents

const EC_GENERIC_ERROR = 1;
const LONGOPTS: Record<string, string> = {
  "-o": "action",
  "--action": "action",
  "-a": "ipaddr",
  "--ip": "ipaddr",
  "-l": "login",
  "--username": "login",
  "-p": "passwd",
  "--password": "passwd",
  "-n": "port",
  "--plug": "port",
  "-u": "ipport",
  "--ipport": "ipport",
};
/** stdin names fence-agents accept for each option (name or longopt, '-' and '_' alike). */
const STDIN_NAMES: Record<string, string> = {
  action: "action",
  option: "action",
  ipaddr: "ipaddr",
  ip: "ipaddr",
  login: "login",
  username: "login",
  passwd: "passwd",
  password: "passwd",
  port: "port",
  plug: "port",
  ipport: "ipport",
  lanplus: "lanplus",
  method: "method",
  delay: "delay",
  verbose: "verbose",
  "power-timeout": "power_timeout",
  power_timeout: "power_timeout",
  "power-wait": "power_wait",
  power_wait: "power_wait",
  cipher: "cipher",
  privlvl: "privlvl",
  ssh: "secure",
  secure: "secure",
};

export const fenceAgent: Program = async (ctx) => {
  const { io, sim } = ctx;
  const agent = ctx.program;
  const logErr = (msg: string): void => io.stderr(`${pyAsctime(sim.now())} ERROR: ${msg}\n\n`);
  const fail = (msg: string): number => {
    logErr(msg);
    return EC_GENERIC_ERROR;
  };
  const failUsage = (msg: string): number => {
    logErr(msg);
    logErr("Please use '-h' for usage");
    return EC_GENERIC_ERROR;
  };

  const opt = new Map<string, string>();
  if (ctx.args.length > 0) {
    for (let i = 0; i < ctx.args.length; i++) {
      const a = ctx.args[i] as string;
      const eq = a.indexOf("=");
      const flag = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
      const name = LONGOPTS[flag];
      if (!name) return failUsage(`Parse error: option ${a} not recognized`);
      const value = a.startsWith("--") && eq > 0 ? a.slice(eq + 1) : ctx.args[++i];
      if (value === undefined) return failUsage(`Parse error: option ${a} requires argument`);
      opt.set(name, value);
    }
  } else {
    const text = await ctx.io.readStdin();
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const eq = line.indexOf("=");
      const key = eq < 0 ? line : line.slice(0, eq);
      const value = (eq < 0 ? "" : line.slice(eq + 1)).replace(/^"(.*)"$/, "$1");
      const name =
        STDIN_NAMES[key] ?? STDIN_NAMES[key.replace(/-/g, "_")] ?? STDIN_NAMES[key.replace(/_/g, "-")];
      if (key === "nodename") continue;
      if (!name) {
        io.stderr(`${pyAsctime(sim.now())} WARNING: Parse error: Ignoring unknown option '${line}'\n\n`);
        continue;
      }
      opt.set(name, value);
    }
  }

  const action = (opt.get("action") ?? "reboot").toLowerCase();
  const valid = ["on", "off", "reboot", "status", "monitor", "list", "list-status"];
  if (!valid.includes(action)) return failUsage(`Failed: Unrecognised action '${action}'`);
  const ipmi = agent === "fence_ipmilan";
  const needsPlug = !ipmi;
  if (!opt.get("ipaddr")) return failUsage("Failed: You have to enter fence address");
  if (!ipmi && !opt.get("login")) return failUsage("Failed: You have to set login name");
  if (!ipmi && !opt.has("passwd")) return failUsage("Failed: You have to enter password or password script");
  if (needsPlug && !opt.get("port") && !["list", "list-status", "monitor"].includes(action))
    return failUsage("Failed: You have to enter plug number or machine identification");

  const fence = sim.state.fence;
  const ipaddr = opt.get("ipaddr") as string;
  // fence_ipmilan talks to one node's BMC; fence_apc to the power switch feeding every node.
  const ipmiTarget = ipmi ? sim.state.nodes.find((n) => n.bmcAddress === ipaddr) : undefined;
  const deviceOk =
    fence !== null &&
    fence.type === agent &&
    fence.reachable &&
    (ipmi ? ipmiTarget !== undefined : ipaddr === fence.address) &&
    (opt.get("login") ?? fence.login) === fence.login &&
    (opt.get("passwd") ?? fence.password) === fence.password;
  if (!deviceOk) return fail("Unable to connect/login to fencing device");

  if (action === "monitor") return 0;
  if (action === "list" || action === "list-status") {
    if (ipmi) io.stdout("N/A\n");
    else
      for (const n of sim.state.nodes) {
        const power = n.up || n.bootAt !== null ? "ON" : "OFF";
        io.stdout(action === "list" ? `${n.outlet},${n.name}\n` : `${n.outlet},${n.name},${power}\n`);
      }
    return 0;
  }
  const plug = opt.get("port");
  const target = ipmi ? ipmiTarget : sim.state.nodes.find((n) => n.outlet === plug || n.name === plug);
  if (!target) return fail("Failed: Unable to obtain correct plug status or plug is not available");
  const powered = (): "on" | "off" => (target.up || target.bootAt !== null ? "on" : "off");
  const status = powered();
  if (action === "status") {
    io.stdout(`Status: ${status.toUpperCase()}\n`);
    return status === "off" ? 2 : 0;
  }
  if (action === status) {
    io.stdout(`Success: Already ${status.toUpperCase()}\n`);
    return 0;
  }
  const who = { client: agent, origin: ctx.node.name };
  const outcome = sim.fence(target.name, action === "reboot" ? "reset" : (action as "on" | "off"), who);
  if (!outcome.ok) return fail("Unable to connect/login to fencing device");
  io.stdout(
    action === "on"
      ? "Success: Powered ON\n"
      : action === "off"
        ? "Success: Powered OFF\n"
        : "Success: Rebooted\n",
  );
  return 0;
};

// ------------------------------------------------------------------ stonith_admin

export const stonithAdmin: Program = (ctx) => {
  const { io, sim } = ctx;
  const a = ctx.args;
  let action: "reset" | "off" | "on" | null = null;
  let target: string | undefined;
  for (let i = 0; i < a.length; i++) {
    const arg = a[i] as string;
    const m = /^(--reboot|--off|--unfence|--fence|-B|-F|-U)(?:=(.*))?$/.exec(arg);
    if (m) {
      const flag = m[1];
      action =
        flag === "--reboot" || flag === "-B" ? "reset" : flag === "--unfence" || flag === "-U" ? "on" : "off";
      target = m[2] ?? a[++i];
      continue;
    }
    if (/^(--timeout|-t|--tolerance|--delay|--tag)$/.test(arg)) {
      i++;
      continue;
    }
    if (/^(--timeout|--tolerance|--delay|--tag)=/.test(arg) || arg === "--verbose" || arg === "-V") continue;
    io.stderr(`stonith_admin: option ${arg} is not simulated by xenops-sim\n`);
    return 64;
  }
  if (action === null || target === undefined) {
    io.stderr("stonith_admin: Please specify a valid command or see --help\n");
    return 64;
  }
  const node = sim.node(target);
  const what = action === "on" ? "unfence" : "fence";
  if (!node) {
    io.stderr(`stonith_admin: Couldn't ${what} ${target}: No such device\n`);
    return 105;
  }
  const outcome = sim.fence(node.name, action, {
    client: `stonith_admin.${ctx.node.pid}`,
    origin: ctx.node.name,
    viaFencer: true,
  });
  if (!outcome.ok) {
    io.stderr(`stonith_admin: Couldn't ${what} ${target}: No route to host\n`);
    return 1;
  }
  return 0;
};
