import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit";
import { runAuditExport, runAuditVerify } from "../../src/cli/audit";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
const TSX = join(ROOT, "node_modules/.bin/tsx");

let dir: string;
let good: string;
let tampered: string;
let prefix: string;

function sink() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { stream, text: () => chunks.join("") };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "xenops-audit-cli-"));
  good = join(dir, "good.jsonl");
  prefix = uniquePrefix("audit-cli");
  let t = Date.parse("2024-05-01T00:00:00Z");
  const redis = createRedisConnection(testRedisUrl(), { role: "client", name: "xenops:audit" });
  const log = new AuditLog({
    redis,
    prefix,
    file: good,
    now: () => {
      t += 60_000;
      return new Date(t);
    },
  });
  for (let i = 1; i <= 6; i++)
    await log.append({ kind: "command", actor: "U1", cluster: "prod", command: `/xen status ${i}` });
  await log.close();
  await closeConnection(redis);
  // seq 2 edited, seq 5 removed.
  const rows = (await readFile(good, "utf8")).trim().split("\n");
  rows[1] = (rows[1] as string).replace("/xen status 2", "/xen status 22");
  rows.splice(4, 1);
  tampered = join(dir, "tampered.jsonl");
  await writeFile(tampered, `${rows.join("\n")}\n`);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("audit verify", () => {
  it("exits 0 on an intact file and on the Redis stream", async () => {
    const out = sink();
    const err = sink();
    expect(await runAuditVerify({ file: good }, out.stream, err.stream)).toBe(0);
    expect(out.text()).toBe(`${good}: OK, 6 records\n`);
    expect(await runAuditVerify({ redisUrl: testRedisUrl(), prefix }, out.stream, err.stream)).toBe(0);
    expect(out.text()).toContain(`redis stream ${prefix}:audit: OK, 6 records`);
    expect(err.text()).toBe("");
  });

  it("exits 1 and lists one problem per line", async () => {
    const out = sink();
    const err = sink();
    expect(await runAuditVerify({ file: tampered }, out.stream, err.stream)).toBe(1);
    expect(out.text().trimEnd().split("\n")).toEqual([
      "seq 2 line 2: hash mismatch: record seq 2 was altered after it was written",
      "seq 5 line 5: missing record: seq 5 is missing before seq 6",
    ]);
    expect(err.text()).toContain("2 problems");
  });

  it("exits 2 when the log cannot be read", async () => {
    const err = sink();
    expect(await runAuditVerify({ file: join(dir, "nope.jsonl") }, sink().stream, err.stream)).toBe(2);
    expect(err.text()).toMatch(/cannot verify .*nope\.jsonl: .*ENOENT/);
  });
});

describe("audit export", () => {
  it("exports CSV since a time and rejects a bad --since", async () => {
    const out = sink();
    const err = sink();
    const since = "2024-05-01T00:05:00Z"; // records are at minutes 1..6
    expect(await runAuditExport({ file: good }, { format: "csv", since }, out.stream, err.stream)).toBe(0);
    const rows = out.text().trimEnd().split("\r\n");
    expect(rows).toHaveLength(3);
    expect(rows.slice(1).map((r) => r.split(",")[0])).toEqual(["5", "6"]);

    expect(
      await runAuditExport({ file: good }, { format: "csv", since: "yesterday" }, sink().stream, err.stream),
    ).toBe(2);
    expect(err.text()).toContain('--since: not a date: "yesterday"');
  });
});

describe("xenops audit (process)", () => {
  const env = { ...process.env, XENOPS_AUDIT_FILE: "", LOG_LEVEL: "silent" };

  it("exits 0 and 1 from the real command line", async () => {
    const ok = await run(TSX, ["src/cli/main.ts", "audit", "verify", "--file", good], { cwd: ROOT, env });
    expect(ok.stdout).toContain("OK, 6 records");
    const failed = await run(TSX, ["src/cli/main.ts", "audit", "verify", "--file", tampered], {
      cwd: ROOT,
      env,
    }).catch((e: { code: number; stdout: string }) => e);
    expect(failed).toMatchObject({ code: 1 });
    expect((failed as { stdout: string }).stdout).toContain("seq 5 line 5: missing record");
  });

  it("reads the file named by XENOPS_AUDIT_FILE", async () => {
    const { stdout } = await run(TSX, ["src/cli/main.ts", "audit", "export", "--format", "jsonl"], {
      cwd: ROOT,
      env: { ...env, XENOPS_AUDIT_FILE: good },
    });
    expect(
      stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).seq),
    ).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
