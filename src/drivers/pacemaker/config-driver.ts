/**
 * Pacemaker's resource configuration: `cibadmin --query --scope configuration`. Where cibadmin is not
 * installed (exit 127), crm_mon's resource list still names the Xen primitives, without their
 * parameters, meta attributes or constraints.
 */

import type { CommandRunner } from "../../command-runner";
import { ExecError } from "../../errors";
import type { HaConfig, HaManagedGuest } from "../../model";
import type { DriverCallOptions, GuestsContext, HaAction, HaConfigDriver } from "../types";
import { CIBADMIN_QUERY, cibToHaConfig, crmMonResourcesToHaConfig, parseCib } from "./cib";
import { crmMonToHaView, parseCrmMonXml } from "./crm-mon";
import { CRM_MON_XML } from "./driver";

/** Pacemaker moves a primitive with a location constraint (crm_resource --move, then --clear). */
function pacemakerWay(entry: HaManagedGuest, action: HaAction, node: string): string {
  const r = entry.resource;
  const clear = `then, once it runs there, \`crm_resource --clear --resource ${r}\``;
  const bans = entry.constraints.filter((c) => c.id.startsWith("cli-"));
  const stale = bans.length
    ? `; constraints on it now: ${bans.map((c) => `${c.id} (${c.node} ${c.score})`).join(", ")}`
    : "";
  if (action === "evacuate")
    return `put ${node} in standby with Pacemaker: \`crm_attribute --node ${node} --name standby --update on\` (\`--update off\` afterwards)`;
  if (action === "create")
    return `let Pacemaker start it: \`crm_resource --move --resource ${r} --node ${node}\` (if it is stopped on purpose, first \`crm_resource --resource ${r} --meta --set-parameter target-role --parameter-value Started\`), ${clear}${stale}`;
  const live =
    entry.allowMigrate === true
      ? "Pacemaker live-migrates it (allow-migrate=true)"
      : `allow-migrate is not set on ${r}, so Pacemaker would stop and start it; for a live migration first run \`crm_resource --resource ${r} --meta --set-parameter allow-migrate --parameter-value true\``;
  return `let Pacemaker move it: \`crm_resource --move --resource ${r} --node ${node}\`; ${live}; ${clear}${stale}`;
}

export const cibDriver: HaConfigDriver = {
  id: "pacemaker",
  way: pacemakerWay,
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
