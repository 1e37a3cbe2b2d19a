/**
 * Pacemaker driver: `crm_mon -1 --output-as=xml`; Pacemaker 1.1 (which has no --output-as) is asked
 * `crm_mon -1 --as-xml` instead, whose output the same parser reads.
 *
 * crm_mon on a node where the cluster does not run exits non-zero, with `<status code="102"
 * message="Not connected">` (2.0.3+) or "Error: cluster is not available on this node" (older):
 * that is a valid answer (running: false). Any other failure is an error: the state is unknown.
 */

import type { CommandRunner, ExecResult } from "../../command-runner";
import { ExecError, parseOutput, XenopsError } from "../../errors";
import type { HaView } from "../../model";
import type { DriverCallOptions, HaDriver } from "../types";
import { CRM_EX_DISCONNECT, type CrmMon, crmMonToHaView, parseCrmMonXml } from "./crm-mon";

export const CRM_MON_XML = ["crm_mon", "-1", "--output-as=xml"] as const;
export const CRM_MON_AS_XML = ["crm_mon", "-1", "--as-xml"] as const;

const UNKNOWN_OPTION = /unrecognized option|invalid option|unknown option|illegal option/i;
const NOT_AVAILABLE = /cluster is not available on this node/i;

export const pacemakerDriver: HaDriver = {
  id: "pacemaker",
  label: "Pacemaker",
  // The fencer records every fence in its history, which crm_mon shows (HaView.fenceHistory).
  fenceHistory: { evidence: "Pacemaker's fencer records the fence" },
  async view(runner: CommandRunner, options: DriverCallOptions = {}): Promise<HaView> {
    const runOpts = { timeoutMs: options.timeoutMs, signal: options.signal };
    let result: ExecResult | ExecError;
    try {
      result = await runner.run(CRM_MON_XML, runOpts);
    } catch (err) {
      if (!(err instanceof ExecError) || err.exitCode === null) throw err;
      result = err;
    }
    if (result instanceof ExecError && UNKNOWN_OPTION.test(`${result.stderr}\n${result.stdout}`)) {
      try {
        result = await runner.run(CRM_MON_AS_XML, runOpts);
      } catch (err) {
        if (!(err instanceof ExecError) || err.exitCode === null) throw err;
        result = err;
      }
    }
    const down: HaView = {
      stack: "pacemaker",
      observer: runner.node,
      running: false,
      dc: null,
      nodes: [],
      resources: [],
      localResources: null,
      fenceHistory: [],
    };
    if (result instanceof ExecError) {
      // 2.0.3+ still prints the XML document, with the error in <status>.
      const crm = result.stdout.includes("<pacemaker-result") ? tryParse(result.stdout) : null;
      if (crm?.status?.code === CRM_EX_DISCONNECT) return down;
      if (NOT_AVAILABLE.test(`${result.stderr}\n${result.stdout}`)) return down;
      throw result;
    }
    const crm = parseOutput(result.stdout, parseCrmMonXml);
    const view = crmMonToHaView(crm, runner.node);
    if (!view) {
      throw new XenopsError(
        "state_unknown",
        `crm_mon reported status ${crm.status?.code} (${crm.status?.message ?? "no message"})`,
      );
    }
    return view;
  },
};

function tryParse(xml: string): CrmMon | null {
  try {
    return parseCrmMonXml(xml);
  } catch {
    // An unreadable error document: the caller falls back to the ExecError itself.
    return null;
  }
}
