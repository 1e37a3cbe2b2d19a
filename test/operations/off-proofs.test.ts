/** The off-proof store on the test Redis: validated JSON, one hash per cluster, void once seen alive. */
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterState, NodeState } from "../../src/model";
import type { OffProof } from "../../src/operations/liveness";
import { OffProofStore, offProofKey } from "../../src/operations/off-proofs";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { testRedisUrl, uniquePrefix } from "../support/redis";

let redis: Redis;
beforeAll(() => {
  redis = createRedisConnection(testRedisUrl(), { role: "client" });
});
afterAll(async () => {
  await closeConnection(redis);
});

const proof = (at: string): OffProof => ({
  kind: "attested-off",
  at,
  by: ["UAPPROVER1", "UAPPROVER2"],
  evidence: ["checked powered off by hand"],
  approvalId: "appr-0001",
});

function node(name: string, reachable: boolean): NodeState {
  return {
    name,
    reachable,
    error: null,
    domains: null,
    domainsError: null,
    xenInfo: null,
    xenInfoError: null,
    drbd: null,
    drbdError: null,
    ha: null,
    haError: null,
    durationMs: 1,
  };
}

const snapshot = (takenAt: string, ...nodes: NodeState[]): ClusterState => ({
  cluster: "lab",
  takenAt,
  nodes,
  warnings: [],
});

describe("OffProofStore", () => {
  it("records, reads, lists and clears proofs per cluster", async () => {
    const store = new OffProofStore(redis, uniquePrefix("offproof"));
    expect(await store.get("lab", "ics2")).toBeNull();
    await store.record("lab", "ics2", proof("2030-01-01T12:00:00.000Z"));
    await store.record("other", "ics1", proof("2030-01-01T12:00:00.000Z"));
    expect(await store.get("lab", "ics2")).toEqual(proof("2030-01-01T12:00:00.000Z"));
    expect(Object.keys(await store.getAll("lab"))).toEqual(["ics2"]);
    expect(await store.clear("lab", "ics2")).toBe(true);
    expect(await store.clear("lab", "ics2")).toBe(false);
    expect(await store.getAll("lab")).toEqual({});
    expect(await store.get("other", "ics1")).not.toBeNull();
  });

  it("refuses to record a malformed proof, and never counts unreadable data as a proof", async () => {
    const prefix = uniquePrefix("offproof");
    const store = new OffProofStore(redis, prefix);
    await expect(store.record("lab", "ics2", { ...proof("yesterday"), by: [] })).rejects.toThrow();
    await redis.hset(
      offProofKey(prefix, "lab"),
      "ics1",
      "{not json",
      "ics2",
      JSON.stringify({ kind: "off" }),
    );
    expect(await store.get("lab", "ics1")).toBeNull();
    expect(await store.get("lab", "ics2")).toBeNull();
    expect(await store.getAll("lab")).toEqual({});
  });

  it("clearSeenAlive voids the proofs of nodes a later snapshot sees alive, and only those", async () => {
    const store = new OffProofStore(redis, uniquePrefix("offproof"));
    await store.record("lab", "ics1", proof("2030-01-01T12:00:00.000Z"));
    await store.record("lab", "ics2", proof("2030-01-01T12:00:00.000Z"));
    // A snapshot older than the proof does not void it (the node may have gone off since).
    const before = snapshot("2030-01-01T11:59:00.000Z", node("ics1", true), node("ics2", false));
    expect(await store.clearSeenAlive("lab", before)).toEqual([]);
    const after = snapshot("2030-01-01T12:01:00.000Z", node("ics1", true), node("ics2", false));
    expect(await store.clearSeenAlive("lab", after)).toEqual(["ics1"]);
    expect(await store.get("lab", "ics1")).toBeNull();
    expect(await store.get("lab", "ics2")).not.toBeNull();
  });

  it("keeps the boot id read before a fence; one kept by an older worker, or not a boot id, is none", async () => {
    const prefix = uniquePrefix("offproof");
    const store = new OffProofStore(redis, prefix);
    const bootId = "4c1f2a3b-9d8e-4f7a-b6c5-0123456789ab";
    await store.noteBeforeFence("A1", {
      aliveBefore: "ics1 answers over SSH",
      historyBefore: 0,
      bootIdBefore: bootId,
    });
    expect(await store.beforeFence("A1")).toEqual({
      aliveBefore: "ics1 answers over SSH",
      historyBefore: 0,
      bootIdBefore: bootId,
    });
    // Written before boot ids were kept.
    await redis.set(`${prefix}:xenops:prefence:A2`, JSON.stringify({ aliveBefore: null, historyBefore: 1 }));
    expect((await store.beforeFence("A2"))?.bootIdBefore).toBeNull();
    await redis.set(
      `${prefix}:xenops:prefence:A3`,
      JSON.stringify({ aliveBefore: "ics1 answers over SSH", historyBefore: 0, bootIdBefore: "garbage" }),
    );
    expect((await store.beforeFence("A3"))?.bootIdBefore).toBeNull();
  });
});
