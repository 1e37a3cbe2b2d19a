/**
 * examples/drbd-watch.txt in the lab console, step by step: a resync started with `!sim`,
 * `/xen drbd watch internet` advancing one message to UpToDate/UpToDate with edits at least 3 s apart,
 * `/xen cancel` refused for another operator and stopping a running watch for its requester,
 * and `/xen history` showing what happened; then `xenops audit verify` passes on the lab's audit file.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAuditFile } from "../../src/audit/read";
import { readRuntimeEnv } from "../../src/config/env";
import { labDirectives } from "../../src/lab/directives";
import { type Lab, startLab } from "../../src/lab/lab";
import { runConsole } from "../../src/runtime/modes";
import { repoRoot } from "../support/fixtures";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const logger = pino({ level: process.env.E2E_LOG_LEVEL ?? "silent" });
let lab: Lab;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "xenops-e2e-watch-console-"));
  lab = await startLab({ redisUrl: testRedisUrl(), logger });
});

afterAll(async () => {
  await lab?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Each printed version of a message: "new" then "updated", with the time it was printed. */
function versions(out: { at: number; text: string }[], ts: string) {
  return out.filter(
    (o) => o.text.startsWith(`--- new message ${ts} `) || o.text.startsWith(`--- updated message ${ts} `),
  );
}

describe("examples/drbd-watch.txt in the lab console", () => {
  it("watches a resync to UpToDate/UpToDate in one message, cancels a watch, shows the history", async () => {
    const out: { at: number; text: string }[] = [];
    const auditFile = join(dir, "audit.jsonl");
    const code = await runConsole(
      {
        inventory: lab.inventory,
        env: readRuntimeEnv({
          XENOPS_QUEUE_PREFIX: uniquePrefix("e2e-watch-console"),
          XENOPS_AUDIT_FILE: auditFile,
        }),
        secretEnv: {},
        logger,
        redisUrl: lab.redisUrl,
      },
      {
        script: join(repoRoot, "examples", "drbd-watch.txt"),
        write: (text) => out.push({ at: Date.now(), text }),
        directive: labDirectives(lab.sim),
        settleTimeoutMs: 20_000,
      },
    );
    const all = out.map((o) => o.text).join("");
    expect(code).toBe(0);
    expect(all).toContain("--- lab: resync of internet from ics2 to ics1 started: 80.0 MiB at 10.0 MiB/s");

    // Job 1: one message, queued → running with a progress bar → done, in sync.
    const first = /^--- new message (\S+) in C0LAB\n {2}DRBD watch: internet in lab · job 1$/m.exec(all)?.[1];
    expect(first).toBeDefined();
    const v1 = versions(out, first!);
    expect(v1[0]!.text).toContain(":hourglass_flowing_sand: Queued");
    expect(
      v1.some((v) =>
        /\[█+░+\] +\d+\.\d%` · 10\.0 MiB\/s · ETA \d+\.\ds · [\d.]+ MiB out of sync/.test(v.text),
      ),
    ).toBe(true);
    const last = v1.at(-1)!.text;
    expect(last).toMatch(
      /:white_check_mark: Done in .*: internet is Connected and UpToDate\/UpToDate, nothing out of sync/,
    );
    // Few edits for an 8 s resync (the 3 s spacing itself is asserted on test time in
    // test/jobs/drbd-watch.test.ts; a slow machine only makes fewer edits).
    const edits = v1.slice(1);
    expect(edits.length).toBeLessThanOrEqual(4);

    // Job 2: refused for another operator, cancelled by its requester.
    expect(all).toContain("Only the requester (@UOPER1), approvers and admins may cancel job 2.");
    expect(all).toMatch(/Cancelling job 2 \(DRBD watch: internet in lab\): its worker was told to stop/);
    expect(all).toMatch(
      /DRBD watch: internet in lab · job 2\n {2}:no_entry_sign: Cancelled by @UOPER1 after/,
    );

    // History, from the audit log, printed from its document: people as @ID, no Slack markup.
    const history = all.slice(all.indexOf("Audit log: last"));
    expect(history).toMatch(/^Audit log: last \d+ records \(verify with `xenops audit verify`\)/);
    expect(history).toMatch(/ @UOPER1 · command `\/xen drbd watch internet` → ok · job 2/);
    expect(history).toMatch(/ @UOPER2 · refusal `\/xen cancel 2` → refused/);
    expect(history).toMatch(/ @UOPER1 · action `\/xen cancel 2` → ok · job 2/);
    expect(history).toMatch(/job cancelled: drbd-watch in [\d.]+s → cancelled · job 2/);
    expect(history).not.toContain("<@U");

    expect(await verifyAuditFile(auditFile)).toMatchObject({ ok: true });
  }, 60_000);
});
