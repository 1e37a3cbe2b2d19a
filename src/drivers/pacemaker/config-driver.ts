/**
 * Pacemaker's resource configuration: `cibadmin --query --scope configuration`. Where cibadmin is not
 * installed (exit 127), crm_mon's resource list still names the Xen primitives, without their
 * parameters, meta attributes or constraints.
 */

import type { CommandRunner } from "../../command-runner";
import { ExecError } from "../../errors";
import type { HaConfig } from "../../model";
import type { DriverCallOptions, GuestsContext, HaConfigDriver } from "../types";
import { CIBADMIN_QUERY, cibToHaConfig, crmMonResourcesToHaConfig, parseCib } from "./cib";
import { crmMonToHaView, parseCrmMonXml } from "./crm-mon";
import { CRM_MON_XML } from "./driver";

export const cibDriver: HaConfigDriver = {
  id: "pacemaker",
  async read(
    runner: CommandRunner,
    context: GuestsContext,
    options: DriverCallOptions = {},
  ): Promise<HaConfig> {
    const runOpts = { timeoutMs: options.timeoutMs, signal: options.signal };
    try {
      const res = await runner.run(CIBADMIN_QUERY, runOpts);
      return cibToHaConfig(parseCib(res.stdout), context.guests, CIBADMIN_QUERY.join(" "));
    } catch (err) {
      if (!(err instanceof ExecError) || err.exitCode !== 127) throw err;
    }
    const view = crmMonToHaView(parseCrmMonXml((await runner.run(CRM_MON_XML, runOpts)).stdout), runner.node);
    if (!view?.running)
      throw new ExecError(
        "exec_failed",
        `${runner.node}: cibadmin is not installed and crm_mon gave no resources`,
        {
          node: runner.node,
          argv: [...CRM_MON_XML],
          exitCode: null,
          signal: null,
          stdout: "",
          stderr: "",
        },
      );
    return crmMonResourcesToHaConfig(view.resources, context.guests);
  },
};
