/**
 * heartbeat driver (haresources clusters): cl_status hbstatus, listnodes -n, nodestatus per node (in
 * parallel) and rscstatus. `listnodes -n` leaves out ping nodes (routers heartbeat pings for
 * connectivity, not cluster members). cl_status lists no resources: resources stays empty and
 * rscstatus says which resource groups this node holds.
 */

import type { CommandRunner } from "../../command-runner";
import { ExecError, parseOutput } from "../../errors";
import type { HaView } from "../../model";
import type { DriverCallOptions, HaDriver } from "../types";
import {
  heartbeatView,
  parseHbStatus,
  parseListNodes,
  parseNodeStatus,
  parseRscStatus,
  type RscStatus,
} from "./cl-status";
import { readAutoFailback, readHaLogTail } from "./ha-log";

/** heartbeat keeps no fence history (its view has none); its takeovers and fences are in ha-log. */
export const heartbeatDriver: HaDriver = {
  id: "heartbeat",
  label: "heartbeat",
  log: { tail: (runner, options) => readHaLogTail(runner, options), autoFailback: readAutoFailback },
  async view(runner: CommandRunner, options: DriverCallOptions = {}): Promise<HaView> {
    const runOpts = { timeoutMs: options.timeoutMs, signal: options.signal };
    // Exit 1 with "stopped" is a valid answer: heartbeat does not run here.
    const hb = await runner.run(["cl_status", "hbstatus"], { ...runOpts, okExitCodes: [0, 1] });
    const hbstatus = parseOutput(hb.stdout, (text) => parseHbStatus(text, hb.exitCode));
    if (!hbstatus.running) {
      return heartbeatView(runner.node, { hbstatus, nodes: [], nodeStatus: new Map(), rscstatus: null });
    }
    const listed = await runner.run(["cl_status", "listnodes", "-n"], runOpts);
    const nodes = parseOutput(listed.stdout, parseListNodes);
    const [statuses, rscstatus] = await Promise.all([
      Promise.all(nodes.map((node) => nodeStatus(runner, node, runOpts))),
      resourceStatus(runner, runOpts),
    ]);
    return heartbeatView(runner.node, {
      hbstatus,
      nodes,
      nodeStatus: new Map(nodes.map((n, i) => [n, statuses[i] ?? null])),
      rscstatus,
    });
  },
};

type RunOpts = { timeoutMs: number | undefined; signal: AbortSignal | undefined };

/** Exit 1 means "not active" (dead) and still prints the status word. */
async function nodeStatus(runner: CommandRunner, node: string, runOpts: RunOpts): Promise<string | null> {
  try {
    const res = await runner.run(["cl_status", "nodestatus", node], { ...runOpts, okExitCodes: [0, 1] });
    return parseOutput(res.stdout, parseNodeStatus);
  } catch (err) {
    // cl_status refused the question (e.g. exit 11 "incorrect node name"): this node's status is
    // unknown, which must not hide the other nodes. Transport failures still fail the view.
    if (err instanceof ExecError && err.code === "exec_failed" && err.exitCode !== null) return null;
    throw err;
  }
}

/** Exit 1 with no output: Pacemaker manages the resources (or the node is down): no answer. */
async function resourceStatus(runner: CommandRunner, runOpts: RunOpts): Promise<RscStatus | null> {
  const res = await runner.run(["cl_status", "rscstatus"], { ...runOpts, okExitCodes: [0, 1] });
  if (res.exitCode === 1 && res.stdout.trim() === "") return null;
  return parseOutput(res.stdout, parseRscStatus);
}
