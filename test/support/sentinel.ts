/**
 * A real Redis Sentinel set-up for tests: a master, a replica and one sentinel (each a redis-server
 * child process on a free loopback port, in one temp directory), so failover is Redis' own.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

export interface SentinelSetup {
  /** `redis-sentinel://127.0.0.1:PORT/NAME`: what xenops is configured with. */
  url: string;
  masterName: string;
  sentinelPort: number;
  ports: { master: number; replica: number };
  /** The master's address as the sentinel sees it now. */
  currentMaster(): Promise<{ host: string; port: number }>;
  /**
   * Stops (SIGSTOP) / continues (SIGCONT) the redis-server on `port`: a replica that is frozen still
   * counts as connected for a while (min-replicas-max-lag) but acknowledges nothing.
   */
  freeze(port: number): void;
  thaw(port: number): void;
  /**
   * `SENTINEL FAILOVER`, then waits until the sentinel names the other server, it is writable and the old
   * master replicates from it.
   */
  failover(timeoutMs?: number): Promise<{ from: number; to: number }>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value (bounded by attempts, not asserted on time). */
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const attempts = Math.max(1, Math.ceil(timeoutMs / 50));
  let last: unknown = null;
  for (let i = 0; i < attempts; i++) {
    try {
      const got = await probe();
      if (got !== null) return got;
    } catch (err) {
      last = err;
    }
    await pause(50);
  }
  throw new Error(`${what} did not happen${last instanceof Error ? ` (last error: ${last.message})` : ""}`);
}

async function command<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on("error", () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

export async function startSentinelSetup(masterName = "xenops"): Promise<SentinelSetup> {
  const dir = mkdtempSync(join(tmpdir(), "xenops-sentinel-"));
  const children: ChildProcess[] = [];
  const [master, replica, sentinelPort] = [await freePort(), await freePort(), await freePort()];
  const byPort = new Map<number, ChildProcess>();
  const server = (args: string[], port?: number) => {
    const child = spawn("redis-server", args, { stdio: "ignore" });
    child.on("error", () => {});
    children.push(child);
    if (port !== undefined) byPort.set(port, child);
  };
  // What an operator sets: a master refuses writes when no replica is connected and fresh (and, after a
  // failover, the promoted server does the same: both get it).
  const common = [
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "yes",
    "--loglevel",
    "warning",
    "--min-replicas-to-write",
    "1",
    "--min-replicas-max-lag",
    "10",
  ];
  server(
    [
      "--port",
      String(master),
      "--dir",
      dir,
      "--appendfilename",
      `m-${master}.aof`,
      "--appenddirname",
      `m-${master}`,
      ...common,
    ],
    master,
  );
  server(
    [
      "--port",
      String(replica),
      "--dir",
      dir,
      "--appendfilename",
      `r-${replica}.aof`,
      "--appenddirname",
      `r-${replica}`,
      ...common,
      "--replicaof",
      "127.0.0.1",
      String(master),
    ],
    replica,
  );
  await until("master start", 10_000, () =>
    command(master, async (r) => ((await r.ping()) === "PONG" ? true : null)),
  );
  await until("replica sync", 10_000, () =>
    command(replica, async (r) =>
      (await r.info("replication")).includes("master_link_status:up") ? true : null,
    ),
  );
  const conf = join(dir, "sentinel.conf");
  writeFileSync(
    conf,
    [
      `port ${sentinelPort}`,
      "bind 127.0.0.1",
      `dir ${dir}`,
      `sentinel monitor ${masterName} 127.0.0.1 ${master} 1`,
      `sentinel down-after-milliseconds ${masterName} 1000`,
      `sentinel failover-timeout ${masterName} 10000`,
      "",
    ].join("\n"),
  );
  server([conf, "--sentinel"]);
  const currentMaster = () =>
    command(sentinelPort, async (r) => {
      const got = (await r.call("SENTINEL", "get-master-addr-by-name", masterName)) as
        | [string, string]
        | null;
      if (!got) throw new Error("the sentinel does not know the master yet");
      return { host: got[0], port: Number(got[1]) };
    });
  await until("sentinel start", 10_000, async () => {
    const replicas = await command(
      sentinelPort,
      (r) => r.call("SENTINEL", "replicas", masterName) as Promise<unknown[]>,
    );
    return replicas.length > 0 ? true : null;
  });
  return {
    url: `redis-sentinel://127.0.0.1:${sentinelPort}/${masterName}`,
    masterName,
    sentinelPort,
    ports: { master, replica },
    currentMaster,
    freeze(port) {
      const child = byPort.get(port);
      if (!child) throw new Error(`no redis-server of this set-up on port ${port}`);
      child.kill("SIGSTOP");
    },
    thaw(port) {
      byPort.get(port)?.kill("SIGCONT");
    },
    async failover(timeoutMs = 20_000) {
      const from = (await currentMaster()).port;
      await until("SENTINEL FAILOVER accepted", timeoutMs, () =>
        command(sentinelPort, async (r) =>
          (await r.call("SENTINEL", "failover", masterName)) === "OK" ? true : null,
        ),
      );
      const to = await until("the failover", timeoutMs, async () => {
        const now = (await currentMaster()).port;
        if (now === from) return null;
        const role = await command(now, async (r) => (await r.info("replication")).includes("role:master"));
        return role ? now : null;
      });
      // Done once the old master follows the new one and has acknowledged (a "good" replica): until then
      // a master with min-replicas-to-write refuses writes (NOREPLICAS), and WAIT is not acknowledged.
      await until("the old master replicating from the new one", timeoutMs, () =>
        command(to, async (r) =>
          (await r.info("replication")).includes("min_slaves_good_slaves:1") ? true : null,
        ),
      );
      return { from, to };
    },
    async stop() {
      for (const c of children) c.kill("SIGCONT");
      for (const c of children) c.kill("SIGKILL");
      await Promise.all(
        children.map((c) =>
          c.exitCode !== null || c.signalCode !== null
            ? Promise.resolve()
            : new Promise((r) => c.once("exit", r)),
        ),
      );
      // A background AOF rewrite forked by a killed server may still be writing here: retry on ENOTEMPTY.
      rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
    },
  };
}
