/**
 * Shutdown and secret files: a job still running when the process closes writes its audit record
 * before the audit log closes (no "audit write failed"), the audit file is created 0600, and a key
 * passphrase file ending in a newline is read like every other secret file.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/log";
import { StaticGroupDirectory } from "../../src/chat/authz";
import type { CommandRunner } from "../../src/command-runner";
import { resolveSecret } from "../../src/config/secrets";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { createDeps } from "../../src/runtime/deps";
import { referenceLab, Simulation } from "../../src/sim";
import { generateKeyPair } from "../../src/ssh/keys";
import { SshPool, sshNodeSettings } from "../../src/ssh/pool";
import { RecordingNotifier } from "../approval/helpers";
import { simInventory, simRunner } from "../events/helpers";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "xenops-shutdown-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function until(predicate: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("shutdown", () => {
  it("lets a running job finish and audit it before the audit log closes", async () => {
    const dir = await tempDir();
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (s: string) => void lines.push(s) });
    const entries = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const sim = new Simulation(referenceLab());
    // The job's first command waits until shutdown has begun.
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let entered = false;
    const gated = (node: string): CommandRunner => {
      const inner = simRunner(sim, node);
      return {
        ...inner,
        async run(argv, options) {
          entered = true;
          await gate;
          return inner.run(argv, options);
        },
      };
    };
    const deps = await createDeps({
      inventory: simInventory(sim),
      logger,
      redisUrl: testRedisUrl(),
      queuePrefix: uniquePrefix("shutdown"),
      secretEnv: {},
      notifier: new RecordingNotifier(),
      groups: new StaticGroupDirectory(),
      runnerFor: (_c, n) => gated(n),
      auditFile: join(dir, "audit.jsonl"),
      shutdownGraceMs: 10_000,
    });
    await deps.startWorkers().ready();
    const reply = await deps.core.command({
      source: "console",
      deliveryId: "shutdown-1",
      teamId: null,
      channelId: "C0LAB",
      userId: "UVIEWER1",
      text: "status",
    });
    expect(reply.text).toMatch(/^Queued as job \d+/);
    await until(() => entered);
    const closed = deps.close();
    // Shutdown has stopped the workers and now waits for the running job: let it go on.
    await until(() => entries().some((e) => e.msg === "shutdown: waiting for running jobs"));
    release();
    await closed;
    const problems = entries().filter((e) => e.msg === "audit write failed");
    expect(problems).toEqual([]);
    const records = (await readFile(join(dir, "audit.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { kind: string; parameters?: { job?: string } });
    expect(records.some((r) => r.kind === "job_finished" && r.parameters?.job === "status")).toBe(true);
  });
});

describe("the audit file", () => {
  it("is created readable by its owner only (0600)", async () => {
    const dir = await tempDir();
    const redis = createRedisConnection(testRedisUrl(), { role: "client" });
    cleanups.push(() => closeConnection(redis));
    const log = new AuditLog({
      redis,
      prefix: uniquePrefix("audit-mode"),
      file: join(dir, "sub", "audit.jsonl"),
    });
    cleanups.push(() => log.close());
    await log.append({ kind: "command", actor: "UVIEWER1", outcome: "ok" });
    expect((await stat(join(dir, "sub", "audit.jsonl"))).mode & 0o777).toBe(0o600);
  });
});

describe("a key passphrase file", () => {
  it("ending in a newline is accepted, like the other secret files", async () => {
    const dir = await tempDir();
    const pair = generateKeyPair("ed25519", { passphrase: "correct horse" });
    await writeFile(join(dir, "id"), pair.privateKey, { mode: 0o600 });
    await writeFile(join(dir, "pass"), "correct horse\n", { mode: 0o600 });
    const inventory = simInventory(new Simulation(referenceLab()));
    const node = inventory.clusters[0]?.nodes[0];
    if (!node) throw new Error("no node");
    const privateKey = await resolveSecret({ file: join(dir, "id") }, {}, "key");
    const passphrase = await resolveSecret({ file: join(dir, "pass") }, {}, "passphrase");
    const pool = new SshPool({
      nodes: [sshNodeSettings(node, { privateKey, passphrase })],
      logger: pino({ level: "silent" }),
    });
    cleanups.push(() => pool.close());
    expect(pool.isClosed).toBe(false);
    // A wrong passphrase is still refused at once.
    expect(
      () =>
        new SshPool({
          nodes: [sshNodeSettings(node, { privateKey, passphrase: "wrong\n" })],
          logger: pino({ level: "silent" }),
        }),
    ).toThrow(/cannot read private key/);
  });
});
