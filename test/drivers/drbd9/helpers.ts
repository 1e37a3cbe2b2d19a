import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { CommandRunner, ExecResult, RunOptions } from "../../../src/command-runner";
import { ExecError } from "../../../src/errors";

export const REPO_ROOT = fileURLToPath(new URL("../../..", import.meta.url));

export function fixture(dir: "drbd9" | "ha", name: string): string {
  return readFileSync(`${REPO_ROOT}test/fixtures/${dir}/${name}`, "utf8");
}

export interface FakeAnswer {
  stdout?: string;
  stderr?: string;
  exitCode?: number;
  /** Thrown instead of answering (transport failure). */
  error?: Error;
}

/**
 * A CommandRunner answering from a table keyed by the argv joined with spaces; like the real
 * runner it rejects with ExecError when the exit code is not in okExitCodes (default [0]).
 */
export function fakeRunner(
  answers: Record<string, FakeAnswer>,
  node = "xen1",
): CommandRunner & { calls: string[][]; options: (RunOptions | undefined)[] } {
  const calls: string[][] = [];
  const options: (RunOptions | undefined)[] = [];
  return {
    node,
    calls,
    options,
    async run(argv: readonly string[], opts?: RunOptions): Promise<ExecResult> {
      calls.push([...argv]);
      options.push(opts);
      const key = argv.join(" ");
      const a = answers[key];
      if (!a) throw new Error(`unexpected command: ${key}`);
      if (a.error) throw a.error;
      const res = {
        stdout: a.stdout ?? "",
        stderr: a.stderr ?? "",
        exitCode: a.exitCode ?? 0,
        durationMs: 1,
      };
      if (!(opts?.okExitCodes ?? [0]).includes(res.exitCode)) {
        throw new ExecError("exec_failed", `${key} exited ${res.exitCode}`, {
          node,
          argv,
          exitCode: res.exitCode,
          signal: null,
          stdout: res.stdout,
          stderr: res.stderr,
        });
      }
      return res;
    },
  };
}
