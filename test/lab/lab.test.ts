/** startLab: what the lab hands to the runtime, and that close() takes everything down. */
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { InventoryConfig } from "../../src/config/schema";
import { LAB_CHANNEL, LAB_ROLES, startLab } from "../../src/lab/lab";
import { modernLab } from "../../src/sim";
import { testRedisUrl } from "../support/redis";

const logger = pino({ level: "silent" });

/** Resolves true when something accepts a TCP connection on the loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("startLab", () => {
  it("serves the reference lab with a valid inventory and a private key file, and cleans up", async () => {
    const lab = await startLab({ redisUrl: testRedisUrl(), logger });
    let closed = false;
    try {
      expect(lab.redisUrl).toBe(testRedisUrl());
      expect(InventoryConfig.parse(lab.inventory)).toEqual(lab.inventory);
      const [cluster] = lab.inventory.clusters;
      expect(cluster?.name).toBe("lab");
      expect(cluster?.channels).toEqual([LAB_CHANNEL]);
      expect(cluster?.toolstack).toMatchObject({ hypervisor: "xm", drbd: 8, ha: "heartbeat" });
      expect(cluster?.commandTimeoutMs).toBe(15_000);
      expect(lab.inventory.roles.viewer.users).toEqual(LAB_ROLES.viewer.users);
      expect(lab.inventory.oncall.users).toEqual(["UADMIN1"]);
      expect(cluster?.nodes.map((n) => n.name)).toEqual(["ics1", "ics2"]);

      const keyFile = join(lab.dir, "id_ed25519");
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(await readFile(keyFile, "utf8")).toBe(lab.sim.clientKey.privateKey);
      for (const node of cluster?.nodes ?? []) {
        expect(node.privateKey).toEqual({ file: keyFile });
        expect(node.hostKey).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${node.port} ssh-ed25519 `));
        expect(await listening(node.port)).toBe(true);
      }

      const ports = cluster?.nodes.map((n) => n.port) ?? [];
      await lab.close();
      closed = true;
      expect(existsSync(lab.dir)).toBe(false);
      for (const port of ports) expect(await listening(port)).toBe(false);
    } finally {
      if (!closed) await lab.close();
    }
  });

  it("takes a spec, a channel and a command timeout", async () => {
    const lab = await startLab({
      redisUrl: testRedisUrl(),
      logger,
      spec: modernLab(),
      channel: "C0MODERN",
      commandTimeoutMs: 2500,
    });
    try {
      const [cluster] = lab.inventory.clusters;
      expect(cluster).toMatchObject({ name: "modern", channels: ["C0MODERN"], commandTimeoutMs: 2500 });
      expect(cluster?.toolstack).toMatchObject({ hypervisor: "xl", drbd: 9, ha: "pacemaker" });
      expect(cluster?.nodes.map((n) => n.name)).toEqual(["hv1", "hv2"]);
    } finally {
      await lab.close();
    }
  });

  it("starts its own redis-server without a redisUrl and stops it on close", async () => {
    const lab = await startLab({ logger });
    const port = Number(new URL(lab.redisUrl).port);
    try {
      expect(lab.redisUrl).not.toBe(testRedisUrl());
      expect(await listening(port)).toBe(true);
    } finally {
      await lab.close();
    }
    expect(await listening(port)).toBe(false);
  });
});
