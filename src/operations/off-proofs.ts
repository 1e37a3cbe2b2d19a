/**
 * Proofs that a node is off (src/operations/liveness.ts), in Redis: one hash per cluster, node → JSON.
 * Written when a fence is verified (the executor, crash recovery) or an attestation is approved
 * (`/xen attest-off`); read by the planner into PlanFacts.offProofs; cleared by the planner when a node
 * with a proof is seen alive. A value that does not parse counts as no proof (never as proof).
 */
import type { Redis } from "ioredis";
import { z } from "zod";
import { parseBootId } from "../drivers/boot-id";
import type { Logger } from "../log";
import type { ClusterState } from "../model";
import { durably } from "../queue/redis";
import { type OffProof, recordedFenceCount, seenAlive } from "./liveness";

export const OffProofSchema = z
  .object({
    kind: z.enum(["fenced", "attested-off"]),
    at: z.string().datetime({ offset: true }),
    by: z.array(z.string().min(1)).min(1),
    evidence: z.array(z.string()),
    approvalId: z.string().nullable(),
  })
  .strict();

export function offProofKey(prefix: string, cluster: string): string {
  return `${prefix}:xenops:offproof:${cluster}`;
}

/** What a probe right before a fence step saw (src/operations/verify.ts BeforeFence), per approval. */
const BeforeFenceSchema = z
  .object({
    aliveBefore: z.string().nullable(),
    historyBefore: z.number().int().min(0).or(z.null()),
    // Absent in what older workers kept: no boot id, no evidence from it.
    bootIdBefore: z.string().nullable().optional(),
  })
  .strict();

function beforeFenceKey(prefix: string, approvalId: string): string {
  return `${prefix}:xenops:prefence:${approvalId}`;
}

/** Long enough for any crash recovery of the fence (it runs within minutes). */
const BEFORE_FENCE_TTL_S = 24 * 3600;

/** Per node, Pacemaker's count of successful fences of it when it was last seen alive. */
function aliveFencesKey(prefix: string, cluster: string): string {
  return `${prefix}:xenops:alivefences:${cluster}`;
}

// Keeps the largest count: a history cleaned up since must not make old fences look new.
const KEEP_MAX = `local v = tonumber(redis.call("HGET", KEYS[1], ARGV[1]) or "-1") if tonumber(ARGV[2]) > v then redis.call("HSET", KEYS[1], ARGV[1], ARGV[2]) end return 1`;

// Deletes the field only while it still holds the value that was judged void (a proof recorded since
// is newer than the snapshot that saw the node alive).
const CLEAR_IF_SAME = `if redis.call("HGET", KEYS[1], ARGV[1]) == ARGV[2] then return redis.call("HDEL", KEYS[1], ARGV[1]) end return 0`;

export class OffProofStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly logger?: Logger,
  ) {}

  private parse(cluster: string, node: string, raw: string | null | undefined): OffProof | null {
    if (!raw) return null;
    try {
      const parsed = OffProofSchema.safeParse(JSON.parse(raw));
      if (parsed.success) return parsed.data;
      this.logger?.warn({ cluster, node }, "unreadable off-proof ignored");
    } catch (err) {
      this.logger?.warn({ cluster, node, err }, "unreadable off-proof ignored");
    }
    return null;
  }

  async get(cluster: string, node: string): Promise<OffProof | null> {
    return this.parse(cluster, node, await this.redis.hget(offProofKey(this.prefix, cluster), node));
  }

  async getAll(cluster: string): Promise<Record<string, OffProof>> {
    const all = await this.redis.hgetall(offProofKey(this.prefix, cluster));
    const out: Record<string, OffProof> = {};
    for (const [node, raw] of Object.entries(all)) {
      const p = this.parse(cluster, node, raw);
      if (p) out[node] = p;
    }
    return out;
  }

  async record(cluster: string, node: string, proof: OffProof): Promise<void> {
    const valid = OffProofSchema.parse(proof);
    await durably(this.redis, () =>
      this.redis.hset(offProofKey(this.prefix, cluster), node, JSON.stringify(valid)),
    );
    this.logger?.info(
      { cluster, node, kind: valid.kind, approvalId: valid.approvalId },
      "off-proof recorded",
    );
  }

  /**
   * Keeps what the probe right before a fence saw, written before the fence runs, so that crash
   * recovery can verify the fence with the same evidence as the executor would have.
   */
  async noteBeforeFence(
    approvalId: string,
    before: { aliveBefore: string | null; historyBefore: number; bootIdBefore?: string | null },
  ): Promise<void> {
    const historyBefore = Number.isFinite(before.historyBefore) ? before.historyBefore : null;
    await durably(this.redis, () =>
      this.redis.set(
        beforeFenceKey(this.prefix, approvalId),
        JSON.stringify({
          aliveBefore: before.aliveBefore,
          historyBefore,
          bootIdBefore: before.bootIdBefore ?? null,
        }),
        "EX",
        BEFORE_FENCE_TTL_S,
      ),
    );
  }

  /** What noteBeforeFence kept for this approval; null when nothing (or nothing readable) was kept. */
  async beforeFence(
    approvalId: string,
  ): Promise<{ aliveBefore: string | null; historyBefore: number; bootIdBefore: string | null } | null> {
    const raw = await this.redis.get(beforeFenceKey(this.prefix, approvalId));
    if (!raw) return null;
    try {
      const parsed = BeforeFenceSchema.safeParse(JSON.parse(raw));
      if (!parsed.success) return null;
      return {
        aliveBefore: parsed.data.aliveBefore,
        historyBefore: parsed.data.historyBefore ?? Number.POSITIVE_INFINITY,
        // A kept value that is no boot id counts as none (unknown, never compared).
        bootIdBefore: parseBootId(parsed.data.bootIdBefore ?? ""),
      };
    } catch {
      return null;
    }
  }

  async clear(cluster: string, node: string): Promise<boolean> {
    // Durable like the proof itself: a clear lost in a failover would bring a void proof back.
    const n = await durably(this.redis, () => this.redis.hdel(offProofKey(this.prefix, cluster), node));
    if (n > 0) this.logger?.info({ cluster, node }, "off-proof cleared");
    return n > 0;
  }

  /** Per node, Pacemaker's fence count when it was last seen alive (see clearSeenAlive). */
  async aliveFenceCounts(cluster: string): Promise<Record<string, number>> {
    const all = await this.redis.hgetall(aliveFencesKey(this.prefix, cluster));
    const out: Record<string, number> = {};
    for (const [node, raw] of Object.entries(all)) {
      const n = Number(raw);
      if (Number.isInteger(n) && n >= 0) out[node] = n;
    }
    return out;
  }

  /**
   * Clears the proofs of nodes this snapshot sees alive, when the proof is older than the snapshot.
   * Also notes, per node seen alive, how many fences of it Pacemaker's history holds: a fence recorded
   * before that proves nothing about a later silence (liveness.ts recordedFence).
   * Returns the nodes cleared.
   */
  async clearSeenAlive(cluster: string, state: ClusterState): Promise<string[]> {
    for (const n of state.nodes) {
      if (!seenAlive(state, n.name).alive) continue;
      const count = recordedFenceCount(state, n.name);
      if (count !== null)
        await durably(this.redis, () =>
          this.redis.eval(KEEP_MAX, 1, aliveFencesKey(this.prefix, cluster), n.name, String(count)),
        );
    }
    const key = offProofKey(this.prefix, cluster);
    const all = await this.redis.hgetall(key);
    const cleared: string[] = [];
    for (const [node, raw] of Object.entries(all)) {
      const alive = seenAlive(state, node);
      if (!alive.alive) continue;
      const p = this.parse(cluster, node, raw);
      if (p && Date.parse(p.at) > Date.parse(state.takenAt)) continue;
      if (Number(await durably(this.redis, () => this.redis.eval(CLEAR_IF_SAME, 1, key, node, raw))) > 0) {
        cleared.push(node);
        this.logger?.info({ cluster, node, why: alive.detail }, "off-proof void: node seen alive");
      }
    }
    return cleared;
  }
}
