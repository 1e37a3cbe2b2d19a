/**
 * Test hooks on the commands a simulated node runs: count them, or hold them (before they run, or
 * after they ran but before their exit status goes back) until released. Tests use a hold to stop a
 * worker in the middle of a step and kill it there.
 */
import type { Simulation } from "./simulation";

export interface CommandMatch {
  node?: string;
  /** An argv prefix (["xm", "migrate"]) or a predicate. */
  argv: readonly string[] | ((argv: readonly string[]) => boolean);
}

export interface CommandWatch {
  /** Matching commands seen so far. */
  readonly count: number;
  /** The argv of each, in order. */
  readonly seen: readonly (readonly string[])[];
  stop(): void;
}

export interface CommandHold extends CommandWatch {
  /** Commands held right now (a held command whose client went away stops being held). */
  readonly holding: number;
  /** Resolves once a matching command is being held. */
  held(): Promise<void>;
  /** Lets the held command (and later ones) go on, and stops holding. */
  release(): void;
}

export type HoldPhase = "before" | "after";

interface Hook {
  node: string | undefined;
  matches: (argv: readonly string[]) => boolean;
  phase: HoldPhase | "watch";
  seen: (readonly string[])[];
  holding: boolean;
  heldNow: number;
  onHeld: (() => void)[];
  onRelease: (() => void)[];
}

const registry = new WeakMap<Simulation, Hook[]>();

function hooksOf(sim: Simulation): Hook[] {
  let list = registry.get(sim);
  if (!list) {
    list = [];
    registry.set(sim, list);
  }
  return list;
}

function matcher(match: CommandMatch): (argv: readonly string[]) => boolean {
  const m = match.argv;
  if (typeof m === "function") return m;
  return (argv) => m.every((word, i) => argv[i] === word);
}

function addHook(sim: Simulation, match: CommandMatch, phase: HoldPhase | "watch"): Hook {
  const hook: Hook = {
    node: match.node,
    matches: matcher(match),
    phase,
    seen: [],
    holding: phase !== "watch",
    heldNow: 0,
    onHeld: [],
    onRelease: [],
  };
  hooksOf(sim).push(hook);
  return hook;
}

function removeHook(sim: Simulation, hook: Hook): void {
  const list = hooksOf(sim);
  const i = list.indexOf(hook);
  if (i >= 0) list.splice(i, 1);
}

export function watchCommands(sim: Simulation, match: CommandMatch): CommandWatch {
  const hook = addHook(sim, match, "watch");
  return {
    get count() {
      return hook.seen.length;
    },
    seen: hook.seen,
    stop: () => removeHook(sim, hook),
  };
}

export function holdCommand(sim: Simulation, match: CommandMatch, phase: HoldPhase = "before"): CommandHold {
  const hook = addHook(sim, match, phase);
  const release = (): void => {
    hook.holding = false;
    for (const r of hook.onRelease.splice(0)) r();
  };
  return {
    get count() {
      return hook.seen.length;
    },
    get holding() {
      return hook.heldNow;
    },
    seen: hook.seen,
    held: () =>
      hook.heldNow > 0 ? Promise.resolve() : new Promise<void>((resolve) => hook.onHeld.push(resolve)),
    release,
    stop: () => {
      release();
      removeHook(sim, hook);
    },
  };
}

/** Whether any hook wants to see this command (checked synchronously, so commands without hooks start at once). */
export function hooked(sim: Simulation, node: string, argv: readonly string[]): boolean {
  const list = registry.get(sim);
  return !!list?.some((hook) => (hook.node === undefined || hook.node === node) && hook.matches(argv));
}

/**
 * Called by the command dispatcher before a program runs ("before") and after it ran ("after").
 * Resolves false when the client went away while the command was held.
 */
export async function passHooks(
  sim: Simulation,
  node: string,
  argv: readonly string[],
  phase: HoldPhase,
  signal: AbortSignal,
): Promise<boolean> {
  const list = registry.get(sim);
  if (!list || list.length === 0) return true;
  for (const hook of [...list]) {
    if ((hook.node !== undefined && hook.node !== node) || !hook.matches(argv)) continue;
    // Each matching command counts once: watches and "before" holds when it starts, "after" holds when it ended.
    if (phase === (hook.phase === "after" ? "after" : "before")) hook.seen.push([...argv]);
    if (hook.phase !== phase || !hook.holding) continue;
    hook.heldNow += 1;
    for (const h of hook.onHeld.splice(0)) h();
    const released = await new Promise<boolean>((resolve) => {
      if (signal.aborted) return resolve(false);
      const onAbort = (): void => resolve(false);
      signal.addEventListener("abort", onAbort, { once: true });
      hook.onRelease.push(() => {
        signal.removeEventListener("abort", onAbort);
        resolve(true);
      });
    });
    hook.heldNow -= 1;
    if (!released) return false;
  }
  return true;
}
