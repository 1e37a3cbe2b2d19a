import { describe, expect, it } from "vitest";
import {
  closeAllConnections,
  closeConnection,
  createRedisConnection,
  openConnectionCount,
  waitReady,
} from "../../src/queue/redis";
import { testRedisUrl } from "../support/redis";

describe("redis connections", () => {
  it("configures each role and closes them all", async () => {
    const url = testRedisUrl();
    const worker = createRedisConnection(url, { role: "worker" });
    const events = createRedisConnection(url, { role: "events" });
    const queue = createRedisConnection(url, { role: "queue" });
    const client = createRedisConnection(url, { role: "client", name: "xenops-test" });
    expect(openConnectionCount()).toBe(4);

    expect(worker.options.maxRetriesPerRequest).toBeNull();
    expect(events.options.maxRetriesPerRequest).toBeNull();
    expect(queue.options.enableOfflineQueue).toBe(false);
    expect(queue.options.lazyConnect).toBe(false);
    expect(client.options.enableOfflineQueue).toBe(true);

    await Promise.all([waitReady(queue), waitReady(queue), waitReady(worker)]);
    expect(await queue.ping()).toBe("PONG");
    expect(await client.client("GETNAME")).toBe("xenops-test");

    await closeConnection(queue);
    await closeConnection(queue);
    expect(openConnectionCount()).toBe(3);
    await closeAllConnections();
    expect(openConnectionCount()).toBe(0);
    for (const c of [worker, events, queue, client]) expect(c.status).toBe("end");
    await expect(waitReady(client)).rejects.toThrow(/closed/);
  });
});
