import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { XenopsError } from "../../src/errors";
import { startEmbeddedRedis } from "../../src/queue/embedded-redis";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.setTimeout(500, () => {
      socket.destroy();
      resolve(false);
    });
    socket.on("error", () => resolve(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d) => {
      socket.destroy();
      resolve(d.toString().startsWith("+PONG"));
    });
  });
}

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const parents: string[] = [];
function parentDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "xenops-test-"));
  parents.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of parents.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("embedded redis", () => {
  it("starts on a loopback port, answers commands, stops and cleans up", async () => {
    const dir = parentDir();
    const redis = await startEmbeddedRedis({ dir });
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(readdirSync(dir)).toHaveLength(1);

    const client = createRedisConnection(redis.url, { role: "client" });
    try {
      expect(await client.ping()).toBe("PONG");
      expect(await client.config("GET", "save")).toEqual(["save", ""]);
      expect(await client.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
      expect(await client.config("GET", "protected-mode")).toEqual(["protected-mode", "yes"]);
      expect(await client.config("GET", "bind")).toEqual(["bind", "127.0.0.1"]);
    } finally {
      await closeConnection(client);
    }

    await redis.stop();
    await redis.stop(); // idempotent
    expect(await answersPing(redis.port)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("runs two servers side by side", async () => {
    const [a, b] = await Promise.all([startEmbeddedRedis(), startEmbeddedRedis()]);
    try {
      expect(a.port).not.toBe(b.port);
      expect(await answersPing(a.port)).toBe(true);
      expect(await answersPing(b.port)).toBe(true);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it("names the Debian package when redis-server is missing", async () => {
    const dir = parentDir();
    const err = await startEmbeddedRedis({ dir, binary: "/nonexistent/redis-server" }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(XenopsError);
    expect((err as XenopsError).code).toBe("internal");
    expect((err as XenopsError).message).toMatch(/redis-server/);
    expect((err as XenopsError).message).toMatch(/apt-get install redis-server/);
    expect(readdirSync(dir)).toEqual([]);
  });

  for (const mode of ["exit", "kill"] as const) {
    it(`does not outlive its parent (${mode})`, async () => {
      const dir = parentDir();
      const script = join(import.meta.dirname, "fixtures", "orphan.ts");
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, ["--import", "tsx", script, mode, dir], { timeout: 20_000 }, (err, out) =>
          // SIGKILL of the child is the point of the "kill" case.
          err && mode === "exit" ? reject(err) : resolve(out),
        ),
      );
      const { port } = JSON.parse(stdout.trim()) as { port: number };
      expect(await eventually(async () => !(await answersPing(port)))).toBe(true);
      expect(await eventually(() => readdirSync(dir).length === 0)).toBe(true);
    });
  }
});
