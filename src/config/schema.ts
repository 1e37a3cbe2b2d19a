/** The inventory file (YAML), validated at load. See README "Configuration". */
import { z } from "zod";
import { FenceConfig } from "../drivers/fence";
import { SecretRef } from "./secret-ref";

/** Names that end up in argv on nodes: a conservative charset, so they are also safe in Slack text. */
export const Name = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
    "use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
  );
export type Name = z.infer<typeof Name>;

/** A secret is never written inline: it names an environment variable or a file holding it. */
export { SecretRef };

const SlackUserId = z.string().regex(/^[UW][A-Z0-9]{2,}$/, "a Slack user ID such as U012ABCDEF");
const SlackGroupId = z.string().regex(/^S[A-Z0-9]{2,}$/, "a Slack user-group ID such as S012ABCDEF");
const SlackChannelId = z.string().regex(/^[CGD][A-Z0-9]{2,}$/, "a Slack channel ID such as C012ABCDEF");

export const HostKeyPin = z
  .string()
  .min(1)
  .refine(
    (s) => /^SHA256:[A-Za-z0-9+/]{43}=?$/.test(s) || /^\S+\s+(ssh-|ecdsa-|sk-)\S*\s+[A-Za-z0-9+/=]+/.test(s),
    "give the SHA256 fingerprint (`SHA256:...` as printed by ssh-keygen -lf) or a known_hosts line",
  );

export const NodeConfig = z
  .object({
    name: Name,
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]*$/, "a POSIX user name")
      .default("root"),
    privateKey: SecretRef,
    passphrase: SecretRef.optional(),
    hostKey: HostKeyPin,
    /** Prefix privileged commands with `sudo -n --`. */
    sudo: z.boolean().optional(),
    /**
     * This node's own key for the event webhook: a request signed with it may speak only for this node.
     * Without it the node falls back to the shared `webhook.secret` (a warning is logged at start).
     */
    webhookSecret: SecretRef.optional(),
  })
  .strict();
export type NodeConfig = z.infer<typeof NodeConfig>;

/** `toolstack.fence`: each method declares its own options beside its driver (src/drivers/fence/). */
export { FenceConfig };

export const ToolstackConfig = z
  .object({
    hypervisor: z.enum(["xm", "xl"]),
    drbd: z.union([z.literal(8), z.literal(9)]),
    ha: z.enum(["heartbeat", "pacemaker", "none"]),
    fence: FenceConfig.default({ method: "none" }),
  })
  .strict();
export type ToolstackConfig = z.infer<typeof ToolstackConfig>;

export const DrbdResourceConfig = z
  .object({
    name: Name,
    /** DRBD 8 /proc/drbd only shows minors: the minor maps it to this resource. */
    minor: z.number().int().min(0).max(1048575).optional(),
    device: z
      .string()
      .regex(/^\/dev\/drbd[0-9]+$/)
      .optional(),
    /** allow-two-primaries is set in the resource's configuration (needed for live migration). */
    allowTwoPrimaries: z.boolean().default(false),
    /**
     * The nodes that hold this resource; default: every node of the cluster. A resource expected on a
     * node but absent from its DRBD status makes that node's DRBD state unknown, never "not configured".
     */
    nodes: z.array(Name).min(1).optional(),
  })
  .strict();
export type DrbdResourceConfig = z.infer<typeof DrbdResourceConfig>;

export const GuestConfig = z
  .object({
    name: Name,
    /** Node the guest normally runs on (failback target). */
    home: Name.optional(),
    /** Path of the domain config on the nodes. */
    configFile: z
      .string()
      .regex(/^\/[A-Za-z0-9._/-]+$/, "an absolute path without spaces")
      .optional(),
    memoryMiB: z.number().int().positive().optional(),
    vcpus: z.number().int().positive().optional(),
    drbd: z.array(Name).default([]),
  })
  .strict();
export type GuestConfig = z.infer<typeof GuestConfig>;

/**
 * Per-cluster event settings. `failback: auto` files the failback request by itself (as `failbackAs`,
 * who must hold the operator role) as soon as the node is back and in sync: it still needs approval.
 */
export const MonitorConfig = z
  .object({
    enabled: z.boolean().optional(),
    /** How often the cluster is snapshotted (default 10 s). */
    intervalMs: z.number().int().min(1_000).max(3_600_000).optional(),
    /** DRBD 9: follow `drbdsetup events2` on every node (default true). */
    push: z.boolean().optional(),
    failback: z.enum(["offer", "auto"]).optional(),
    /** How often the monitor runs `/xen doctor`'s checks (default 24h; `off` never): 30m, 12h, 7d. */
    doctorEvery: z
      .union([
        z.literal("off"),
        z.string().regex(/^[1-9]\d*(m|h|d)$/, "a duration such as 30m, 24h or 7d, or off"),
      ])
      .optional(),
    failbackAs: z
      .string()
      .regex(/^[UW][A-Z0-9]{2,}$/, "a Slack user ID such as U012ABCDEF")
      .optional(),
  })
  .strict()
  .refine((m) => m.failback !== "auto" || m.failbackAs !== undefined, {
    message: "failback: auto needs failbackAs (the Slack user the failback requests are filed as)",
    path: ["failbackAs"],
  });
export type MonitorConfig = z.infer<typeof MonitorConfig>;

/**
 * Alertmanager as an event source (src/paging/alertmanager.ts): its webhook authenticates with a bearer
 * token or basic authentication (Alertmanager's `http_config`).
 */
export const AlertmanagerConfig = z.union([
  z.object({ bearerToken: SecretRef }).strict(),
  z.object({ basic: z.object({ username: z.string().min(1), password: SecretRef }).strict() }).strict(),
]);
export type AlertmanagerConfig = z.infer<typeof AlertmanagerConfig>;

/**
 * The HTTP endpoint for node-side hooks (contrib/: DRBD handlers, HA alert agent). Requests carry an
 * HMAC-SHA256 of `TIMESTAMP.BODY` keyed with the sending node's `webhookSecret` (or, for nodes without
 * one, the shared `secret`, accepted with a warning); stale or replayed requests are refused.
 */
export const WebhookConfig = z
  .object({
    /** Shared by every node without a `webhookSecret` of its own (any of them can speak for the others). */
    secret: SecretRef.optional(),
    host: z.string().min(1).default("0.0.0.0"),
    port: z.number().int().min(0).max(65535).default(8089),
    /** Requests older (or newer) than this are refused. */
    maxSkewSeconds: z.number().int().min(5).max(3_600).default(300),
    /** `POST /xenops/alertmanager` on the same server: Alertmanager's webhook, with its own credentials. */
    alertmanager: AlertmanagerConfig.optional(),
  })
  .strict();
export type WebhookConfig = z.infer<typeof WebhookConfig>;

/**
 * Paging service of a cluster: its critical incidents trigger, acknowledge and resolve a page there
 * (src/paging/). The key or token is a secret reference; `url` overrides the service's endpoint
 * (Opsgenie EU: https://api.eu.opsgenie.com; tests: a local fake).
 */
export const PagingConfig = z.union([
  z
    .object({
      pagerduty: z.object({ routingKey: SecretRef, url: z.string().url().optional() }).strict(),
    })
    .strict(),
  z
    .object({
      opsgenie: z.object({ apiKey: SecretRef, url: z.string().url().optional() }).strict(),
    })
    .strict(),
]);
export type PagingConfig = z.infer<typeof PagingConfig>;

export const ClusterConfig = z
  .object({
    name: Name,
    /** Slack channels this cluster answers in; the first is where events go. */
    channels: z.array(SlackChannelId).min(1),
    toolstack: ToolstackConfig,
    nodes: z.array(NodeConfig).min(1),
    guests: z.array(GuestConfig).default([]),
    drbd: z.array(DrbdResourceConfig).default([]),
    commandTimeoutMs: z.number().int().positive().default(15_000),
    /** Cluster events: the monitor, push sources and failback. Optional: defaults apply. */
    monitor: MonitorConfig.optional(),
    /** Paging service (PagerDuty or Opsgenie) for its critical incidents; optional. */
    paging: PagingConfig.optional(),
  })
  .strict();
export type ClusterConfig = z.infer<typeof ClusterConfig>;

const RoleMembers = z
  .object({ users: z.array(SlackUserId).default([]), groups: z.array(SlackGroupId).default([]) })
  .strict();

export const RoleName = z.enum(["viewer", "operator", "approver", "admin"]);
export type RoleName = z.infer<typeof RoleName>;

export const RolesConfig = z
  .object({
    viewer: RoleMembers.default({ users: [], groups: [] }),
    operator: RoleMembers.default({ users: [], groups: [] }),
    approver: RoleMembers.default({ users: [], groups: [] }),
    admin: RoleMembers.default({ users: [], groups: [] }),
  })
  .strict();
export type RolesConfig = z.infer<typeof RolesConfig>;

/**
 * Per-action overrides of the approval policies (defaults in src/approval/policy.ts). Everything is optional;
 * what is left out keeps the default. Fence always keeps the two-person rule.
 */
export const ApprovalPolicyOverride = z
  .object({
    requestRole: RoleName.optional(),
    approveRole: RoleName.exclude(["viewer"]).optional(),
    approvals: z.number().int().min(1).max(5).optional(),
    twoPerson: z.boolean().optional(),
    expiresInMinutes: z
      .number()
      .int()
      .min(1)
      .max(24 * 60)
      .optional(),
  })
  .strict();
export type ApprovalPolicyOverride = z.infer<typeof ApprovalPolicyOverride>;

export const ApprovalsConfig = z
  .object({
    migrate: ApprovalPolicyOverride.optional(),
    create: ApprovalPolicyOverride.optional(),
    evacuate: ApprovalPolicyOverride.optional(),
    failback: ApprovalPolicyOverride.optional(),
    fence: ApprovalPolicyOverride.refine((p) => p.twoPerson !== false, {
      message: "fence always needs two persons: twoPerson cannot be false",
      path: ["twoPerson"],
    }).optional(),
    split_brain_recover: ApprovalPolicyOverride.optional(),
    attest_off: ApprovalPolicyOverride.refine((p) => p.twoPerson !== false, {
      message: "attest_off always needs two persons: twoPerson cannot be false",
      path: ["twoPerson"],
    }).optional(),
  })
  .strict();
export type ApprovalsConfig = z.infer<typeof ApprovalsConfig>;

/** "15m", "1h30m", "45s": a duration (on-call timers). */
const Duration = z
  .string()
  .regex(/^(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?$/, 'a duration such as "15m", "1h" or "1h30m"')
  .refine((s) => s !== "" && /[1-9]/.test(s), "a duration longer than zero");

const EscalationStep = z
  .object({
    after: Duration,
    users: z.array(SlackUserId).default([]),
    groups: z.array(SlackGroupId).default([]),
  })
  .strict()
  .refine((s) => s.users.length + s.groups.length > 0, "name at least one user or group to escalate to");

/** "90s", "2m", "1h30m", "500ms": milliseconds (the timing knobs of risky operations). */
const TimingDuration = z
  .string()
  .regex(/^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/, 'a duration such as "90s", "2m", "1h" or "500ms"')
  .transform((text, ctx) => {
    const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(text);
    const [, h, min, sec, ms] = m ?? [];
    const total = ((Number(h ?? 0) * 60 + Number(min ?? 0)) * 60 + Number(sec ?? 0)) * 1000 + Number(ms ?? 0);
    if (!(total > 0)) ctx.addIssue({ code: "custom", message: "a duration longer than zero" });
    return total;
  });

/**
 * Timing of the risky operations, each optional (defaults in src/operations/context.ts). Longer
 * step timeouts suit slow replication links; crash recovery waits for a dead worker's lease AND the
 * running step's timeout plus `stepGrace` before it takes an execution over.
 */
export const OperationTimingsConfig = z
  .object({
    migrateBaseTimeout: TimingDuration,
    migratePerGiBTimeout: TimingDuration,
    createTimeout: TimingDuration,
    fenceTimeout: TimingDuration,
    lockTtl: TimingDuration,
    pollInterval: TimingDuration,
    migrateVerifyTimeout: TimingDuration,
    fenceVerifyTimeout: TimingDuration,
    probeTimeout: TimingDuration,
    progressInterval: TimingDuration,
    recoveryInterval: TimingDuration,
    leaseTtl: TimingDuration,
    stepGrace: TimingDuration,
    shutdownTimeout: TimingDuration,
    resyncTimeout: TimingDuration,
  })
  .partial()
  .strict();
export type OperationTimingsConfig = z.infer<typeof OperationTimingsConfig>;

export const InventoryConfig = z
  .object({
    clusters: z.array(ClusterConfig).min(1),
    roles: RolesConfig.default({
      viewer: { users: [], groups: [] },
      operator: { users: [], groups: [] },
      approver: { users: [], groups: [] },
      admin: { users: [], groups: [] },
    }),
    oncall: z
      .object({
        users: z.array(SlackUserId).default([]),
        groups: z.array(SlackGroupId).default([]),
        /** An unacknowledged critical incident mentions on-call again after this long ("15m"). */
        renotifyAfter: Duration.optional(),
        /** Then the next group or user, each `after` this long since the page ("30m"), in order. */
        escalation: z.array(EscalationStep).max(10).optional(),
        /** A daily digest in each cluster's channel at this time, UTC ("08:00"): pages, acks, what is open. */
        digestAt: z
          .string()
          .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day, UTC, such as "08:00"')
          .optional(),
      })
      .strict()
      .default({ users: [], groups: [] }),
    /** Optional: without it every risky action keeps its default approval policy. */
    approvals: ApprovalsConfig.optional(),
    /** Optional: the endpoint for node-side event hooks (DRBD handlers, the Pacemaker alert agent). */
    webhook: WebhookConfig.optional(),
    /** Optional: timeouts and intervals of the risky operations (migrate, create, fence, ...). */
    operations: OperationTimingsConfig.optional(),
  })
  .strict()
  .superRefine((inv, ctx) => {
    for (const issue of crossReferenceIssues(inv)) ctx.addIssue({ code: "custom", ...issue });
  });
export type InventoryConfig = z.infer<typeof InventoryConfig>;

export interface CrossReferenceIssue {
  path: (string | number)[];
  message: string;
}

type Loose = Record<string, unknown>;
const asArray = (v: unknown): Loose[] =>
  Array.isArray(v) ? v.filter((x): x is Loose => typeof x === "object" && x !== null) : [];
const asString = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/**
 * Checks that span entries (duplicates, references between nodes, guests and DRBD resources). Written
 * against loosely typed input so it can also run when other parts of the file are invalid: the user
 * gets every problem in one pass.
 */
export function crossReferenceIssues(raw: unknown): CrossReferenceIssue[] {
  const issues: CrossReferenceIssue[] = [];
  const clusters = asArray((raw as Loose | null)?.clusters);
  const clusterNames = new Set<string>();
  clusters.forEach((c, ci) => {
    const name = asString(c.name);
    if (name !== undefined && clusterNames.has(name))
      issues.push({ path: ["clusters", ci, "name"], message: `duplicate cluster "${name}"` });
    if (name !== undefined) clusterNames.add(name);
    const nodes = new Set<string>();
    asArray(c.nodes).forEach((n, ni) => {
      const nodeName = asString(n.name);
      if (nodeName === undefined) return;
      if (nodes.has(nodeName))
        issues.push({ path: ["clusters", ci, "nodes", ni, "name"], message: `duplicate node "${nodeName}"` });
      nodes.add(nodeName);
    });
    const drbdVersion = (c.toolstack as Loose | undefined)?.drbd;
    const resources = new Set<string>();
    const minors = new Map<number, string>();
    asArray(c.drbd).forEach((r, ri) => {
      const resName = asString(r.name) ?? `#${ri}`;
      resources.add(resName);
      if (drbdVersion === 8 && r.minor === undefined)
        issues.push({
          path: ["clusters", ci, "drbd", ri, "minor"],
          message: "DRBD 8 needs the minor of each resource (/proc/drbd shows only minors)",
        });
      (Array.isArray(r.nodes) ? r.nodes : []).forEach((n: unknown, ni: number) => {
        if (typeof n === "string" && nodes.size > 0 && !nodes.has(n))
          issues.push({
            path: ["clusters", ci, "drbd", ri, "nodes", ni],
            message: `unknown node "${n}"; nodes are: ${[...nodes].join(", ")}`,
          });
      });
      if (typeof r.minor === "number") {
        const other = minors.get(r.minor);
        if (other !== undefined)
          issues.push({
            path: ["clusters", ci, "drbd", ri, "minor"],
            message: `minor ${r.minor} is already used by resource "${other}"`,
          });
        minors.set(r.minor, resName);
      }
    });
    const guests = new Set<string>();
    asArray(c.guests).forEach((g, gi) => {
      const guestName = asString(g.name);
      if (guestName !== undefined && guests.has(guestName))
        issues.push({
          path: ["clusters", ci, "guests", gi, "name"],
          message: `duplicate guest "${guestName}"`,
        });
      if (guestName !== undefined) guests.add(guestName);
      const home = asString(g.home);
      if (home !== undefined && nodes.size > 0 && !nodes.has(home))
        issues.push({
          path: ["clusters", ci, "guests", gi, "home"],
          message: `unknown node "${home}"; nodes are: ${[...nodes].join(", ")}`,
        });
      (Array.isArray(g.drbd) ? g.drbd : []).forEach((r: unknown, ri: number) => {
        if (typeof r === "string" && !resources.has(r))
          issues.push({
            path: ["clusters", ci, "guests", gi, "drbd", ri],
            message: `unknown DRBD resource "${r}"; declare it under clusters[${ci}].drbd`,
          });
      });
    });
  });
  const webhook = (raw as Loose | null)?.webhook;
  if (webhook && typeof webhook === "object" && (webhook as Loose).secret === undefined) {
    const perNode = clusters.some((c) => asArray(c.nodes).some((n) => n.webhookSecret !== undefined));
    if (!perNode)
      issues.push({
        path: ["webhook", "secret"],
        message:
          "give the nodes their own webhookSecret (clusters[].nodes[].webhookSecret) or a shared secret",
      });
  }
  return issues;
}
