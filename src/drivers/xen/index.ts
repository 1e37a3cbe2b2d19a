/** Xen hypervisor drivers: the xend toolstack (`xm`, Xen 3.x-4.x) and libxl (`xl`, Xen 4.1+). */

import type { RunOptions } from "../../command-runner";
import { parseOutput } from "../../errors";
import type { DriverCallOptions, HypervisorDriver, ParserEntry } from "../types";
import { parseXenInfo, XEN_INFO_KIND } from "./parse-info";
import { parseXenList, type XenListKind } from "./parse-list";

export { parseXenInfo, XEN_INFO_KIND } from "./parse-info";
export { guestOfName, parseXenList, stateFlags, type XenListKind } from "./parse-list";

function runOptions(options?: DriverCallOptions): RunOptions {
  const run: RunOptions = {};
  if (options?.signal) run.signal = options.signal;
  if (options?.timeoutMs !== undefined) run.timeoutMs = options.timeoutMs;
  return run;
}

function hypervisorDriver(tool: "xm" | "xl"): HypervisorDriver {
  const listKind: XenListKind = tool === "xm" ? "xm-list" : "xl-list";
  return {
    id: tool,
    async listDomains(runner, options) {
      const result = await runner.run([tool, "list"], runOptions(options));
      return parseOutput(result.stdout, (text) => parseXenList(text, listKind));
    },
    async info(runner, options) {
      const result = await runner.run([tool, "info"], runOptions(options));
      return parseOutput(result.stdout, parseXenInfo);
    },
  };
}

export const xmDriver: HypervisorDriver = hypervisorDriver("xm");
export const xlDriver: HypervisorDriver = hypervisorDriver("xl");

export const parsers: ParserEntry[] = [
  {
    kind: "xm-list",
    description: "`xm list` table (Xen 3.x/4.x xend) to normalized domains",
    parse: (text) => parseXenList(text, "xm-list"),
  },
  {
    kind: "xl-list",
    description: "`xl list` table (Xen 4.x libxl) to normalized domains",
    parse: (text) => parseXenList(text, "xl-list"),
  },
  {
    kind: XEN_INFO_KIND,
    description: "`xm info` / `xl info` key : value output to host, version and memory",
    parse: (text) => parseXenInfo(text),
  },
];
