/**
 * Pacemaker driver: `crm_mon -1 --output-as=xml --exclude=operations`. The operations section
 * (node_history: every resource's last operations on every node) is read by nothing here and is half
 * of a large cluster's document (about 300 of 570 kB at 100 nodes), on every node asked at every pass.
 * A crm_mon that takes --output-as but refuses the exclusion is asked without it; Pacemaker 1.1 (which
 * has no --output-as) is asked `crm_mon -1 --as-xml`. The same parser reads all three.
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

export const CRM_MON_XML = ["crm_mon", "-1", "--output-as=xml", "--exclude=operations"] as const;
export const CRM_MON_XML_ALL = ["crm_mon", "-1", "--output-as=xml"] as const;
export const CRM_MON_AS_XML = ["crm_mon", "-1", "--as-xml"] as const;
/** Tried in turn while crm_mon refuses the options (a usage error); anything else ends the search. */
const CRM_MON_FORMS = [CRM_MON_XML, CRM_MON_XML_ALL, CRM_MON_AS_XML] as const;

const UNKNOWN_OPTION = /unrecognized option|invalid option|unknown option|illegal option/i;
const NOT_AVAILABLE = /cluster is not available on this node/i;
/** 2.0.3+ reports a bad option value in its XML document: `<status code="64" message="Incorrect usage">`. */
const USAGE_STATUS = /<status code="64"/;
const NO_OUTPUT_AS = /(?:unrecognized|invalid|unknown|illegal) option\W+--output-as/i;

export const pacemakerDriver: HaDriver = {
  id: "pacemaker",
  label: "Pacemaker",
  // The fencer records every fence in its history, which crm_mon shows (HaView.fenceHistory).
  fenceHistory: { evidence: "Pacemaker's fencer records the fence" },
  async view(runner: CommandRunner, options: DriverCallOptions = {}): Promise<HaView> {
    const runOpts = { timeoutMs: options.timeoutMs, signal: options.signal };
    let result: ExecResult | ExecError;
    let form = 0;
    for (;;) {
      try {
        result = await runner.run(CRM_MON_FORMS[form] as readonly string[], runOpts);
      } catch (err) {
        if (!(err instanceof ExecError) || err.exitCode === null) throw err;
        result = err;
      }
      if (!(result instanceof ExecError) || form === CRM_MON_FORMS.length - 1) break;
      const said = `${result.stderr}\n${result.stdout}`;
      if (!UNKNOWN_OPTION.test(said) && !USAGE_STATUS.test(said)) break;
      // Before 2.0.3 there is no --output-as at all: straight to --as-xml.
      form = NO_OUTPUT_AS.test(said) ? CRM_MON_FORMS.length - 1 : form + 1;
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
