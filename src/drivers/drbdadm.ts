/**
 * drbdadm argv shared by the DRBD 8 and 9 drivers (the syntax depends on the module version, not on
 * the driver): role changes, connect/disconnect, discard-my-data, and allow-two-primaries at run time.
 *
 * - `--discard-my-data` is a drbdsetup option: up to 8.3 it is passed through after `--`
 *   (`drbdadm -- --discard-my-data connect R`); from 8.4 drbdadm takes it as a command option
 *   (`drbdadm connect --discard-my-data R`).
 * - allow-two-primaries can be changed at run time only from 8.4 (`drbdadm net-options
 *   --allow-two-primaries=yes R`); on 8.0-8.3 it has to be in the resource's net section.
 * - Never `--force` / `--overwrite-data-of-peer`: xenops does not make a disk win by force.
 */

import type { CommandRunner } from "../command-runner";
import { ExecError, XenopsError } from "../errors";
import { plainWord } from "./argv";
import type { DrbdCommands, DrbdVersion, DriverCallOptions } from "./types";

const VERSION_LINE = /^version: (\d+)\.(\d+)(?:\.(\d+))?\S* \(api:/m;

/** The version on /proc/drbd's `version:` line; throws parse_error when there is none. */
export function parseDrbdVersion(procDrbd: string): DrbdVersion {
  const m = VERSION_LINE.exec(procDrbd);
  if (!m?.[1] || !m[2])
    throw new XenopsError("parse_error", "/proc/drbd has no `version: X.Y.Z (api:...)` line");
  const text = /^version: (\S+)/m.exec(procDrbd)?.[1] ?? `${m[1]}.${m[2]}`;
  return { major: Number(m[1]), minor: Number(m[2]), patch: m[3] ? Number(m[3]) : null, text };
}

/** 8.4 and later: drbdadm command options and net-options exist. */
export function atLeast84(v: DrbdVersion): boolean {
  return v.major > 8 || (v.major === 8 && v.minor >= 4);
}

export function drbdadmCommands(id: 8 | 9): DrbdCommands {
  const res = (r: string) => plainWord(r, "DRBD resource");
  return {
    id,
    async version(runner: CommandRunner, options: DriverCallOptions = {}) {
      const result = await runner.run(["cat", "/proc/drbd"], {
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      });
      try {
        return parseDrbdVersion(result.stdout);
      } catch (err) {
        throw new ExecError("parse_error", `${runner.node}: ${(err as Error).message}`, {
          node: runner.node,
          argv: ["cat", "/proc/drbd"],
          exitCode: result.exitCode,
          signal: null,
          stdout: result.stdout.slice(0, 2000),
          stderr: result.stderr.slice(0, 2000),
        });
      }
    },
    primary: (r) => ["drbdadm", "primary", res(r)],
    secondary: (r) => ["drbdadm", "secondary", res(r)],
    connect: (r) => ["drbdadm", "connect", res(r)],
    disconnect: (r) => ["drbdadm", "disconnect", res(r)],
    connectDiscardMyData: (r, v) =>
      atLeast84(v)
        ? ["drbdadm", "connect", "--discard-my-data", res(r)]
        : ["drbdadm", "--", "--discard-my-data", "connect", res(r)],
    allowTwoPrimaries: (r, enabled, v) =>
      atLeast84(v)
        ? ["drbdadm", "net-options", `--allow-two-primaries=${enabled ? "yes" : "no"}`, res(r)]
        : null,
  };
}
