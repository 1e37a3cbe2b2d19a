/**
 * Runs a lab console script through the whole runtime (queue, workers, SSH to the simulated nodes), as
 * `npm run lab -- --script` does, for the tests that play an example end to end.
 */
import { StaticGroupDirectory } from "../../src/chat/authz";
import { ConsoleNotifier } from "../../src/console/notifier";
import { ConsoleSession } from "../../src/console/session";
import { labDirectives } from "../../src/lab/directives";
import type { Lab } from "../../src/lab/lab";
import { silentLogger } from "../../src/log";
import { createDeps, type DepsConfig } from "../../src/runtime/deps";
import { uniquePrefix } from "../support/redis";

export interface LabScriptOptions {
  /** The console session's id; the queue prefix is `lab-<sessionId>`, made unique. */
  sessionId: string;
  /** Added to (or replacing) the runtime's configuration: the inventory, shortened timings. */
  deps?: Partial<DepsConfig>;
  /** How long the jobs the script queued may take to settle after its last line (default 60 s). */
  settleMs?: number;
}

export interface LabScriptResult {
  /** All the console printed. */
  out: string;
  /** What settle() found wrong with the queued jobs. */
  problems: unknown[];
  session: ConsoleSession;
}

/** Plays `script` line by line in a console session on `lab`, waits for its jobs, and closes the runtime. */
export async function runLabScript(
  lab: Lab,
  script: string,
  options: LabScriptOptions,
): Promise<LabScriptResult> {
  let out = "";
  const write = (t: string) => {
    out += t;
  };
  const notifier = new ConsoleNotifier(write);
  let session: ConsoleSession | undefined;
  const deps = await createDeps({
    inventory: lab.inventory,
    logger: silentLogger(),
    redisUrl: lab.redisUrl,
    queuePrefix: uniquePrefix(`lab-${options.sessionId}`),
    secretEnv: {},
    notifier,
    groups: new StaticGroupDirectory(),
    onEnqueued: (job) => session?.trackJob(job.jobId),
    ...options.deps,
  });
  session = new ConsoleSession({
    core: deps.core,
    notifier,
    channel: "C0LAB",
    write,
    waitForJob: (id, ms) => deps.jobs.waitForJob(id, ms),
    sessionId: options.sessionId,
    directive: labDirectives(lab.sim),
  });
  let problems: unknown[] = [];
  try {
    await deps.startWorkers().ready();
    for (const line of script.split("\n")) await session.line(line);
    problems = (await session.settle(options.settleMs ?? 60_000)).problems;
  } finally {
    await deps.close();
  }
  return { out, problems, session };
}
