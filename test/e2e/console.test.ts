/**
 * The console front end end to end: `npx tsx src/lab/main.ts --script FILE` as a user runs it (its own
 * lab: simulated cluster over SSH, worker; Redis from REDIS_URL), and runConsole in-process against
 * one lab for the faster variants.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRuntimeEnv } from "../../src/config/env";
import { type Lab, startLab } from "../../src/lab/lab";
import { runConsole } from "../../src/runtime/modes";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const logger = pino({ level: process.env.E2E_LOG_LEVEL ?? "silent" });
const ROOT = join(import.meta.dirname, "..", "..");

let dir: string;

async function script(name: string, lines: string[]): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, `${lines.join("\n")}\n`);
  return file;
}

function runLab(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", ["tsx", "src/lab/main.ts", "--script", file], {
      cwd: ROOT,
      env: {
        ...process.env,
        REDIS_URL: testRedisUrl(),
        LOG_LEVEL: "warn",
        XENOPS_AUDIT_FILE: join(dir, `audit-${Math.random().toString(36).slice(2)}.jsonl`),
        // Console mode even if the developer's shell has Slack tokens.
        SLACK_BOT_TOKEN: "",
        SLACK_APP_TOKEN: "",
        XENOPS_QUEUE_PREFIX: uniquePrefix("e2e-console"),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("utf8");
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 25_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The text of the last version of the status card the console printed, split per node. */
function printedCard(stdout: string): { all: string; nodes: Map<string, string> } {
  const start = stdout.lastIndexOf("--- updated message");
  const all = start >= 0 ? stdout.slice(start) : "";
  const nodes = new Map<string, string>();
  for (const part of all.split(/^ {2}----$/m).slice(1)) {
    const name = /^ {2}(\S+) :/m.exec(part)?.[1];
    if (name) nodes.set(name, part);
  }
  return { all, nodes };
}

function expectHealthyReferenceCard(stdout: string): void {
  const { all, nodes } = printedCard(stdout);
  expect(all).toContain("2/2 nodes reachable");
  expect([...nodes.keys()]).toEqual(["ics1", "ics2"]);
  const ics1 = nodes.get("ics1") ?? "";
  const ics2 = nodes.get("ics2") ?? "";
  expect(ics2).toMatch(/^ {2}internet\s+\d+\s+3070\s+2\s/m);
  expect(ics1).not.toMatch(/^ {2}internet\s+\d+/m);
  expect(ics2).toMatch(/^ {2}internet\s+peer\s+Connected\s+Primary\/Secondary\s+UpToDate\/UpToDate/m);
  expect(ics1).toMatch(/^ {2}internet\s+peer\s+Connected\s+Secondary\/Primary\s+UpToDate\/UpToDate/m);
}

describe("console script mode (npm run lab -- --script FILE)", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "xenops-e2e-console-"));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.concurrent("prints the card for ics1 and ics2 and exits 0", async () => {
    const file = await script("status.txt", ["# a comment", "UVIEWER1: /xen status"]);
    const { code, stdout, stderr } = await runLab(file);
    expect(stderr).toMatch(
      /lab: cluster "lab" \(ics1 ssh:\/\/127\.0\.0\.1:\d+, ics2 ssh:\/\/127\.0\.0\.1:\d+\)/,
    );
    expect(stdout).toContain(">>> UVIEWER1: /xen status");
    expect(stdout).toMatch(/Queued as job \d+: status of lab\./);
    expectHealthyReferenceCard(stdout);
    expect(code).toBe(0);
  });

  it.concurrent("exits non-zero on a malformed line and says what to fix", async () => {
    const file = await script("bad.txt", ["UVIEWER1: xen status"]);
    const { code, stdout } = await runLab(file);
    expect(stdout).toContain('line 1: expected "/xen <verb> ..." or "click <button text>" after "UVIEWER1:"');
    expect(code).not.toBe(0);
  });

  it.concurrent("exits non-zero when the script file does not exist", async () => {
    const { code, stderr } = await runLab(join(dir, "missing.txt"));
    expect(stderr).toContain(`lab: script file not found: ${join(dir, "missing.txt")}`);
    expect(code).toBe(1);
  });
});

describe("runConsole in-process against one lab", () => {
  let lab: Lab;
  let localDir: string;

  beforeAll(async () => {
    localDir = await mkdtemp(join(tmpdir(), "xenops-e2e-console-inproc-"));
    lab = await startLab({ redisUrl: testRedisUrl(), logger, commandTimeoutMs: 1500 });
  });

  afterAll(async () => {
    await lab?.close();
    await rm(localDir, { recursive: true, force: true });
  });

  async function run(lines: string[]): Promise<{ code: number; out: string }> {
    const file = join(localDir, `script-${Math.random().toString(36).slice(2)}.txt`);
    await writeFile(file, `${lines.join("\n")}\n`);
    let out = "";
    const code = await runConsole(
      {
        inventory: lab.inventory,
        env: readRuntimeEnv({
          XENOPS_QUEUE_PREFIX: uniquePrefix("e2e-console-inproc"),
          XENOPS_AUDIT_FILE: join(localDir, "audit.jsonl"),
        }),
        secretEnv: {},
        logger,
        redisUrl: lab.redisUrl,
      },
      {
        script: file,
        write: (t) => {
          out += t;
        },
        settleTimeoutMs: 15_000,
      },
    );
    return { code, out };
  }

  it("runs a status script to the card and returns 0", async () => {
    const { code, out } = await run(["UVIEWER1: /xen status"]);
    // The job's message is posted into the lab channel, then edited into the card.
    expect(out).toMatch(/^--- new message (\d+\.\d+) in C0LAB$/m);
    const ts = /^--- new message (\d+\.\d+) in C0LAB$/m.exec(out)?.[1];
    expect(out).toContain(`--- updated message ${ts} in C0LAB`);
    expectHealthyReferenceCard(out);
    expect(code).toBe(0);
  });

  it("refuses a user without a role and still returns 0 (the line ran)", async () => {
    const { code, out } = await run(["UNOBODY: /xen status"]);
    expect(out).toMatch(/needs the \*viewer\* role/);
    expect(out).not.toContain("--- new message");
    expect(code).toBe(0);
  });

  it("returns 2 for a malformed line and names the line", async () => {
    const { code, out } = await run(["UVIEWER1: /xen status", "UVIEWER1: status please"]);
    expect(out).toContain('line 2: expected "/xen <verb> ..." or "click <button text>" after "UVIEWER1:"');
    expect(code).toBe(2);
  });

  it("shows an unreachable node when one is down", async () => {
    lab.sim.faults.nodeDown("ics1");
    await lab.sim.settled();
    try {
      const { code, out } = await run(["UVIEWER1: /xen status"]);
      const { all, nodes } = printedCard(out);
      expect(all).toContain("1/2 nodes reachable");
      expect(nodes.get("ics1")).toMatch(/:red_circle: unreachable: ssh_connect_failed: .*refused/);
      expect(nodes.get("ics2")).toMatch(/:large_green_circle: reachable/);
      expect(code).toBe(0);
    } finally {
      lab.sim.faults.heal();
      await lab.sim.settled();
    }
  });
});
