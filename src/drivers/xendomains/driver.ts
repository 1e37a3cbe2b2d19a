/**
 * Reads xendomains' boot-time configuration on one node, read-only: the settings file (Debian's
 * /etc/default, else /etc/sysconfig), then `ls -l` of its XENDOMAINS_AUTO directory. A missing file
 * or directory is an answer (nothing configured), anything else that fails makes it unknown.
 */

import type { CommandRunner } from "../../command-runner";
import { ExecError, ParseError } from "../../errors";
import type { StartupConfig } from "../../model";
import type { DriverCallOptions, GuestsContext, StartupDriver } from "../types";
import {
  DEFAULT_AUTO_DIR,
  parseLsLong,
  parseXendomainsDefaults,
  startupConfig,
  XENDOMAINS_FILES,
  XENDOMAINS_KIND,
} from "./parse";

const MISSING = /No such file or directory/;
const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

export const xendomainsDriver: StartupDriver = {
  async read(
    runner: CommandRunner,
    context: GuestsContext,
    options: DriverCallOptions = {},
  ): Promise<StartupConfig> {
    const runOpts = { timeoutMs: options.timeoutMs, signal: options.signal };
    // The usual directory is listed while the settings are read, so the common case takes one round
    // (and shares a batch with the other reads of a snapshot); it is used only if the settings keep it.
    const lsDefault = runner.run(["ls", "-l", DEFAULT_AUTO_DIR], { ...runOpts, okExitCodes: [0, 2] });
    lsDefault.catch(() => {});
    let configFile: string | null = null;
    let settings: Record<string, string> = {};
    for (const file of XENDOMAINS_FILES) {
      const res = await runner.run(["cat", file], { ...runOpts, okExitCodes: [0, 1] });
      if (res.exitCode === 0) {
        configFile = file;
        settings = parseXendomainsDefaults(res.stdout);
        break;
      }
      if (!MISSING.test(res.stderr)) throw failed(runner, ["cat", file], res);
    }
    const dir = settings.XENDOMAINS_AUTO || DEFAULT_AUTO_DIR;
    if (!SAFE_PATH.test(dir))
      throw new ParseError(XENDOMAINS_KIND, 0, `XENDOMAINS_AUTO is not a plain path: ${dir.slice(0, 80)}`);
    const ls = await (dir === DEFAULT_AUTO_DIR
      ? lsDefault
      : runner.run(["ls", "-l", dir], { ...runOpts, okExitCodes: [0, 2] }));
    if (ls.exitCode === 2 && !MISSING.test(ls.stderr)) throw failed(runner, ["ls", "-l", dir], ls);
    const entries = ls.exitCode === 0 ? parseLsLong(ls.stdout) : [];
    return startupConfig(configFile, settings, entries, context.guests);
  },
};

function failed(
  runner: CommandRunner,
  argv: string[],
  res: { exitCode: number; stdout: string; stderr: string },
): ExecError {
  return new ExecError(
    "exec_failed",
    `${runner.node}: ${argv.join(" ")} exited with code ${res.exitCode}: ${res.stderr.trim().slice(0, 200)}`,
    { node: runner.node, argv, signal: null, stdout: res.stdout, stderr: res.stderr, exitCode: res.exitCode },
  );
}
