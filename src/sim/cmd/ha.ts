/**
 * heartbeat's `cl_status` (heartbeat 2.x, lib/.../cl_status.c) and Pacemaker's `crm_mon`.
 * cl_status exit codes: 0 OK, 1 "normal" failure (node dead, heartbeat stopped), 11 parameter error.
 * Its errors go through cl_log to stderr: `cl_status[PID]: 2009/01/12_10:00:00 ERROR: ...`.
 */
import { haTimestamp } from "../render/format";
import { renderCrmMonUsageError, renderCrmMonXml } from "../render/pacemaker";
import type { CommandContext, Program } from "./context";
import { getoptShort } from "./context";

const CL_STATUS_HELP =
  "Usage: cl_status <sub-command> [<options>] [<parameters>]\n" +
  "\n" +
  "Sub-commands:\n" +
  "clientstatus <node-name> <client-id> [<timeout>]\n" +
  "\tShow the status of heartbeat clients.\n" +
  "hblinkstatus <node-name> <link-name>\n" +
  "\tShow the status of a heartbeat link\n" +
  "hbstatus\n" +
  "\tIndicate if heartbeat is running on the local system.\n" +
  "listhblinks <node-name>\n" +
  "\tList the network interfaces used as hearbeat links.\n" +
  "listnodes [<option>]\n" +
  "\tList the nodes in the cluster.\n" +
  "\tOptions:\n" +
  "\t\t-p\tlist only 'ping' type nodes\n" +
  "\t\t-n\tlist only 'normal' type nodes\n" +
  "nodestatus <node-name>\n" +
  "\tList the node status.\n" +
  "nodeweight <node-name>\n" +
  "\tList the node weight.\n" +
  "nodesite <node-name>\n" +
  "\tList the node site.\n" +
  "nodetype <node-name>\n" +
  "\tList the nodes of a given type.\n" +
  "rscstatus\n" +
  "\tShow the status of cluster resources.\n" +
  "hbparameter -p <parameter-name>\n" +
  "\tRetrieve the value of a cluster parameter.\n" +
  "\tAs for the valid parameter names, please refer to the man page.\n";

const OPTSTR: Record<string, string> = {
  hbstatus: "m",
  listnodes: "mpn",
  nodestatus: "m",
  nodetype: "m",
  listhblinks: "m",
  hblinkstatus: "m",
  clientstatus: "m",
  rscstatus: "m",
  hbparameter: "mp:",
};

/** Heartbeat links of the reference lab: a crossover Ethernet and a null-modem cable. */
const HB_LINKS = ["eth1", "/dev/ttyS1"];

export const clStatus: Program = (ctx) => {
  const { sim, node, io } = ctx;
  const log = (msg: string): void =>
    io.stderr(`cl_status[${node.pid}]: ${haTimestamp(sim.now())} ERROR: ${msg}\n`);
  const [sub, ...args] = ctx.args;
  if (sub === undefined || (sub === "-h" && args.length === 0)) {
    io.stdout(CL_STATUS_HELP);
    return 0;
  }
  const optstr = OPTSTR[sub];
  if (optstr === undefined) {
    log(`${sub}: invalid sub-command.`);
    return 11;
  }
  const parsed = getoptShort("cl_status", args, optstr);
  if (parsed.error) {
    io.stderr(parsed.error);
    log("Error: getopt returned character code ?.");
    return 11;
  }
  const human = parsed.opts.some(([o]) => o === "m");
  const params = parsed.rest;
  if (sub === "hbstatus") {
    io.stdout(
      node.haRunning ? "Heartbeat is running on this machine.\n" : "Heartbeat is stopped on this machine.\n",
    );
    return node.haRunning ? 0 : 1;
  }
  if (!node.haRunning) {
    log("Cannot signon with heartbeat");
    log("REASON: hb_api_signon: Can't initiate connection  to heartbeat");
    return 1;
  }
  const known = (name: string | undefined): boolean => name !== undefined && sim.node(name) !== undefined;
  switch (sub) {
    case "listnodes": {
      const onlyPing = parsed.opts.some(([o]) => o === "p") && !parsed.opts.some(([o]) => o === "n");
      if (human) io.stdout("The nodes are as follow:\n");
      // No ping nodes are configured: -p lists nothing.
      if (!onlyPing) for (const n of sim.state.nodes) io.stdout(`${n.name}\n`);
      return 0;
    }
    case "nodestatus": {
      const target = params[0];
      if (target === undefined) {
        io.stderr("Not enough parameters.\n");
        return 11;
      }
      if (!known(target)) {
        io.stderr("Error. May be due to incorrect node name\n");
        return 11;
      }
      const status = sim.memberStatus(node.name, target).alive ? "active" : "dead";
      io.stdout(human ? `The cluster node ${target} is ${status}\n` : `${status}\n`);
      return status === "active" ? 0 : 1;
    }
    case "nodetype": {
      const target = params[0];
      if (target === undefined) {
        io.stderr("No enough parameter.\n");
        return 11;
      }
      if (!known(target)) {
        io.stderr("Error. May be due to incorrect node name\n");
        return 11;
      }
      io.stdout(human ? `The node ${target}'s type: normal\n` : "normal\n");
      return 0;
    }
    case "listhblinks": {
      const target = params[0];
      if (target === undefined) {
        io.stderr("No enough parameter.\n");
        return 11;
      }
      if (!known(target)) {
        log("Cannot start heartbeat link interface walk.");
        log("REASON: Unknown node name");
        return 13;
      }
      if (human) io.stdout("\tthis node have the following heartbeat links:\n");
      for (const l of HB_LINKS) io.stdout(`\t${l}\n`);
      return 0;
    }
    case "hblinkstatus": {
      const [target, link] = params;
      if (target === undefined || link === undefined) {
        io.stderr("No enough parameter.\n");
        return 11;
      }
      if (!known(target) || !HB_LINKS.includes(link)) {
        log("Cannot get heartbeat link status");
        log("REASON: Unknown interface or node");
        return 13;
      }
      const status = sim.memberStatus(node.name, target).alive ? "up" : "dead";
      io.stdout(human ? `The node ${target}'s heartbeat link ${link} is ${status}\n` : `${status}\n`);
      return status === "up" ? 0 : 1;
    }
    case "clientstatus": {
      const [target, client] = params;
      if (target === undefined || client === undefined) {
        io.stderr("No enough parameter.\n");
        return 11;
      }
      if (!known(target)) {
        log(`Cannot get heartbeat client ${client}'s status`);
        log("REASON: Unknown node name");
        return 13;
      }
      const online = sim.memberStatus(node.name, target).alive && client === "ipfail";
      io.stdout(online ? "online\n" : "offline\n");
      return online ? 0 : 1;
    }
    case "rscstatus": {
      let status: string;
      if (sim.takeoverInProgress(node.name)) status = "transition";
      else {
        const foreign = sim.groupsOwnedBy(node.name).some((g) => g.home !== node.name);
        status = node.holdsLocal ? (foreign ? "all" : "local") : foreign ? "foreign" : "none";
      }
      io.stdout(human ? `This node is holding ${status} resources.\n` : `${status}\n`);
      return 0;
    }
    case "hbparameter": {
      const name = parsed.opts.find(([o]) => o === "p")?.[1];
      if (typeof name !== "string") {
        log("parameter name required");
        return 11;
      }
      const ha = sim.state.ha;
      const values: Record<string, string> = {
        deadtime: String(Math.round(ha.deadtimeMs / 1000)),
        keepalive: "2",
        warntime: String(Math.max(1, Math.round(ha.deadtimeMs / 3000))),
        initdead: "120",
        auto_failback: ha.autoFailback ? "on" : "off",
        udpport: "694",
        logfacility: "local0",
        crm: "off",
      };
      const value = values[name];
      if (value === undefined) {
        log(`Cannot get parameter ${name}'s value`);
        log("REASON: no such parameter");
        return 1;
      }
      io.stdout(human ? `Heartbeat parameter ${name}'s value: ${value}\n` : `${value}\n`);
      return 0;
    }
  }
  return 11;
};

/** Parses crm_mon options that matter for one-shot XML output. */
function crmMonOptions(ctx: CommandContext): { oneShot: boolean; xml: boolean; error: string | null } {
  let oneShot = false;
  let xml = false;
  const a = ctx.args;
  for (let i = 0; i < a.length; i++) {
    const arg = a[i] as string;
    if (arg === "-1" || arg === "--one-shot") oneShot = true;
    else if (arg === "--output-as=xml" || arg === "--as-xml" || arg === "-X") xml = true;
    else if (arg === "--output-as") {
      xml = a[i + 1] === "xml";
      i++;
    } else if (/^--output-as=/.test(arg)) xml = false;
    else if (
      [
        "-r",
        "--inactive",
        "-f",
        "--failcounts",
        "-A",
        "--show-node-attributes",
        "-n",
        "--group-by-node",
        "-o",
        "--operations",
      ].includes(arg)
    )
      continue;
    else if (/^(-m[0-3]?|--fence-history(=[0-3])?|--include=.*|--exclude=.*)$/.test(arg)) continue;
    else return { oneShot, xml, error: `crm_mon: option ${arg} is not simulated by xenops-sim\n` };
  }
  return { oneShot, xml, error: null };
}

export const crmMon: Program = (ctx) => {
  const o = crmMonOptions(ctx);
  if (o.error) {
    ctx.io.stderr(o.error);
    return 64;
  }
  if (!o.oneShot || !o.xml) {
    ctx.io.stderr("crm_mon: only `crm_mon -1 --output-as=xml` is simulated by xenops-sim\n");
    return 64;
  }
  const request = ["crm_mon", ...ctx.args].join(" ");
  const sections = crmMonSections(ctx.args);
  if (typeof sections === "string") {
    // As crm_mon does: the usage error is itself an XML document, with status 64.
    ctx.io.stdout(renderCrmMonUsageError(request, sections));
    return 64;
  }
  ctx.io.stdout(
    renderCrmMonXml(ctx.sim, ctx.node, request, {
      fenceHistory: sections.has("fencing") ? fenceHistoryLevel(ctx.args) : 0,
      operations: sections.has("operations"),
    }),
  );
  return 0;
};

/** --fence-history level (default 1: crm_mon still reports every event in XML output). */
function fenceHistoryLevel(args: string[]): number {
  let level = 1;
  for (const a of args) {
    const m = /^(?:-m|--fence-history=?)([0-3]?)$/.exec(a);
    if (m) level = m[1] === "" || m[1] === undefined ? 2 : Number(m[1]);
  }
  return level;
}

/** crm_mon's section names (crm_mon.c of the simulated 2.1); XML output starts with all of them. */
const CRM_MON_SECTIONS = [
  "attributes",
  "bans",
  "counts",
  "dc",
  "failcounts",
  "failures",
  "fencing",
  "fencing-failed",
  "fencing-pending",
  "fencing-succeeded",
  "maint-mode",
  "nodes",
  "operations",
  "options",
  "resources",
  "stack",
  "summary",
  "tickets",
  "times",
] as const;

/**
 * The sections left after --include/--exclude, applied left to right to XML's default (all), as crm_mon
 * does; "all" and "none" work both ways. The simulator renders what `operations` (node_history) and
 * `fencing` (fence_history) select and always prints the rest. An unknown name gives crm_mon's message.
 */
function crmMonSections(args: readonly string[]): Set<string> | string {
  const shown = new Set<string>(CRM_MON_SECTIONS);
  for (const arg of args) {
    const m = /^--(include|exclude)=(.*)$/.exec(arg);
    if (!m) continue;
    const include = m[1] === "include";
    for (const name of (m[2] ?? "").split(",").filter(Boolean)) {
      const expanded =
        name === "all"
          ? CRM_MON_SECTIONS
          : name === "none"
            ? []
            : name === "fencing"
              ? ["fencing", "fencing-failed", "fencing-pending", "fencing-succeeded"]
              : (CRM_MON_SECTIONS as readonly string[]).includes(name)
                ? [name]
                : null;
      if (expanded === null) {
        const valid = ["all", ...CRM_MON_SECTIONS, "none"].sort().join(", ");
        return `crm_mon: --${include ? "include" : "exclude"} options: ${valid}`;
      }
      if (name === "none") {
        if (!include) continue;
        shown.clear();
      }
      for (const s of expanded) include ? shown.add(s) : shown.delete(s);
    }
  }
  return shown;
}
