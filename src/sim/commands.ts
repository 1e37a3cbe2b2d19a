/**
 * The command dispatcher: what a simulated node does with one SSH exec request. The command line is
 * split with the project's own POSIX word splitter; anything that needs a real shell (pipes,
 * redirections, variables...) is refused, because the simulator never runs a shell and must not
 * silently accept a line a real node would run differently. The one exception is `sh -c SCRIPT` in
 * the exact subset of sh a batch of reads is made of (./shell.ts), each of its commands dispatched
 * here like a single exec. `sudo -n --` is stripped (root needs no sudo). Which programs exist depends
 * on the node's toolstack, like the packages installed on it.
 */
import { XenopsError } from "../errors";
import { splitCommandLine } from "../ssh/quote";
import { blockdev, brctl, commandBuiltin, crmVerify, date, ip, sha256sum, stat } from "./cmd/config";
import type { CommandContext, CommandIO, Program } from "./cmd/context";
import { untilAborted } from "./cmd/context";
import { drbdadm, drbdsetup } from "./cmd/drbd";
import { fenceAgent, stonith, stonithAdmin } from "./cmd/fence";
import { clStatus, crmMon } from "./cmd/ha";
import { xl, xm } from "./cmd/xen";
import { HA_LOG_PATH } from "./ha-log";
import { hooked, passHooks } from "./hooks";
import { passThroughFor } from "./passthrough";
import { renderProcDrbd8, renderProcDrbd9 } from "./render/drbd8";
import { parseScript, runScript, type Statement } from "./shell";
import type { Simulation } from "./simulation";
import { cibadmin, simDirectory, simFile } from "./startup";
import { runTampered, tamperFor } from "./tamper";

export type { CommandIO } from "./cmd/context";

/** The kernel's boot id (spelled here, not imported: the simulator is the node, not xenops). */
const BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id";

export interface CommandTarget {
  sim: Simulation;
  node: string;
}

const cat: Program = (ctx) => {
  if (ctx.args.length === 0) return 0;
  let rc = 0;
  for (const path of ctx.args) {
    if (path === BOOT_ID_PATH) {
      // Drawn anew at every power-on (Simulation.boot): how a reset shows after the node is back.
      ctx.io.stdout(`${ctx.node.bootId}\n`);
    } else if (path === "/proc/drbd") {
      ctx.io.stdout(
        ctx.sim.state.toolstack.drbd === 8
          ? renderProcDrbd8(ctx.sim, ctx.node)
          : renderProcDrbd9(ctx.sim, ctx.node),
      );
    } else if (simFile(ctx.sim, ctx.node.name, path) !== null) {
      ctx.io.stdout(simFile(ctx.sim, ctx.node.name, path) ?? "");
    } else if (simDirectory(ctx.sim, ctx.node.name, path) !== null) {
      ctx.io.stderr(`cat: ${path}: Is a directory\n`);
      rc = 1;
    } else {
      ctx.io.stderr(`cat: ${path}: No such file or directory\n`);
      rc = 1;
    }
  }
  return rc;
};

const uname: Program = (ctx) => {
  const ts = ctx.sim.state.toolstack;
  const flags = ctx.args.join("");
  if (flags === "-n") ctx.io.stdout(`${ctx.node.name}\n`);
  else if (flags === "-r") ctx.io.stdout(`${ts.kernelRelease}\n`);
  else if (flags === "-a")
    ctx.io.stdout(`Linux ${ctx.node.name} ${ts.kernelRelease} ${ts.kernelVersion} ${ts.machine} GNU/Linux\n`);
  else if (flags === "" || flags === "-s") ctx.io.stdout("Linux\n");
  else {
    ctx.io.stderr(`uname: invalid option -- '${flags.replace(/^-/, "")[0] ?? ""}'\n`);
    return 1;
  }
  return 0;
};

const sleep: Program = async (ctx) => {
  const secs = Number(ctx.args[0]);
  if (ctx.args.length !== 1 || !Number.isFinite(secs) || secs < 0) {
    ctx.io.stderr(
      ctx.args.length ? `sleep: invalid time interval '${ctx.args[0]}'\n` : "sleep: missing operand\n",
    );
    return 1;
  }
  // Real time: sleep is how tests exercise client timeouts.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, secs * 1000);
    ctx.io.signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
  return ctx.io.signal.aborted ? 143 : 0;
};

/** Files a simulated node has: /proc/drbd and its file table (configuration files, domain configs). */
function fileExists(ctx: CommandContext, path: string): boolean {
  return path === "/proc/drbd" || path === BOOT_ID_PATH || simFile(ctx.sim, ctx.node.name, path) !== null;
}

/** `test -f|-e|-r PATH` (coreutils test: exit 0 true, 1 false, 2 on a usage error). */
const test: Program = (ctx) => {
  const [op, path, ...extra] = ctx.args;
  if (extra.length > 0 || path === undefined || !["-f", "-e", "-r"].includes(op ?? "")) {
    ctx.io.stderr(`test: ${ctx.args.join(" ")}: not simulated by xenops-sim\n`);
    return 2;
  }
  return fileExists(ctx, path) ? 0 : 1;
};

/** `ls [-l] PATH...`: names the files that exist, lists /etc/xen/auto (`-l`: long), complains about the others (exit 2). */
const ls: Program = (ctx) => {
  const paths = ctx.args.filter((a) => !a.startsWith("-"));
  let rc = 0;
  for (const path of paths) {
    const listing = simDirectory(ctx.sim, ctx.node.name, path);
    if (listing !== null && ctx.args.includes("-l")) ctx.io.stdout(listing);
    else if (listing !== null)
      ctx.io.stdout(
        listing
          .split("\n")
          .slice(1)
          .filter(Boolean)
          .map((l) => `${(l.split(" -> ")[0] ?? "").split(" ").at(-1)}\n`)
          .join(""),
      );
    else if (fileExists(ctx, path) || simFile(ctx.sim, ctx.node.name, path) !== null)
      ctx.io.stdout(`${path}\n`);
    else {
      ctx.io.stderr(`ls: cannot access '${path}': No such file or directory\n`);
      rc = 2;
    }
  }
  return rc;
};

/**
 * `tail [-n N] FILE` (coreutils): the last N (default 10) lines. The only file it reads is heartbeat's
 * log, which exists on heartbeat nodes.
 */
const tail: Program = (ctx) => {
  let count = 10;
  const files: string[] = [];
  const a = ctx.args;
  for (let i = 0; i < a.length; i++) {
    const arg = a[i] as string;
    const m = /^-n(\d*)$/.exec(arg) ?? /^-(\d+)$/.exec(arg);
    if (m) {
      const value = m[1] !== "" && m[1] !== undefined ? m[1] : a[++i];
      if (value === undefined || !/^\d+$/.test(value)) {
        ctx.io.stderr(`tail: invalid number of lines: '${value ?? ""}'\n`);
        return 1;
      }
      count = Number(value);
    } else if (arg.startsWith("-")) {
      ctx.io.stderr(`tail: option ${arg} is not simulated by xenops-sim\n`);
      return 1;
    } else files.push(arg);
  }
  if (files.length !== 1) {
    ctx.io.stderr("tail: xenops-sim reads exactly one file\n");
    return 1;
  }
  const path = files[0] as string;
  if (path !== HA_LOG_PATH || ctx.sim.state.toolstack.ha !== "heartbeat") {
    ctx.io.stderr(`tail: cannot open '${path}' for reading: No such file or directory\n`);
    return 1;
  }
  const lines = ctx.node.haLog ?? [];
  const shown = count === 0 ? [] : lines.slice(-count);
  ctx.io.stdout(shown.map((l) => `${l}\n`).join(""));
  return 0;
};

const BASE: Record<string, Program> = {
  tail,
  test,
  ls,
  cat,
  uname,
  sleep,
  true: () => 0,
  false: () => 1,
  hostname: (ctx) => {
    ctx.io.stdout(`${ctx.node.name}\n`);
    return 0;
  },
  echo: (ctx) => {
    ctx.io.stdout(`${ctx.args.join(" ")}\n`);
    return 0;
  },
  drbdadm,
  drbdsetup,
  sha256sum,
  stat,
  date,
  ip,
  blockdev,
};

/** programsFor's last answer per simulation, with what it depended on. */
const installed = new WeakMap<Simulation, { key: string; programs: Record<string, Program> }>();

/** The programs installed on a node of this simulation (built again when the toolstack or fencing changes). */
export function programsFor(sim: Simulation): Record<string, Program> {
  const ts = sim.state.toolstack;
  const key = `${ts.hypervisor}|${ts.ha}|${sim.state.fence?.type ?? ""}`;
  const known = installed.get(sim);
  if (known?.key === key) return known.programs;
  const programs = installPrograms(sim);
  installed.set(sim, { key, programs });
  return programs;
}

function installPrograms(sim: Simulation): Record<string, Program> {
  const ts = sim.state.toolstack;
  const programs: Record<string, Program> = { ...BASE };
  if (ts.hypervisor === "xm") programs.xm = xm;
  else programs.xl = xl;
  // bridge-utils is installed with Xen 3's network scripts; a modern node uses iproute2 only.
  if (ts.hypervisor === "xm") programs.brctl = brctl;
  programs.command = commandBuiltin(() => programs);
  if (ts.ha === "heartbeat") {
    programs.cl_status = clStatus;
    programs.stonith = stonith;
  } else {
    programs.crm_mon = crmMon;
    programs.cibadmin = cibadmin;
    programs.stonith_admin = stonithAdmin;
    programs.crm_verify = crmVerify;
  }
  // fence-agents ship every agent; a heartbeat node may have them too if its device is one.
  if (ts.ha === "pacemaker" || sim.state.fence?.type.startsWith("fence_")) {
    programs.fence_apc = fenceAgent;
    programs.fence_ipmilan = fenceAgent;
  }
  return programs;
}

/** Removes `sudo [-n] [--]`; null when sudo is used in a way a non-interactive run would not be. */
function stripSudo(argv: string[]): string[] | null {
  if (argv[0] !== "sudo") return argv;
  let i = 1;
  while (i < argv.length && argv[i] === "-n") i++;
  if (argv[i] === "--") i++;
  else if (argv[i]?.startsWith("-")) return null;
  return argv.slice(i);
}

/** Options of handleCommand. */
export interface HandleOptions {
  /**
   * Awaited before every program the exec runs (once for a plain command, once per command of an
   * `sh -c` script): a node's command latency (Faults.slowSsh).
   */
  pace?: (signal: AbortSignal) => Promise<void>;
}

/**
 * Runs one command on a simulated node and resolves with its exit status. A node that is down (or
 * whose connection has died) never answers: the returned promise settles only when io.signal aborts.
 * `sh -c SCRIPT` runs the subset of sh in ./shell.ts (a snapshot's batch of reads).
 */
export async function handleCommand(
  target: CommandTarget,
  command: string | readonly string[],
  io: CommandIO,
  options: HandleOptions = {},
): Promise<{ exitCode: number }> {
  const { sim } = target;
  sim.sync();
  const node = sim.node(target.node);
  if (!node) throw new XenopsError("unknown_node", `no simulated node ${target.node}`);
  if (!node.up) {
    await untilAborted(io.signal);
    return { exitCode: 255 };
  }

  let argv: string[];
  if (typeof command === "string") {
    try {
      argv = splitCommandLine(command);
    } catch (err) {
      io.stderr(
        `sh: 1: ${err instanceof Error ? err.message : String(err)} (the simulated node runs no shell)\n`,
      );
      return { exitCode: 2 };
    }
  } else argv = [...command];
  return { exitCode: await runArgv(target, argv, io, options) };
}

/** One program (or an `sh -c` script) on a node that is up. */
async function runArgv(
  target: CommandTarget,
  argv: string[],
  io: CommandIO,
  options: HandleOptions,
): Promise<number> {
  const { sim } = target;
  const stripped = stripSudo(argv);
  if (stripped === null) {
    io.stderr(
      "sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper\n",
    );
    return 1;
  }
  if (stripped.length === 0) return 0;
  const [path, ...args] = stripped as [string, ...string[]];
  const program = path.slice(path.lastIndexOf("/") + 1);
  if (program === "sh" && args.length === 2 && args[0] === "-c") {
    let statements: Statement[];
    try {
      statements = parseScript(args[1] as string);
    } catch (err) {
      io.stderr(
        `sh: 1: ${err instanceof Error ? err.message : String(err)} (the simulated node runs a subset of sh)\n`,
      );
      return 2;
    }
    return runScript(statements, io, (inner) => runArgv(target, inner, io, options));
  }
  if (options.pace) await options.pace(io.signal);
  if (io.signal.aborted) return 255;
  sim.sync();
  const node = sim.node(target.node);
  if (!node) throw new XenopsError("unknown_node", `no simulated node ${target.node}`);
  if (!node.up) {
    // Powered off mid-script: the shell is gone with it.
    await untilAborted(io.signal);
    return 255;
  }
  // Real-HA lab: heartbeat's programs and files are real; the node's namespace answers them.
  const passed = passThroughFor(sim)?.(node.name, stripped, io);
  if (passed) return passed;
  const run = programsFor(sim)[program];
  if (!run) {
    io.stderr(`sh: 1: ${path}: not found\n`);
    return 127;
  }
  // Test hooks (src/sim/hooks.ts): a command held "before" whose client goes away never runs.
  // Without hooks nothing is awaited here: a program starts in the same tick (event streams rely on it).
  const hook = hooked(sim, node.name, stripped);
  if (hook && !(await passHooks(sim, node.name, stripped, "before", io.signal))) return 255;
  const ctx: CommandContext = { sim, node, program, args, io };
  // Lab fault (src/sim/tamper.ts): this command's output is replaced while a tamper is set.
  const tamper = tamperFor(sim, node.name, stripped);
  const exitCode = tamper
    ? await runTampered(tamper, program, io, async (tio) => run({ ...ctx, io: tio }))
    : await run(ctx);
  if (hook) await passHooks(sim, node.name, stripped, "after", io.signal);
  return exitCode;
}

export interface ExecOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Collects a command's output in memory. */
export async function execInProcess(
  sim: Simulation,
  node: string,
  command: string | readonly string[],
  options: { stdin?: string; signal?: AbortSignal } = {},
): Promise<ExecOutput> {
  let stdout = "";
  let stderr = "";
  const io: CommandIO = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    readStdin: async () => options.stdin ?? "",
    signal: options.signal ?? new AbortController().signal,
  };
  const { exitCode } = await handleCommand({ sim, node }, command, io);
  return { stdout, stderr, exitCode };
}
