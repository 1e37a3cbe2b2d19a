/**
 * `drbdadm` and `drbdsetup` for DRBD 8.2.6 (user/drbdadm_main.c, drbdsetup.c at the 8.2.6 release)
 * and DRBD 9 (drbd-utils 9.x user/v9). drbdadm runs drbdsetup and, when that fails with a code of
 * 10 or more, adds `Command '...' terminated with exit code N`; drbdsetup's own messages come from
 * print_config_error: `<obj>: State change failed: (-1) Multiple primaries not allowed by config`.
 */
import type { SimDrbdResource } from "../model";
import { events2Lines, events2Snapshot, renderDrbdStatusJson, renderDrbdStatusText } from "../render/drbd9";
import type { DrbdFailureCode } from "../simulation";
import { drbdadmConfigCommand } from "./config";
import type { CommandContext, Program } from "./context";
import { untilAborted } from "./context";

/** drbd_state_sw_errors / error_to_string texts and drbdsetup's exit codes for them. */
const FAILURES: Record<
  Exclude<DrbdFailureCode, "NotConfigured">,
  { kind: "state" | "failure"; num: number; text: string; exit: number }
> = {
  SS_TwoPrimaries: { kind: "state", num: -1, text: "Multiple primaries not allowed by config", exit: 11 },
  SS_NoUpToDateDisk: {
    kind: "state",
    num: -2,
    text: "Refusing to be Primary without at least one UpToDate disk",
    exit: 17,
  },
  SS_DeviceInUse: { kind: "state", num: -12, text: "Device is held open by someone", exit: 11 },
  DiscardNotAllowed: {
    kind: "failure",
    num: 123,
    text: "--discard-my-data not allowed when primary.",
    exit: 10,
  },
  HaveNetConfig: {
    kind: "failure",
    num: 125,
    text: "Device has a net-config (use disconnect first)",
    exit: 10,
  },
};

interface AdmCall {
  /** drbdsetup argv as drbdadm would run it, for the "Command ..." line. */
  setupArgv: string;
  /** Object name drbdsetup prefixes its messages with: the device (8) or the resource (9). */
  object: string;
}

function reportFailure(ctx: CommandContext, call: AdmCall, code: DrbdFailureCode): number {
  if (code === "NotConfigured") {
    ctx.io.stderr(`${call.object}: Failure: (127) Device minor not allocated\n`);
    ctx.io.stderr(`Command '${call.setupArgv}' terminated with exit code 10\n`);
    return 10;
  }
  const f = FAILURES[code];
  ctx.io.stderr(
    f.kind === "state"
      ? `${call.object}: State change failed: (${f.num}) ${f.text}\n`
      : `${call.object}: Failure: (${f.num}) ${f.text}\n`,
  );
  ctx.io.stderr(`Command '${call.setupArgv}' terminated with exit code ${f.exit}\n`);
  return f.exit;
}

const DRBDADM_COMMANDS_8 = new Set([
  "attach",
  "detach",
  "connect",
  "disconnect",
  "up",
  "down",
  "primary",
  "secondary",
  "invalidate",
  "invalidate-remote",
  "outdate",
  "resize",
  "syncer",
  "pause-sync",
  "resume-sync",
  "adjust",
  "wait-connect",
  "state",
  "cstate",
  "dstate",
  "dump",
  "dump-xml",
  "create-md",
  "show-gi",
  "get-gi",
  "dump-md",
  "wipe-md",
  "wait-con-int",
  "hidden-commands",
  "verify",
]);

const SIMULATED = new Set([
  "net-options",
  "connect",
  "disconnect",
  "primary",
  "secondary",
  "state",
  "role",
  "cstate",
  "dstate",
  "status",
]);

export const drbdadm: Program = (ctx) => {
  // Configuration reads (`dump`, `-V`) are served from the node's file table (cmd/config.ts).
  const config = drbdadmConfigCommand(ctx);
  if (config !== null) return config;
  const nine = ctx.sim.state.toolstack.drbd === 9;
  const args = [...ctx.args];
  // drbdadm [options] [-- setup-options] command [command-options] resource...
  const setupOpts: string[] = [];
  const cmdOpts: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") {
      // Everything starting with '-' after "--" is passed to drbdsetup (8.x syntax).
      i++;
      while (i < args.length && (args[i] as string).startsWith("-")) setupOpts.push(args[i++] as string);
      break;
    }
    if (a === "-d" || a === "--dry-run" || a === "-v" || a === "--verbose") continue;
    if (!a.startsWith("-")) break;
    if (!nine) {
      // 8.2's getopt_long knows only its own options; anything else ends the run.
      ctx.io.stderr(`drbdadm: unrecognized option \`${a}'\ntry 'drbdadm help'\n`);
      return 20;
    }
    cmdOpts.push(a);
  }
  const command = args[i];
  const rest = args.slice(i + 1);
  if (command === undefined) {
    ctx.io.stderr("USAGE: drbdadm COMMAND [OPTION...] {all|RESOURCE...}\n");
    return nine ? 1 : 3;
  }
  const names: string[] = [];
  for (const a of rest) {
    if (a.startsWith("-")) {
      if (!nine) {
        ctx.io.stderr(`drbdadm: unrecognized option \`${a}'\ntry 'drbdadm help'\n`);
        return 20;
      }
      cmdOpts.push(a);
    } else names.push(a);
  }
  const known = nine
    ? SIMULATED.has(command) || DRBDADM_COMMANDS_8.has(command)
    : DRBDADM_COMMANDS_8.has(command);
  if (!known || (!nine && (command === "role" || command === "status"))) {
    ctx.io.stderr(nine ? `drbdadm: Unknown command '${command}'\n` : `Unknown command '${command}'.\n`);
    return nine ? 1 : 3;
  }
  if (!SIMULATED.has(command)) {
    ctx.io.stderr(`drbdadm ${command}: not simulated by xenops-sim\n`);
    return 20;
  }

  if (command === "status") {
    const unknown = names.find(
      (n) => n !== "all" && !ctx.sim.resourcesOn(ctx.node.name).some((r) => r.name === n),
    );
    if (unknown !== undefined) {
      ctx.io.stderr(`'${unknown}' not defined in your config (for this host).\n`);
      return 1;
    }
    const out = renderDrbdStatusText(ctx.sim, ctx.node, names[0] ?? "all");
    ctx.io.stdout(out.stdout);
    ctx.io.stderr(out.stderr);
    return out.exitCode;
  }

  const mine = ctx.sim.resourcesOn(ctx.node.name);
  const targets: SimDrbdResource[] = [];
  if (names.length === 0 || names.includes("all")) targets.push(...mine);
  else {
    for (const n of names) {
      const r = mine.find((x) => x.name === n || String(x.minor) === n || x.device === n);
      if (!r) {
        ctx.io.stderr(
          nine
            ? `'${n}' not defined in your config (for this host).\n`
            : `'${n}' not defined in your config.\n`,
        );
        return nine ? 1 : 3;
      }
      targets.push(r);
    }
  }
  const opts = [...setupOpts, ...cmdOpts];
  const discard = opts.includes("--discard-my-data");
  const force = opts.includes("--force") || opts.includes("--overwrite-data-of-peer");
  let rv = 0;
  for (const r of targets) {
    const v = ctx.sim.drbdView(r, ctx.node.name);
    const call = (sub: string, extra: string[] = []): AdmCall =>
      nine
        ? { setupArgv: ["drbdsetup", sub, r.name, ...extra].join(" "), object: r.name }
        : { setupArgv: ["drbdsetup", r.device, sub, ...extra].join(" "), object: r.device };
    switch (command) {
      case "state":
      case "role":
        ctx.io.stdout(nine && command === "role" ? `${v.role}\n` : `${v.role}/${v.peerRole}\n`);
        break;
      case "cstate":
        ctx.io.stdout(`${nine ? v.connection9 : v.connection8}\n`);
        break;
      case "dstate":
        ctx.io.stdout(`${v.disk}/${v.peerDisk}\n`);
        break;
      case "primary": {
        const res = force
          ? ctx.sim.forcePrimary(r.name, ctx.node.name)
          : ctx.sim.promote(r.name, ctx.node.name);
        if (!res.ok)
          rv = Math.max(rv, reportFailure(ctx, call("primary", force ? ["--force"] : []), res.code));
        break;
      }
      case "secondary": {
        const res = ctx.sim.demote(r.name, ctx.node.name);
        if (!res.ok) rv = Math.max(rv, reportFailure(ctx, call("secondary"), res.code));
        break;
      }
      case "net-options": {
        const two = opts.find((o) => /^--allow-two-primaries(=(yes|no))?$/.test(o));
        const other = opts.find((o) => o !== two);
        if (!two || other) {
          ctx.io.stderr(`drbdadm net-options ${other ?? ""}: not simulated by xenops-sim\n`);
          return 20;
        }
        const res = ctx.sim.setAllowTwoPrimaries(r.name, ctx.node.name, !two.endsWith("=no"));
        if (!res.ok) rv = Math.max(rv, reportFailure(ctx, call("net-options", [two]), res.code));
        break;
      }
      case "disconnect": {
        const res = ctx.sim.disconnect(r.name, ctx.node.name);
        if (!res.ok) rv = Math.max(rv, reportFailure(ctx, call("disconnect"), res.code));
        break;
      }
      case "connect": {
        const res = ctx.sim.connect(r.name, ctx.node.name, discard);
        if (!res.ok) {
          const peer = ctx.sim.node(ctx.sim.peerOf(r, ctx.node.name));
          const netArgs = [
            `${ctx.node.replicationAddress}:${r.port}`,
            `${peer?.replicationAddress ?? "0.0.0.0"}:${r.port}`,
            r.protocol,
            ...(r.allowTwoPrimaries ? ["--allow-two-primaries"] : []),
            ...(discard ? ["--discard-my-data"] : []),
          ];
          rv = Math.max(
            rv,
            reportFailure(
              ctx,
              nine ? call("connect", [String(1 - v.nodeId)]) : call("net", netArgs),
              res.code,
            ),
          );
        }
        break;
      }
    }
  }
  return rv;
};

/** drbdsetup: DRBD 9 status/events2/role queries; DRBD 8's per-device state queries. */
export const drbdsetup: Program = async (ctx) => {
  const sim = ctx.sim;
  if (sim.state.toolstack.drbd === 8) {
    const [device, cmd] = ctx.args;
    const r = sim.resourcesOn(ctx.node.name).find((x) => x.device === device);
    if (!device || !cmd) {
      ctx.io.stderr("USAGE: drbdsetup device command arguments options\n");
      return 20;
    }
    if (!r) {
      ctx.io.stderr(`${device}: Failure: (127) Device minor not allocated\n`);
      return 10;
    }
    const v = sim.drbdView(r, ctx.node.name);
    if (cmd === "state") ctx.io.stdout(`${v.role}/${v.peerRole}\n`);
    else if (cmd === "cstate") ctx.io.stdout(`${v.connection8}\n`);
    else if (cmd === "dstate") ctx.io.stdout(`${v.disk}/${v.peerDisk}\n`);
    else {
      ctx.io.stderr(`drbdsetup ${cmd}: not simulated by xenops-sim\n`);
      return 20;
    }
    return 0;
  }

  const [cmd, ...rest] = ctx.args;
  const flags = rest.filter((a) => a.startsWith("-"));
  const names = rest.filter((a) => !a.startsWith("-"));
  const name = names[0] ?? "all";
  if (cmd === "status") {
    const json = flags.some((f) => f === "--json" || f === "-j");
    const bad = flags.find(
      (f) => !["--json", "-j", "--color=never", "--color=auto", "--color=always"].includes(f),
    );
    if (bad) {
      ctx.io.stderr(`drbdsetup status ${bad}: not simulated by xenops-sim\n`);
      return 20;
    }
    const out = json ? renderDrbdStatusJson(sim, ctx.node, name) : renderDrbdStatusText(sim, ctx.node, name);
    ctx.io.stdout(out.stdout);
    ctx.io.stderr(out.stderr);
    return out.exitCode;
  }
  if (cmd === "role") {
    const r = sim.resourcesOn(ctx.node.name).find((x) => x.name === name);
    if (!r) {
      ctx.io.stderr(`${name}: No such resource\n`);
      return 10;
    }
    ctx.io.stdout(`${sim.drbdView(r, ctx.node.name).role}\n`);
    return 0;
  }
  if (cmd === "events2") {
    const known = [
      "--now",
      "-n",
      "--timestamps",
      "-T",
      "--statistics",
      "-s",
      "--color=never",
      "--color=auto",
      "--color=always",
    ];
    const bad = flags.find((f) => !known.includes(f));
    if (bad) {
      ctx.io.stderr(`drbdsetup events2 ${bad}: not simulated by xenops-sim\n`);
      return 20;
    }
    const opts = {
      statistics: flags.includes("--statistics") || flags.includes("-s"),
      timestamps: flags.includes("--timestamps") || flags.includes("-T"),
    };
    const now = flags.includes("--now") || flags.includes("-n");
    return events2(ctx, name, opts, now);
  }
  ctx.io.stderr(
    cmd
      ? `drbdsetup ${cmd}: not simulated by xenops-sim\n`
      : "USAGE: drbdsetup command {arguments} [options]\n",
  );
  return 20;
};

/** Streams events2 lines until the client goes away (or, with --now, after the initial state). */
async function events2(
  ctx: CommandContext,
  name: string,
  opts: { statistics: boolean; timestamps: boolean },
  once: boolean,
): Promise<number> {
  const sim = ctx.sim;
  let snapshot = events2Snapshot(sim, ctx.node, name);
  const write = (lines: string[]): void => {
    if (lines.length) ctx.io.stdout(`${lines.join("\n")}\n`);
  };
  write(events2Lines(null, snapshot, opts, sim.time));
  if (once) return 0;
  const off = sim.onChange(() => {
    // A dead node says nothing more; its socket just goes quiet.
    if (!ctx.node.up) return;
    const next = events2Snapshot(sim, ctx.node, name);
    write(events2Lines(snapshot, next, opts, sim.time));
    snapshot = next;
  });
  try {
    await untilAborted(ctx.io.signal);
  } finally {
    off();
  }
  return 0;
}
