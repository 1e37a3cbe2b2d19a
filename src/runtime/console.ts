/**
 * The console front end (`xenops console`, the lab): lines of `USER: /xen ...`, `click ...` and `form ...`
 * from a script, stdin or an interactive prompt, printed answers and cards, and an exit status from how the
 * jobs it queued ended.
 */
import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { EnqueuedJob } from "../chat/enqueuer";
import { ConsoleNotifier } from "../console/notifier";
import { ConsoleSession } from "../console/session";
import type { Deps } from "./deps";
import { formCoreOf } from "./forms";

export interface ConsoleInput {
  /** Script file, `-` for stdin, or undefined for the interactive console. */
  script?: string | undefined;
  /** The Slack user the interactive console speaks as when a line has no `USER:` prefix. */
  defaultUser?: string | undefined;
  settleTimeoutMs?: number | undefined;
}

export interface ConsoleFrontEnd {
  notifier: ConsoleNotifier;
  /** The deps' `onEnqueued`: the session waits for every job it queued. */
  onEnqueued(job: EnqueuedJob): void;
  /** Opens the session on the deps, in `channel` (the first cluster's). */
  bind(deps: Deps, channel: string, directive?: (text: string) => Promise<string>): void;
  /** Reads the lines, then waits for the jobs: 0, 1 when a job failed or did not finish, 2 on a line's error. */
  run(input: ConsoleInput): Promise<number>;
}

export function createConsoleFrontEnd(write: (text: string) => void): ConsoleFrontEnd {
  const notifier = new ConsoleNotifier(write);
  let session: ConsoleSession | undefined;
  return {
    notifier,
    onEnqueued: (job) => session?.trackJob(job.jobId),
    bind(deps, channel, directive) {
      session = new ConsoleSession({
        core: deps.core,
        notifier,
        channel,
        write,
        waitForJob: (id, ms) => deps.jobs.waitForJob(id, ms),
        sessionId: randomUUID().slice(0, 8),
        ...(directive ? { directive } : {}),
        forms: formCoreOf(deps),
      });
    },
    async run(input) {
      const bound = session as ConsoleSession;
      const source =
        input.script === undefined || input.script === "-"
          ? process.stdin
          : createReadStream(input.script, "utf8");
      const interactive = input.script === undefined && process.stdin.isTTY === true;
      const rl = createInterface({
        input: source,
        terminal: interactive,
        ...(interactive ? { output: process.stdout } : {}),
      });
      if (interactive) {
        write(
          `xenops console: type "<SLACK_USER_ID>: /xen status" (or just "/xen status" as ${input.defaultUser ?? "nobody"}); "click <button>" presses a button; "form action=migrate ..." and "submit" fill the /xen form; Ctrl-D quits.\n`,
        );
        rl.setPrompt("xenops> ");
        rl.prompt();
      }
      for await (const line of rl) {
        await bound.line(line, input.defaultUser);
        if (interactive) rl.prompt();
      }
      const { problems } = await bound.settle(input.settleTimeoutMs);
      for (const p of problems) {
        write(
          p.state === "failed"
            ? `job ${p.jobId} failed: ${p.failedReason}\n`
            : `job ${p.jobId} did not finish in time\n`,
        );
      }
      if (problems.length > 0) return 1;
      return bound.errors > 0 ? 2 : 0;
    },
  };
}
