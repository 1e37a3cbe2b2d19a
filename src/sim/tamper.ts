/**
 * Output tampering: the lab's way to show what xenops does with output it cannot read. While a tamper
 * is set, every run of the matching command on that node answers differently:
 *
 *   garbage     stdout is replaced by a crash dump (exit 0): nothing a parser can read
 *   empty       no output at all (exit 0)
 *   headonly    only the first line of the real output (e.g. the `xm list` header)
 *   truncate N  the real output cut after N bytes (mid-line, like a dropped connection)
 *   fail        the command does not run: an error on stderr and exit status 1
 *
 * A command matches by argv prefix after `sudo`: `xm list` matches `xm list` and `xm list --long`;
 * `cl_status` matches every cl_status query. Setting a tamper for the same node and command replaces
 * it; `off` (untamper) removes it; Faults.heal() removes them all.
 */
import type { CommandIO } from "./cmd/context";
import type { Simulation } from "./simulation";

export type TamperMode =
  | { kind: "garbage" }
  | { kind: "empty" }
  | { kind: "headonly" }
  | { kind: "truncate"; bytes: number }
  | { kind: "fail" };

export interface Tamper {
  node: string;
  /** argv prefix, e.g. ["xm", "list"]. */
  command: readonly string[];
  mode: TamperMode;
}

const registry = new WeakMap<Simulation, Tamper[]>();

function tampersOf(sim: Simulation): Tamper[] {
  let list = registry.get(sim);
  if (!list) {
    list = [];
    registry.set(sim, list);
  }
  return list;
}

function sameCommand(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((w, i) => w === b[i]);
}

/** Reads `garbage`, `empty`, `headonly`, `truncate N` (or `truncate:N`), `fail`. */
export function parseTamperMode(text: string): TamperMode {
  const [word, arg, ...rest] = text.trim().split(/[\s:]+/);
  const extra = rest.length > 0 || (arg !== undefined && word !== "truncate");
  if (!extra) {
    if (word === "garbage" || word === "empty" || word === "headonly" || word === "fail")
      return { kind: word };
    if (word === "truncate") {
      const bytes = Number(arg);
      if (arg !== undefined && Number.isInteger(bytes) && bytes >= 0) return { kind: "truncate", bytes };
      throw new Error(`truncate needs a byte count (an integer >= 0), got "${arg ?? ""}"`);
    }
  }
  throw new Error(`unknown tamper mode "${text}"; modes: garbage, empty, headonly, truncate N, fail`);
}

export function describeTamperMode(mode: TamperMode): string {
  return mode.kind === "truncate" ? `truncate ${mode.bytes}` : mode.kind;
}

/** Sets (or replaces) the tamper of `command` on `node`. */
export function setTamper(sim: Simulation, node: string, command: readonly string[], mode: TamperMode): void {
  if (command.length === 0) throw new Error("tamper needs a command, e.g. xm list");
  const list = tampersOf(sim);
  const i = list.findIndex((t) => t.node === node && sameCommand(t.command, command));
  const tamper: Tamper = { node, command: [...command], mode };
  if (i >= 0) list[i] = tamper;
  else list.push(tamper);
}

/** Removes the tamper of `command` on `node`; false when there was none. */
export function clearTamper(sim: Simulation, node: string, command: readonly string[]): boolean {
  const list = tampersOf(sim);
  const i = list.findIndex((t) => t.node === node && sameCommand(t.command, command));
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}

export function clearAllTampers(sim: Simulation): void {
  tampersOf(sim).splice(0);
}

export function activeTampers(sim: Simulation): readonly Tamper[] {
  return [...tampersOf(sim)];
}

/** The tamper for this command on this node (the longest matching prefix), if any. */
export function tamperFor(sim: Simulation, node: string, argv: readonly string[]): Tamper | null {
  const list = registry.get(sim);
  if (!list || list.length === 0) return null;
  let best: Tamper | null = null;
  for (const t of list) {
    if (t.node !== node || t.command.length > argv.length) continue;
    if (!t.command.every((w, i) => argv[i] === w)) continue;
    if (!best || t.command.length > best.command.length) best = t;
  }
  return best;
}

/** What a tampered `garbage` run prints: a crash report, not anything a parser could take for data. */
export function garbageOutput(program: string): string {
  return [
    `*** glibc detected *** ${program}: corrupted double-linked list: 0x0000000001f3a2c0 ***`,
    "======= Backtrace: =========",
    "/lib/libc.so.6[0x7f3e8c2d1b2a]",
    "/lib/libc.so.6(cfree+0x6c)[0x7f3e8c2d5e2c]",
    "\ufffd\ufffd@@\ufffd ^[[0m ## Segmentation fault",
    "",
  ].join("\n");
}

/**
 * Runs a program under a tamper: `fail` does not run it at all; `garbage` and `empty` do not need its
 * output; `headonly` and `truncate` run it with stdout buffered (so a streaming command answers only
 * when it ends) and print the cut version. stderr passes through.
 */
export async function runTampered(
  tamper: Tamper,
  program: string,
  io: CommandIO,
  run: (io: CommandIO) => Promise<number>,
): Promise<number> {
  const mode = tamper.mode;
  switch (mode.kind) {
    case "fail":
      io.stderr(`${program}: Input/output error (tampered by the lab)\n`);
      return 1;
    case "empty":
      return 0;
    case "garbage":
      io.stdout(garbageOutput(program));
      return 0;
    case "headonly":
    case "truncate": {
      let out = "";
      const exitCode = await run({
        ...io,
        stdout: (t) => {
          out += t;
        },
      });
      if (mode.kind === "headonly") {
        const nl = out.indexOf("\n");
        io.stdout(nl < 0 ? out : out.slice(0, nl + 1));
      } else {
        io.stdout(Buffer.from(out, "utf8").subarray(0, mode.bytes).toString("utf8"));
      }
      return exitCode;
    }
  }
}
