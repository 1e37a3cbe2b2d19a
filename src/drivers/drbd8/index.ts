/** DRBD 8.0-8.4 driver: state comes from /proc/drbd, which names minors only (see the config's `minor`). */

import type { RunOptions } from "../../command-runner";
import { parseOutput } from "../../errors";
import { resourcesExpectedOn } from "../expected";
import type { DrbdDriver, DriverCallOptions, ParserEntry } from "../types";
import { assertMinorsListed, PROC_DRBD_KIND, parseProcDrbd, toResourceStates } from "./parse-proc-drbd";

export * from "./parse-proc-drbd";

function runOptions(options?: DriverCallOptions): RunOptions {
  const run: RunOptions = {};
  if (options?.signal) run.signal = options.signal;
  if (options?.timeoutMs !== undefined) run.timeoutMs = options.timeoutMs;
  return run;
}

export const drbd8Driver: DrbdDriver = {
  id: 8,
  async status(runner, context, options) {
    const result = await runner.run(["cat", "/proc/drbd"], runOptions(options));
    return parseOutput(result.stdout, (text) => {
      const parsed = parseProcDrbd(text);
      assertMinorsListed(parsed, resourcesExpectedOn(context.resources, runner.node));
      return toResourceStates(parsed, context.resources);
    });
  },
};

export const parsers: ParserEntry[] = [
  {
    kind: PROC_DRBD_KIND,
    description: "DRBD 8.0-8.4 /proc/drbd: version and every minor's states, counters and sync progress",
    parse: (text) => parseProcDrbd(text),
  },
];
