/**
 * Lab-only console directives that drive the simulator, so a script can show what xenops does when the
 * cluster changes under it. They are handled by the console session before the command core, so they do
 * not exist in Slack, and only the lab passes them to the console.
 *
 *   !sim startResync RESOURCE [SOURCE] [MiB]   resync MiB (default 200) from SOURCE (default: the Primary)
 *   !sim splitBrain RESOURCE                   both sides StandAlone with diverged data
 *   !sim disconnect NODE [rebootAfterSeconds]  power loss of NODE (its peer sees WFConnection)
 *   !sim nodeUp NODE
 *   !sim heal                                  every fault undone, split brains resolved
 *   !sim rate RESOURCE MiB/s                   the resource's resync rate (set it before startResync)
 *   !sim autoTakeover on|off                   heartbeat STONITHs a dead node and takes over its groups
 *   !sim autoFailback on|off                   heartbeat's auto_failback (live migration home)
 *   !sim fenceDevice on|off                    the STONITH/fence device answers or not (also up|down)
 *   !sim partition NODE                        NODE is cut off from xenops and its peers; it keeps
 *                                              running its guests (DRBD Primary there); heal ends it
 *   !sim fenceIneffective NODE [off]           the fence device reports success for NODE but powers
 *                                              the wrong outlet (NODE stays on); off: works again
 *   !sim failMigration GUEST [arrived]         the next migration of GUEST fails midway; with
 *                                              `arrived` the guest arrives but the command fails
 *   !sim mem GUEST MiB                         the running domain balloons to MiB (like xm mem-set)
 *   !sim truth                                 the ground truth: where each guest really runs, DRBD
 *                                              roles and disks per node, power, fences per target
 *   !sim tamper NODE COMMAND MODE              every run of COMMAND on NODE answers unreadably until
 *                                              off: MODE garbage | empty | headonly | truncate N | fail
 *   !sim tamper NODE COMMAND off               ends it (COMMAND quoted or not: "xm list", cat /proc/drbd)
 *   !sim autostart NODE GUEST on|off           links (or removes) GUEST's config in NODE's /etc/xen/auto
 *   !sim xendomainsRestore NODE on|off         NODE's XENDOMAINS_RESTORE (and XENDOMAINS_SAVE)
 *   !sim config NODE PATH replace "OLD" "NEW"  edits one of NODE's configuration files (what the
 *   !sim config NODE PATH set "TEXT"           doctor reads); set/append take \n for newlines,
 *   !sim config NODE PATH append "LINE"        mode sets `stat -c %a`, delete removes the file,
 *   !sim config NODE PATH mode 644|delete|reset   reset makes it follow the simulation again
 *   !sim clockSkew NODE SECONDS                NODE's clock (`date`) runs SECONDS ahead (negative: behind)
 */

import { formatKiB, formatRate } from "../message/text";
import { formatTruth, parseTamperMode, type SimulatedCluster } from "../sim";
import { defaultConfigFile, editConfigFile, editedConfigFile } from "../sim/config-files";
import { simFile } from "../sim/startup";
import { splitCommandLine } from "../ssh/quote";
import type { RealHaLab } from "./real-ha/common";

const HELP =
  "lab directives: !sim startResync RESOURCE [SOURCE] [MiB] | !sim splitBrain RESOURCE | !sim disconnect NODE [rebootAfterSeconds] | !sim nodeUp NODE | !sim heal | !sim rate RESOURCE MiB/s | !sim failMigration GUEST [arrived] | !sim mem GUEST MiB | !sim truth | !sim autoTakeover on|off | !sim autoFailback on|off | !sim fenceDevice on|off | !sim partition NODE | !sim fenceIneffective NODE [off] | !sim tamper NODE COMMAND garbage|empty|headonly|truncate N|fail|off | !sim autostart NODE GUEST on|off | !sim xendomainsRestore NODE on|off | !sim config NODE PATH replace OLD NEW|set TEXT|append LINE|mode OCTAL|delete|reset | !sim clockSkew NODE SECONDS | !sleep SECONDS";

/** `NODE COMMAND... MODE`: the mode is the last word (`truncate N`: the last two); the command between. */
function tamperArgs(rest: string): { node: string; command: string[]; mode: string } {
  const words = splitCommandLine(rest);
  const node = words.shift();
  const usage = "usage: !sim tamper NODE COMMAND garbage|empty|headonly|truncate N|fail|off";
  if (node === undefined || words.length < 2) throw new Error(usage);
  const truncate = words.length >= 3 && words.at(-2) === "truncate";
  const mode = truncate ? words.splice(-2).join(" ") : (words.pop() as string);
  // A quoted command arrives as one word ("xm list"): split it into its argv.
  const command = words.flatMap((w) => w.split(/\s+/)).filter(Boolean);
  if (command.length === 0) throw new Error(usage);
  return { node, command, mode };
}

function number(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${what} must be a positive number, got "${text}"`);
  return n;
}

function onOff(text: string | undefined, what: string): boolean {
  if (text === "on" || text === "off") return text === "on";
  throw new Error(`usage: !sim ${what} on|off`);
}

/**
 * REALHA: the lab runs a real HA stack (`--ha real`). Then `!sim partition` also cuts the node's
 * heartbeat/corosync link (the real-HA lab follows the simulator), and `!sim autoTakeover|autoFailback`
 * can only confirm what the real stack does by itself: the simulator must not act in its place.
 */
export function labDirectives(sim: SimulatedCluster, realHa?: RealHaLab): (text: string) => Promise<string> {
  const resource = (name: string | undefined) => {
    const r = sim.cluster.state.drbd.find((x) => x.name === name);
    if (!r)
      throw new Error(
        `unknown DRBD resource "${name ?? ""}"; resources: ${sim.cluster.state.drbd.map((x) => x.name).join(", ")}`,
      );
    return r;
  };
  return async (text) => {
    const [head, verb, ...args] = text.trim().split(/\s+/);
    if (head !== "!sim" || verb === undefined || verb === "help") {
      if (head === "!sim") return HELP;
      throw new Error(`unknown directive "${head ?? ""}"; ${HELP}`);
    }
    switch (verb) {
      case "startResync": {
        const r = resource(args[0]);
        const source =
          args[1] ?? r.nodes.find((n) => r.local[n]?.role === "Primary") ?? (r.nodes[0] as string);
        const mib = number(args[2], "MiB") ?? 200;
        sim.faults.startResync(r.name, source, mib * 1024);
        const peer = r.nodes.find((n) => n !== source) ?? "?";
        return `lab: resync of ${r.name} from ${source} to ${peer} started: ${formatKiB(mib * 1024)} at ${formatRate(r.syncRateKiBps)}`;
      }
      case "splitBrain": {
        const r = resource(args[0]);
        sim.faults.splitBrain(r.name);
        return `lab: split brain on ${r.name}: both sides StandAlone`;
      }
      case "disconnect":
      case "nodeDown": {
        const node = args[0] ?? "";
        const after = number(args[1], "rebootAfterSeconds");
        sim.faults.nodeDown(node, after ? { rebootAfterMs: after * 1000 } : {});
        return `lab: ${node} is down${after ? ` (boots again in ${after}s)` : ""}`;
      }
      case "nodeUp": {
        const node = args[0] ?? "";
        sim.faults.nodeUp(node);
        return `lab: ${node} powered on`;
      }
      case "truth":
        return formatTruth(sim.cluster.truth());
      case "failMigration": {
        const guest = args[0];
        if (!guest || (args[1] !== undefined && args[1] !== "arrived"))
          throw new Error("usage: !sim failMigration GUEST [arrived]");
        const arrived = args[1] === "arrived";
        sim.faults.failMigration(guest, 0.5, { arrived });
        return arrived
          ? `lab: the next migration of ${guest} arrives, but its migrate command fails`
          : `lab: the next migration of ${guest} breaks off midway`;
      }
      case "mem": {
        const guest = args[0] ?? "";
        const mib = number(args[1], "MiB");
        if (mib === undefined || !Number.isInteger(mib)) throw new Error("usage: !sim mem GUEST MiB");
        const node = sim.cluster.setDomainMemory(guest, mib);
        return `lab: ${guest} on ${node} now uses ${mib} MiB`;
      }
      case "autoTakeover":
      case "autoFailback": {
        const on = onOff(args[0], verb);
        if (realHa) {
          const stack = realHa.stack === "pacemaker" ? "Pacemaker" : "heartbeat";
          if (realHa.policy[verb] !== on)
            throw new Error(
              `!sim ${verb} ${args[0]} has no equivalent on the real ${stack}: ${realHa.policy.why}. Use the examples/real-ha-*.txt scripts on the real stack`,
            );
          return `lab: the real ${stack} already ${verb === "autoTakeover" ? "fences a dead node and starts its guests on the survivor" : on ? "gives a returning node its guests back" : "leaves the guests where they run when their node returns"}`;
        }
        sim.cluster.setHaPolicy({ [verb]: on });
        return verb === "autoTakeover"
          ? `lab: automatic takeover ${on ? "on: heartbeat fences a dead node, then starts its guests" : "off: a dead node's guests stay down until someone acts"}`
          : `lab: auto_failback ${on ? "on: guests go home when their node returns" : "off"}`;
      }
      case "fenceDevice": {
        const on = args[0] === "up" ? true : args[0] === "down" ? false : onOff(args[0], verb);
        sim.faults.fenceDevice(on);
        return `lab: the fence device ${on ? "answers" : "does not answer"}`;
      }
      case "autostart": {
        const [node = "", guest = "", onOff] = args;
        if (onOff !== "on" && onOff !== "off") throw new Error("usage: !sim autostart NODE GUEST on|off");
        sim.faults.autostart(node, guest, onOff === "on");
        return onOff === "on"
          ? `lab: ${guest} is linked in ${node}'s /etc/xen/auto (xendomains starts it there at boot)`
          : `lab: ${guest} is no longer in ${node}'s /etc/xen/auto`;
      }
      case "xendomainsRestore": {
        const [node = "", onOff] = args;
        if (onOff !== "on" && onOff !== "off") throw new Error("usage: !sim xendomainsRestore NODE on|off");
        sim.faults.xendomainsRestore(node, onOff === "on");
        return onOff === "on"
          ? `lab: ${node}: XENDOMAINS_RESTORE=true, XENDOMAINS_SAVE=/var/lib/xen/save`
          : `lab: ${node}: XENDOMAINS_RESTORE=false, XENDOMAINS_SAVE=""`;
      }
      case "partition": {
        const node = args[0] ?? "";
        if (!node || args.length > 1) throw new Error("usage: !sim partition NODE");
        sim.faults.partition(node);
        return `lab: ${node} is partitioned: xenops and its peers cannot reach it; it keeps running its guests${realHa ? ` (its ${realHa.stack === "pacemaker" ? "corosync" : "heartbeat"} link is down too)` : ""}`;
      }
      case "fenceIneffective": {
        const node = args[0] ?? "";
        if (!node || (args[1] !== undefined && args[1] !== "off"))
          throw new Error("usage: !sim fenceIneffective NODE [off]");
        const on = args[1] !== "off";
        sim.faults.fenceIneffective(node, on);
        return on
          ? `lab: fencing ${node} reports success but powers the wrong outlet (${node} stays on)`
          : `lab: fencing ${node} works again`;
      }
      case "config": {
        const usage =
          "usage: !sim config NODE PATH replace OLD NEW | set TEXT | append LINE | mode OCTAL | delete | reset";
        const [node, path, op, ...rest] = splitCommandLine(text.trim().replace(/^!sim\s+config\s*/, ""));
        if (!node || !path || !op) throw new Error(usage);
        const unescapeArg = (t: string) => t.replace(/\\n/g, "\n").replace(/\\t/g, "\t");
        const c = sim.cluster;
        const content = simFile(c, node, path);
        const mode = editedConfigFile(c, node, path)?.mode ?? defaultConfigFile(c, node, path)?.mode ?? "644";
        const current = content === null ? null : { content, mode };
        if (op === "replace" && rest.length === 2)
          return `lab: ${editConfigFile(c, node, path, current, { op, from: unescapeArg(rest[0] as string), to: unescapeArg(rest[1] as string) })}`;
        if (op === "set" && rest.length === 1)
          return `lab: ${editConfigFile(c, node, path, current, { op, content: `${unescapeArg(rest[0] as string).replace(/\n?$/, "\n")}` })}`;
        if (op === "append" && rest.length === 1)
          return `lab: ${editConfigFile(c, node, path, current, { op, text: unescapeArg(rest[0] as string) })}`;
        if (op === "mode" && rest.length === 1)
          return `lab: ${editConfigFile(c, node, path, current, { op, mode: rest[0] as string })}`;
        if ((op === "delete" || op === "reset") && rest.length === 0)
          return `lab: ${editConfigFile(c, node, path, current, { op })}`;
        throw new Error(usage);
      }
      case "clockSkew": {
        const node = sim.cluster.node(args[0] ?? "");
        const secs = Number(args[1]);
        if (!node || args.length !== 2 || !Number.isFinite(secs))
          throw new Error("usage: !sim clockSkew NODE SECONDS");
        node.clockSkewMs = secs * 1000;
        return `lab: ${node.name}'s clock is ${Math.abs(secs)} s ${secs >= 0 ? "ahead" : "behind"}`;
      }
      case "heal":
        sim.faults.heal();
        return "lab: every fault undone";
      case "rate": {
        const r = resource(args[0]);
        const mibps = number(args[1], "MiB/s");
        if (mibps === undefined) throw new Error("say the rate in MiB/s");
        r.syncRateKiBps = mibps * 1024;
        return `lab: ${r.name} resyncs at ${formatRate(r.syncRateKiBps)}`;
      }
      case "tamper": {
        const { node, command, mode } = tamperArgs(text.trim().replace(/^!sim\s+tamper\s*/, ""));
        const shown = command.join(" ");
        if (mode === "off") {
          const had = sim.faults.untamper(node, command);
          return had
            ? `lab: \`${shown}\` on ${node} answers normally again`
            : `lab: \`${shown}\` on ${node} was not tampered with`;
        }
        sim.faults.tamper(node, command, parseTamperMode(mode));
        return `lab: every \`${shown}\` on ${node} now answers ${mode} (until \`!sim tamper ${node} "${shown}" off\`)`;
      }
      default:
        throw new Error(`unknown lab directive "${verb}"; ${HELP}`);
    }
  };
}
