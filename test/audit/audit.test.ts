import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  AuditLog,
  type AuditRecord,
  auditKeys,
  CSV_COLUMNS,
  canonicalJson,
  exportAudit,
  GENESIS_HASH,
  recentAudit,
  recordHash,
  verifyAuditFile,
  verifyAuditStream,
} from "../../src/audit";
import { XenopsError } from "../../src/errors";
import { closeConnection, createRedisConnection, openConnectionCount } from "../../src/queue/redis";
import { testRedisUrl, uniquePrefix } from "../support/redis";

let dir: string;
let redis: Redis;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "xenops-audit-"));
  redis = createRedisConnection(testRedisUrl(), { role: "client" });
});
afterAll(async () => {
  await closeConnection(redis);
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  // Only the shared reader stays open: every log's connection was closed after it.
  expect(openConnectionCount()).toBe(1);
});

/** A clock that ticks one second per call from 2024-05-01T00:00:00Z. */
function tickingClock(start = Date.parse("2024-05-01T00:00:00Z")) {
  let t = start;
  return () => {
    const d = new Date(t);
    t += 1_000;
    return d;
  };
}

function newLog(name: string, options: { file?: string; prefix?: string; clock?: () => Date } = {}) {
  const prefix = options.prefix ?? uniquePrefix(name);
  const file = options.file ?? join(dir, `${prefix}.jsonl`);
  // A connection of its own, as each process has: the two-writer tests race two of them.
  const own = createRedisConnection(testRedisUrl(), { role: "client", name: "xenops:audit" });
  const log = new AuditLog({ redis: own, prefix, file, now: options.clock ?? tickingClock() });
  cleanups.push(async () => {
    await log.close();
    await closeConnection(own);
  });
  return { log, prefix, file };
}

const FP = `SHA256:${"A".repeat(43)}`;

function entry(i: number) {
  return {
    kind: "job_finished" as const,
    actor: i % 2 ? "U0123ABC" : "system",
    cluster: "prod",
    command: `/xen migrate web${i} to node2`,
    parameters: { guest: `web${i}`, to: "node2", live: true },
    plan: [{ node: "node1", argv: ["xl", "migrate", `web${i}`, "node2"] }],
    stateHash: "abc123",
    hostKeys: { node1: FP },
    exitCodes: [0],
    stepDurationsMs: [1200],
    durationMs: 1300,
    outcome: "ok" as const,
    jobId: `migrate-${i}`,
  };
}

async function appendMany(log: AuditLog, n: number): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for (let i = 1; i <= n; i++) records.push(await log.append(entry(i)));
  return records;
}

async function lines(file: string): Promise<string[]> {
  return (await readFile(file, "utf8")).split("\n").filter((l) => l !== "");
}

function collect(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { stream, text: () => chunks.join("") };
}

describe("canonical hashing", () => {
  it("ignores key order and undefined members, at every depth", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"y":2,"z":1}]},"b":1}',
    );
    expect(recordHash({ x: 1, y: 2, hash: "ignored" })).toBe(recordHash({ y: 2, x: 1 }));
  });
});

describe("AuditLog", () => {
  it("chains 100 appends into a file and a stream that both verify", async () => {
    const { log, prefix, file } = newLog("chain100");
    const records = await appendMany(log, 100);

    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(records[0]?.prevHash).toBe(GENESIS_HASH);
    expect(records[1]?.prevHash).toBe(records[0]?.hash);
    expect(records[0]?.time).toBe("2024-05-01T00:00:00.000Z");

    const fromFile = await verifyAuditFile(file);
    expect(fromFile).toEqual({ ok: true, records: 100, lastSeq: 100, problems: [] });
    const fromStream = await verifyAuditStream(redis, prefix);
    expect(fromStream).toEqual({ ok: true, records: 100, lastSeq: 100, problems: [] });

    // The file line and the stream entry are the same record.
    const [first] = await lines(file);
    const [[, fields] = ["", []]] = await redis.xrange(auditKeys(prefix).stream, "-", "+", "COUNT", 1);
    expect(fields).toEqual(["seq", "1", "hash", records[0]?.hash, "record", first]);
    expect(await log.head()).toEqual({ seq: 100, hash: records[99]?.hash });

    const recent = await recentAudit(redis, prefix, 3);
    expect(recent.map((r) => r.seq)).toEqual([98, 99, 100]);
    expect(recent[2]).toEqual(records[99]);
  });

  it("keeps one chain when two processes append concurrently", async () => {
    const prefix = uniquePrefix("concurrent");
    const file = join(dir, `${prefix}.jsonl`);
    // Two logs, each with its own Redis connection, as two bot processes would have.
    const a = newLog("a", { prefix, file }).log;
    const b = newLog("b", { prefix, file }).log;
    const appended = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        (i % 2 ? a : b).append({ kind: "command", actor: i % 2 ? "UA" : "UB", command: `/xen status ${i}` }),
      ),
    );

    expect(appended.map((r) => r.seq).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, records: 60, lastSeq: 60 });
    expect(await verifyAuditStream(redis, prefix)).toMatchObject({ ok: true, records: 60, lastSeq: 60 });
    const actors = new Set((await lines(file)).map((l) => JSON.parse(l).actor));
    expect(actors).toEqual(new Set(["UA", "UB"]));
  });

  it("commits appends queued meanwhile together, in the order they were made", async () => {
    const prefix = uniquePrefix("group");
    const file = join(dir, `${prefix}.jsonl`);
    const conn = createRedisConnection(testRedisUrl(), { role: "client" });
    cleanups.push(() => closeConnection(conn));
    let commits = 0;
    const counting = new Proxy(conn, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (prop !== "eval") return typeof value === "function" ? value.bind(target) : value;
        return (...args: Parameters<Redis["eval"]>) => {
          if (String(args[0]).includes("XADD")) commits += 1;
          return target.eval(...args);
        };
      },
    });
    const log = new AuditLog({ redis: counting, prefix, file, now: tickingClock() });
    cleanups.push(() => log.close());

    // A burst, as 150 slash commands at once: the first goes alone, the others wait for it and then go in
    // batches of at most 100.
    const records = await Promise.all(Array.from({ length: 150 }, (_, i) => log.append(entry(i + 1))));

    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    expect(records.map((r) => r.jobId)).toEqual(Array.from({ length: 150 }, (_, i) => `migrate-${i + 1}`));
    expect(commits).toBe(3);
    expect(await verifyAuditFile(file)).toEqual({ ok: true, records: 150, lastSeq: 150, problems: [] });
    expect(await verifyAuditStream(redis, prefix)).toEqual({
      ok: true,
      records: 150,
      lastSeq: 150,
      problems: [],
    });
    expect((await lines(file)).map((l) => JSON.parse(l).seq)).toEqual(records.map((r) => r.seq));
  });

  it("fails every append of a batch that could not be committed, and goes on with the next", async () => {
    const prefix = uniquePrefix("group-fail");
    const file = join(dir, `${prefix}.jsonl`);
    const conn = createRedisConnection(testRedisUrl(), { role: "client" });
    cleanups.push(() => closeConnection(conn));
    let commits = 0;
    const failing = new Proxy(conn, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (prop !== "eval") return typeof value === "function" ? value.bind(target) : value;
        return (...args: Parameters<Redis["eval"]>) => {
          // The third commit (the batch of entries 3 and 4) is lost with its connection.
          if (String(args[0]).includes("XADD") && ++commits === 3)
            return Promise.reject(new Error("connection lost"));
          return target.eval(...args);
        };
      },
    });
    const log = new AuditLog({ redis: failing, prefix, file, now: tickingClock() });
    cleanups.push(() => log.close());

    const first = await log.append(entry(1));
    // Entry 2 goes alone; 3 and 4 wait for it and go together.
    const settled = await Promise.allSettled([
      log.append(entry(2)),
      log.append(entry(3)),
      log.append(entry(4)),
    ]);
    const after = await log.append(entry(5));

    expect(settled.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected"]);
    const second = settled[0]?.status === "fulfilled" ? settled[0].value : null;
    expect(second).toMatchObject({ seq: 2, prevHash: first.hash });
    expect(settled[1]?.status === "rejected" && settled[1].reason).toBeInstanceOf(XenopsError);
    // Nothing of the failed batch reached the chain: the next record follows entry 2.
    expect(after).toMatchObject({ seq: 3, prevHash: second?.hash, jobId: "migrate-5" });
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, records: 3, lastSeq: 3 });
    expect(await verifyAuditStream(redis, prefix)).toMatchObject({ ok: true, records: 3, lastSeq: 3 });
  });

  it("never forks the chain when a stalled writer outlives its lock", async () => {
    const prefix = uniquePrefix("stall");
    const file = join(dir, `${prefix}.jsonl`);
    // Writer A's connection stalls before its commit until B has committed: longer than A's 20 ms lock,
    // which expires in Redis meanwhile (B waits for that itself, polling the lock).
    const conn = createRedisConnection(testRedisUrl(), { role: "client" });
    cleanups.push(() => closeConnection(conn));
    let stalls = 0;
    let aStalled!: () => void;
    const stalled = new Promise<void>((r) => {
      aStalled = r;
    });
    let releaseA!: () => void;
    const released = new Promise<void>((r) => {
      releaseA = r;
    });
    const stalling = new Proxy(conn, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (prop !== "eval") return typeof value === "function" ? value.bind(target) : value;
        return async (...args: Parameters<Redis["eval"]>) => {
          if (String(args[0]).includes("XADD") && stalls++ === 0) {
            aStalled();
            await released;
          }
          return target.eval(...args);
        };
      },
    });
    const a = new AuditLog({ redis: stalling, prefix, file, lockTtlMs: 20 });
    cleanups.push(() => a.close());
    const { log: b } = newLog("b", { prefix, file });

    const fromA = a.append({ kind: "system", actor: "system", command: "from A" });
    await stalled;
    const fromB = await b.append({ kind: "system", actor: "system", command: "from B" });
    releaseA();
    const late = await fromA;

    // B took the expired lock and committed first; A's compare-and-set failed and A rebuilt on B's record.
    expect(fromB.seq).toBe(1);
    expect(late).toMatchObject({ seq: 2, prevHash: fromB.hash, command: "from A" });
    expect(stalls).toBe(2);
    expect(await verifyAuditStream(redis, prefix)).toMatchObject({ ok: true, records: 2 });
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, records: 2 });
  });

  it("redacts secret-looking parameters before hashing and writing", async () => {
    const { log, file } = newLog("secrets");
    const record = await log.append({
      kind: "command",
      actor: "U1",
      command: "/xen fence node2",
      parameters: {
        node: "node2",
        password: "hunter2",
        ipmi: { user: "admin", ipmiPassword: "s3cret-ipmi", apiToken: "xoxb-123" },
        keys: [{ privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----" }, { client_secret: "cs" }],
      },
    });

    expect(record.parameters).toEqual({
      node: "node2",
      password: "[redacted]",
      ipmi: { user: "admin", ipmiPassword: "[redacted]", apiToken: "[redacted]" },
      keys: [{ privateKey: "[redacted]" }, { client_secret: "[redacted]" }],
    });
    const text = await readFile(file, "utf8");
    for (const secret of ["hunter2", "s3cret-ipmi", "xoxb-123", "BEGIN OPENSSH", '"cs"'])
      expect(text).not.toContain(secret);
    expect((await verifyAuditFile(file)).ok).toBe(true);
  });

  it("rejects malformed entries without touching the chain", async () => {
    const { log, prefix } = newLog("malformed");
    const bad = { kind: "command", actor: "U1", comand: "typo" } as unknown as Parameters<
      AuditLog["append"]
    >[0];
    await expect(log.append(bad)).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(log.append({ kind: "command", actor: "" })).rejects.toBeInstanceOf(XenopsError);
    await expect(
      log.append({ kind: "action", actor: "U1", hostKeys: { node1: "MD5:aa:bb" } }),
    ).rejects.toThrow(/hostKeys/);
    expect(await log.head()).toEqual({ seq: 0, hash: GENESIS_HASH });
    expect((await log.append({ kind: "command", actor: "U1" })).seq).toBe(1);
    expect((await verifyAuditStream(redis, prefix)).ok).toBe(true);
  });

  it("continues the file's chain when Redis holds none (fresh or flushed Redis)", async () => {
    const { log, file } = newLog("seed-first");
    await appendMany(log, 5);
    // Another deployment prefix stands in for an empty Redis with the same file.
    const { log: again, prefix } = newLog("seed-second", { file });
    const next = await again.append(entry(6));

    expect(next.seq).toBe(6);
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, records: 6 });
    // The stream of the new prefix only holds the continuation: it says the start is missing.
    const stream = await verifyAuditStream(redis, prefix);
    expect(stream.problems).toEqual([
      expect.objectContaining({
        seq: 1,
        problem: "missing record",
        detail: "seqs 1-5 are missing before seq 6",
      }),
    ]);
  });

  it("refuses to continue from a file whose last line is not a record", async () => {
    const file = join(dir, "torn.jsonl");
    await writeFile(file, '{"seq":1,"ti');
    const { log } = newLog("torn", { file });
    await expect(log.append(entry(1))).rejects.toThrow(/last line of .*torn\.jsonl is not an audit record/);
  });
});

describe("verification", () => {
  async function chainFile(name: string, n = 10) {
    const { log, file, prefix } = newLog(name);
    const records = await appendMany(log, n);
    return { file, prefix, records, rows: await lines(file) };
  }

  it("names an edited record", async () => {
    const { file, rows } = await chainFile("edit");
    const edited = JSON.parse(rows[6] as string);
    edited.actor = "U0EVIL";
    rows[6] = JSON.stringify(edited);
    await writeFile(file, `${rows.join("\n")}\n`);

    const result = await verifyAuditFile(file);
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([
      { seq: 7, line: 7, problem: "hash mismatch", detail: "record seq 7 was altered after it was written" },
    ]);
  });

  it("names the successor of a record that was edited and re-hashed", async () => {
    const { file, rows } = await chainFile("rehash");
    const edited = JSON.parse(rows[3] as string);
    edited.outcome = "failed";
    edited.hash = recordHash(edited);
    rows[3] = JSON.stringify(edited);
    await writeFile(file, `${rows.join("\n")}\n`);

    const { problems } = await verifyAuditFile(file);
    expect(problems).toEqual([expect.objectContaining({ seq: 5, line: 5, problem: "broken chain" })]);
    expect(problems[0]?.detail).toMatch(/not the hash of seq 4 \(line 4\)/);
  });

  it("names the gap left by a deleted line", async () => {
    const { file, rows } = await chainFile("delete");
    rows.splice(4, 2); // seqs 5 and 6
    await writeFile(file, `${rows.join("\n")}\n`);

    const result = await verifyAuditFile(file);
    expect(result).toMatchObject({ ok: false, records: 8, lastSeq: 10 });
    expect(result.problems).toEqual([
      { seq: 5, line: 5, problem: "missing record", detail: "seqs 5-6 are missing before seq 7" },
    ]);
  });

  it("names a reordered record", async () => {
    const { file, rows } = await chainFile("reorder");
    [rows[2], rows[3]] = [rows[3] as string, rows[2] as string];
    await writeFile(file, `${rows.join("\n")}\n`);

    expect((await verifyAuditFile(file)).problems).toEqual([
      { seq: 3, line: 4, problem: "out of order", detail: "seq 3 comes after seq 4 (line 3)" },
    ]);
  });

  it("reports unreadable lines, duplicates, and records cut from the end against the head", async () => {
    const { file, rows, records } = await chainFile("mixed");
    rows.splice(8, 2); // drop seqs 9 and 10 (the tail)
    rows.splice(2, 0, "not json {"); // line 3
    rows.push(rows[1] as string); // seq 2 again at the end
    await writeFile(file, `${rows.join("\n")}\n`);

    const last = records.at(-1) as AuditRecord;
    const result = await verifyAuditFile(file, { expectedHead: { seq: last.seq, hash: last.hash } });
    expect(result.problems.map((p) => [p.seq, p.line, p.problem])).toEqual([
      [null, 3, "bad json"],
      [2, 10, "duplicate record"],
      [9, 11, "missing record"],
    ]);
    expect(result.problems[2]?.detail).toBe("seqs 9-10 are missing at the end (the chain head is seq 10)");
  });

  it("names a record deleted from the stream", async () => {
    const { prefix } = await chainFile("stream-delete", 5);
    const entries = await redis.xrange(auditKeys(prefix).stream, "-", "+");
    const third = entries[2]?.[0] as string;
    await redis.xdel(auditKeys(prefix).stream, third);

    const result = await verifyAuditStream(redis, prefix);
    expect(result.problems).toEqual([
      {
        seq: 3,
        line: 3,
        id: entries[3]?.[0],
        problem: "missing record",
        detail: "seq 3 is missing before seq 4",
      },
    ]);
  });
});

describe("export", () => {
  it("writes JSON lines that still verify, and filters by --since", async () => {
    const { log, file } = newLog("export-jsonl");
    await appendMany(log, 10); // times 00:00:00 .. 00:00:09

    const all = collect();
    expect(await exportAudit({ source: { file }, format: "jsonl", out: all.stream })).toEqual({
      exported: 10,
      skipped: 0,
    });
    const copy = join(dir, "export-copy.jsonl");
    await writeFile(copy, all.text());
    expect((await verifyAuditFile(copy)).ok).toBe(true);

    const recent = collect();
    const since = new Date("2024-05-01T00:00:07Z");
    await exportAudit({ source: { file }, format: "jsonl", since, out: recent.stream });
    expect(
      recent
        .text()
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).seq),
    ).toEqual([8, 9, 10]);
  });

  it("writes RFC 4180 CSV with a header, from the stream too", async () => {
    const { log, prefix } = newLog("export-csv");
    await log.append({
      kind: "refusal",
      actor: "U9",
      command: '/xen fence node2 --reason "disk, dead"',
      outcome: "refused",
      error: { code: "forbidden", message: "not on call" },
    });
    await log.append(entry(2));

    const out = collect();
    const result = await exportAudit({ source: { redis, prefix }, format: "csv", out: out.stream });
    expect(result.exported).toBe(2);
    const [header, first, second] = out.text().split("\r\n");
    expect(header).toBe(CSV_COLUMNS.join(","));
    expect(first).toMatch(
      /^1,2024-05-01T00:00:00.000Z,refusal,U9,,"\/xen fence node2 --reason ""disk, dead""",refused,/,
    );
    expect(first).toContain('"{""code"":""forbidden"",""message"":""not on call""}"');
    expect(second).toContain(`"[{""node"":""node1"",""argv"":[""xl"",""migrate"",""web2"",""node2""]}]"`);
  });
});
