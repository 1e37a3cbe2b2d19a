/**
 * Pacemaker's fence history outlives the node's return. A success recorded before the node was last
 * seen alive says nothing about its silence now (stonith disabled, or Pacemaker stopped cleanly on it:
 * Pacemaker then calls it offline without fencing it again): only a fence recorded since counts.
 */
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { ClusterConfig } from "../../src/config/schema";
import type { ClusterState, FenceEvent, HaNodeStatus } from "../../src/model";
import { nodeLiveness, provenOff } from "../../src/operations/liveness";
import { OffProofStore } from "../../src/operations/off-proofs";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { haNode } from "../support/node-state";
import { testRedisUrl, uniquePrefix } from "../support/redis";

let redis: Redis;
beforeAll(() => {
  redis = createRedisConnection(testRedisUrl(), { role: "client" });
});
afterAll(async () => {
  await closeConnection(redis);
});

const config = { name: "lab", toolstack: { ha: "pacemaker" } } as unknown as ClusterConfig;

/** Pacemaker on `name`, when it answers, with the members' statuses and its fence history. */
const node = (name: string, reachable: boolean, sees: Record<string, HaNodeStatus>, fences: FenceEvent[]) =>
  haNode(name, reachable, { stack: "pacemaker", sees, fences });

const fence = (completed: string): FenceEvent => ({
  target: "hv2",
  action: "reboot",
  status: "success",
  delegate: "hv1",
  completed,
});

const snapshot = (takenAt: string, hv2Up: boolean, fences: FenceEvent[]): ClusterState => ({
  cluster: "lab",
  takenAt,
  nodes: [
    node("hv1", true, { hv1: "online", hv2: hv2Up ? "online" : "offline" }, fences),
    node("hv2", hv2Up, { hv1: "online", hv2: "online" }, fences),
  ],
  warnings: [],
});

it("a fence recorded before the node was last seen alive is not a proof; one recorded since is", async () => {
  const store = new OffProofStore(redis, uniquePrefix("stalefence"));
  const old = fence("2030-01-01T09:00:00Z");
  // hv2 was fenced at 9:00, came back, and is seen alive at 11:00 (the history still holds the fence).
  await store.clearSeenAlive("lab", snapshot("2030-01-01T11:00:00.000Z", true, [old]));
  const seen = await store.aliveFenceCounts("lab");

  // 12:00: hv2 is silent and Pacemaker calls it offline, but it fenced nothing since.
  const silent = snapshot("2030-01-01T12:00:00.000Z", false, [old]);
  const l = nodeLiveness(config, silent, "hv2", {}, seen);
  expect(provenOff(l)).toBe(false);
  expect(l.kind).toBe("declared-dead");

  // A fence of hv2 recorded after it was seen alive: that one proves it off.
  const again = snapshot("2030-01-01T12:01:00.000Z", false, [old, fence("2030-01-01T12:00:30Z")]);
  const fenced = nodeLiveness(config, again, "hv2", {}, seen);
  expect(fenced.kind).toBe("fenced");
  expect(provenOff(fenced)).toBe(true);

  // Seen alive again after that second fence: the history's two successes are both older now.
  await store.clearSeenAlive(
    "lab",
    snapshot("2030-01-01T13:00:00.000Z", true, [old, fence("2030-01-01T12:00:30Z")]),
  );
  const later = snapshot("2030-01-01T14:00:00.000Z", false, [old, fence("2030-01-01T12:00:30Z")]);
  expect(provenOff(nodeLiveness(config, later, "hv2", {}, await store.aliveFenceCounts("lab")))).toBe(false);

  // A history cleaned up meanwhile (fewer events than when seen alive) proves nothing either.
  const cleaned = snapshot("2030-01-01T15:00:00.000Z", false, [fence("2030-01-01T14:30:00Z")]);
  expect(provenOff(nodeLiveness(config, cleaned, "hv2", {}, await store.aliveFenceCounts("lab")))).toBe(
    false,
  );
});
