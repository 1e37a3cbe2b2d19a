/** Shared pieces of the approval tests: a recording notifier, roles, plans, an engine on real Redis. */
import type { Redis } from "ioredis";
import type { ApprovalEngineOptions } from "../../src/approval/engine";
import { ApprovalEngine } from "../../src/approval/engine";
import type { ApprovalRecord } from "../../src/approval/types";
import type { AuditEntryInput } from "../../src/audit/schema";
import { Authorizer, StaticGroupDirectory } from "../../src/chat/authz";
import type { MessageRef, Notifier, OutboundMessage } from "../../src/chat/types";
import { silentLogger } from "../../src/log";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { testRedisUrl, uniquePrefix } from "../support/redis";

export class RecordingNotifier implements Notifier {
  readonly posts: { channel: string; ref: MessageRef; message: OutboundMessage }[] = [];
  readonly updates: { ref: MessageRef; message: OutboundMessage }[] = [];
  readonly ephemerals: { channel: string; user: string; message: OutboundMessage }[] = [];
  private seq = 0;

  async post(channel: string, message: OutboundMessage): Promise<MessageRef> {
    this.seq += 1;
    const ref = { channel, ts: `1700000000.${String(this.seq).padStart(6, "0")}` };
    this.posts.push({ channel, ref, message });
    return ref;
  }

  async update(ref: MessageRef, message: OutboundMessage): Promise<void> {
    this.updates.push({ ref, message });
  }

  async postEphemeral(channel: string, user: string, message: OutboundMessage): Promise<void> {
    this.ephemerals.push({ channel, user, message });
  }

  /** What the message at `ts` shows now (last update, else the post). */
  current(ts: string): OutboundMessage | undefined {
    const updated = this.updates.filter((u) => u.ref.ts === ts).at(-1);
    return updated?.message ?? this.posts.find((p) => p.ref.ts === ts)?.message;
  }
}

export const APPROVERS = Array.from({ length: 50 }, (_, i) => `UAPP${String(i).padStart(2, "0")}`);

export const ROLES = {
  viewer: { users: ["UVIEWER1"], groups: [] },
  operator: { users: ["UOPER1", "UOPER2"], groups: [] },
  approver: { users: ["UAPPROVER1", "UAPPROVER2", "UAPPROVER3", ...APPROVERS], groups: ["SAPPROVERS"] },
  admin: { users: ["UADMIN1"], groups: [] },
};

export function authorizer(): Authorizer {
  return new Authorizer(ROLES, new StaticGroupDirectory({ UGROUPIE: ["SAPPROVERS"] }));
}

export { fencePlan, migratePlan, splitBrainPlan } from "./plans";

/** A controllable clock, starting at a fixed time. */
export class TestClock {
  constructor(public ms = Date.parse("2030-01-01T12:00:00Z")) {}
  now = () => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface Harness {
  engine: ApprovalEngine;
  notifier: RecordingNotifier;
  enqueued: { record: ApprovalRecord; deliveryId: string }[];
  audit: AuditEntryInput[];
  prefix: string;
}

/** An engine that owns its connection, as a process would: close() closes both. */
class OwnConnectionEngine extends ApprovalEngine {
  constructor(
    options: ApprovalEngineOptions,
    private readonly connection: Redis,
  ) {
    super(options);
  }

  override async close(): Promise<void> {
    await super.close();
    await closeConnection(this.connection);
  }
}

/**
 * An engine on the test Redis (or `redisUrl`) with a fresh prefix, on a connection of its own; `share`
 * reuses another harness's prefix and recorders.
 */
export function makeEngine(
  options: Partial<ApprovalEngineOptions> & { share?: Harness; redisUrl?: string } = {},
  cleanup: (engine: ApprovalEngine) => void,
): Harness {
  const { share, redisUrl, ...rest } = options;
  const redis = createRedisConnection(redisUrl ?? testRedisUrl(), {
    role: "client",
    name: "xenops:approval",
  });
  const notifier = share?.notifier ?? new RecordingNotifier();
  const enqueued = share?.enqueued ?? [];
  const audit = share?.audit ?? [];
  const prefix = share?.prefix ?? uniquePrefix("approval");
  const engine = new OwnConnectionEngine(
    {
      redis,
      prefix,
      notifier,
      authorizer: authorizer(),
      logger: silentLogger(),
      enqueueExecution: async (record, { deliveryId }) => {
        enqueued.push({ record, deliveryId });
        return { jobId: `exec-${record.id}` };
      },
      audit: async (entry) => {
        audit.push(entry);
      },
      ...rest,
    },
    redis,
  );
  cleanup(engine);
  return { engine, notifier, enqueued, audit, prefix };
}
