/**
 * The only module that reads process.env. Everything else receives a RuntimeEnv (or values derived
 * from it) through createDeps, so tests pass their own.
 */
import { z } from "zod";
import { XenopsError } from "../errors";
import { formatPath } from "./load";

const optionalString = z
  .string()
  .optional()
  .transform((s) => (s === "" ? undefined : s));

export const RuntimeEnv = z.object({
  XENOPS_CONFIG: optionalString,
  REDIS_URL: optionalString,
  SLACK_BOT_TOKEN: optionalString,
  SLACK_APP_TOKEN: optionalString,
  SLACK_SIGNING_SECRET: optionalString,
  SLACK_API_URL: optionalString,
  PORT: z.coerce.number().int().min(0).max(65535).optional(),
  XENOPS_AUDIT_FILE: optionalString.transform((s) => s ?? "./xenops-audit.jsonl"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  XENOPS_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default("xenops"),
  /** Operations server (/metrics, /healthz, /admin/queues) port; unset: no server; 0: any free port. */
  XENOPS_OPS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Its listen address (default 127.0.0.1). */
  XENOPS_OPS_HOST: optionalString,
  /** Basic-auth credentials of the BullMQ dashboard at /admin/queues; both unset: no dashboard. */
  XENOPS_DASHBOARD_USER: optionalString,
  XENOPS_DASHBOARD_PASSWORD: optionalString,
  /** DRBD watch: warn when a resync has not progressed for this long (default 120). */
  XENOPS_WATCH_STALL_SECONDS: z.coerce.number().int().positive().optional(),
  /** DRBD watch: give up after this long (default 720 = 12 h). */
  XENOPS_WATCH_TIMEOUT_MINUTES: z.coerce.number().int().positive().optional(),
  /**
   * Development only: `1` lets risky actions run although Redis has no AOF persistence (a restart would
   * lose their journal). Unset, they are refused and /healthz fails `redis_persistence`.
   */
  XENOPS_ALLOW_VOLATILE_REDIS: z
    .enum(["", "0", "1"])
    .optional()
    .transform((v) => v === "1"),
});
export type RuntimeEnv = z.infer<typeof RuntimeEnv>;

export function readRuntimeEnv(
  source: Readonly<Record<string, string | undefined>> = process.env,
): RuntimeEnv {
  const parsed = RuntimeEnv.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${formatPath(i.path as PropertyKey[])}: ${i.message}`);
    throw new XenopsError("config_invalid", `invalid environment:\n${lines.join("\n")}`);
  }
  return parsed.data;
}

/** The raw environment, for resolving `{ env: NAME }` secrets. Kept here so no other module touches process.env. */
export function secretEnv(): Readonly<Record<string, string | undefined>> {
  return process.env;
}
