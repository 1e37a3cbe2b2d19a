/** What a simulated program gets: the simulation, the node it runs on, its arguments and stdio. */
import type { SimNode } from "../model";
import type { Simulation } from "../simulation";

export interface CommandIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Whole standard input; only programs that read stdin (fence agents) call it. */
  readStdin(): Promise<string>;
  /** Aborted when the client goes away; long-running programs (events2, migrate) stop then. */
  signal: AbortSignal;
}

export interface CommandContext {
  sim: Simulation;
  node: SimNode;
  /** Program name as invoked (basename). */
  program: string;
  /** Arguments after the program name. */
  args: string[];
  io: CommandIO;
}

/** A simulated program: returns its exit status. */
export type Program = (ctx: CommandContext) => number | Promise<number>;

/** Resolves when the signal aborts (a program that never finishes by itself). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

/** Waits for a simulation condition; false when the client went away first. */
export async function waitUntil(ctx: CommandContext, predicate: () => boolean): Promise<boolean> {
  try {
    await ctx.sim.waitFor(predicate, ctx.io.signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * GNU getopt for short options (`optstring` like "c:F:p:t:T:"), permuting non-options to the end as
 * glibc does. Unknown options and missing arguments are reported like glibc's messages.
 */
export function getoptShort(
  program: string,
  args: string[],
  optstring: string,
): { opts: [string, string | true][]; rest: string[]; error: string | null } {
  const opts: [string, string | true][] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") {
      rest.push(...args.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-") {
      rest.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const ch = a[j] as string;
      const at = optstring.indexOf(ch);
      if (at < 0 || ch === ":") return { opts, rest, error: `${program}: invalid option -- '${ch}'\n` };
      if (optstring[at + 1] === ":") {
        const value = a.length > j + 1 ? a.slice(j + 1) : args[++i];
        if (value === undefined)
          return { opts, rest, error: `${program}: option requires an argument -- '${ch}'\n` };
        opts.push([ch, value]);
        break;
      }
      opts.push([ch, true]);
    }
  }
  return { opts, rest, error: null };
}
