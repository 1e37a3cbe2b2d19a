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
 */

import { formatKiB, formatRate } from "../jobs-ui/format";
import type { SimulatedCluster } from "../sim";

const HELP =
  "lab directives: !sim startResync RESOURCE [SOURCE] [MiB] | !sim splitBrain RESOURCE | !sim disconnect NODE [rebootAfterSeconds] | !sim nodeUp NODE | !sim heal | !sim rate RESOURCE MiB/s | !sleep SECONDS";

function number(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${what} must be a positive number, got "${text}"`);
  return n;
}

export function labDirectives(sim: SimulatedCluster): (text: string) => Promise<string> {
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
      default:
        throw new Error(`unknown lab directive "${verb}"; ${HELP}`);
    }
  };
}
