/**
 * The only module that reads process.env. Everything else receives a RuntimeEnv (or values derived
 * from it) through createDeps, so tests pass their own.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { XenopsError } from "../errors";
import { registerLogSecret } from "../log";
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
  /** Operations server (/metrics, /livez, /readyz, /healthz, /admin/queues) port; unset: no server; 0: any free port. */
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

/**
 * Secret variables that may name a file instead (`NAME_FILE=/run/secrets/...`: Docker and compose
 * secrets, systemd credentials), so the value never sits in the process environment of a unit file.
 */
export const FILE_SECRET_VARS = [
  "SLACK_BOT_TOKEN",
  "SLACK_APP_TOKEN",
  "SLACK_SIGNING_SECRET",
  "XENOPS_DASHBOARD_PASSWORD",
  // May carry the Redis password.
  "REDIS_URL",
] as const;

/**
 * Replaces each `NAME_FILE` by NAME holding the file's content, one trailing newline stripped (what
 * `echo` and editors leave). Problems are listed without the content.
 */
function resolveFileSecrets(source: Readonly<Record<string, string | undefined>>): {
  values: Record<string, string | undefined>;
  problems: string[];
} {
  const values: Record<string, string | undefined> = { ...source };
  const problems: string[] = [];
  for (const name of FILE_SECRET_VARS) {
    const file = source[`${name}_FILE`];
    if (file === undefined || file === "") continue;
    if (source[name] !== undefined && source[name] !== "") {
      problems.push(`${name}_FILE: set either ${name} or ${name}_FILE, not both`);
      continue;
    }
    let content: string;
    try {
      content = readFileSync(file, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
      problems.push(`${name}_FILE: cannot read ${file} (${code})`);
      continue;
    }
    const value = content.replace(/\r?\n$/, "");
    if (value === "") problems.push(`${name}_FILE: ${file} is empty`);
    else values[name] = value;
  }
  return { values, problems };
}

export function readRuntimeEnv(
  source: Readonly<Record<string, string | undefined>> = process.env,
): RuntimeEnv {
  const { values, problems } = resolveFileSecrets(source);
  const parsed = RuntimeEnv.safeParse(values);
  const lines = [
    ...problems,
    ...(parsed.success
      ? []
      : parsed.error.issues.map((i) => `${formatPath(i.path as PropertyKey[])}: ${i.message}`)),
  ];
  if (lines.length > 0 || !parsed.success) {
    throw new XenopsError("config_invalid", `invalid environment:\n${lines.join("\n")}`);
  }
  // REDIS_URL's password is caught by the logger's URL-credential pattern instead.
  for (const name of FILE_SECRET_VARS) if (name !== "REDIS_URL") registerLogSecret(parsed.data[name]);
  return parsed.data;
}

/** The raw environment, for resolving `{ env: NAME }` secrets. Kept here so no other module touches process.env. */
export function secretEnv(): Readonly<Record<string, string | undefined>> {
  return process.env;
}
