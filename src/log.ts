/**
 * Logger factory. Secrets are redacted by key wherever they appear in a log object, and errors logged
 * as `{ err }` (pino's serializer: type, message, stack, own fields) are scrubbed of every secret value
 * resolved so far and of anything that looks like a token, since library errors carry request details.
 */
import { type DestinationStream, type Logger, pino } from "pino";

export const REDACT_PATHS = [
  "password",
  "passphrase",
  "privateKey",
  "token",
  "botToken",
  "appToken",
  "signingSecret",
  "secret",
  "stdin",
  "authorization",
  "*.password",
  "*.passphrase",
  "*.privateKey",
  "*.token",
  "*.botToken",
  "*.appToken",
  "*.signingSecret",
  "*.secret",
  "*.stdin",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
];

export type { Logger };

/** Secret values resolved by this process (config/secrets.ts, config/env.ts): never in a logged error. */
const secretValues = new Set<string>();

export function registerLogSecret(value: string | undefined): void {
  const v = value?.replace(/\r?\n$/, "");
  // Shorter values would blank out ordinary words (redactValues in operations/context.ts does the same).
  if (v && v.length >= 3) secretValues.add(v);
}

const TOKEN_PATTERNS: readonly [RegExp, string][] = [
  [/\b(xox[abeoprs]|xapp)-[A-Za-z0-9-]+/g, "[redacted]"],
  [/(Bearer\s+)[^\s"',]+/gi, "$1[redacted]"],
  // Credentials in URLs (redis://:password@host, https://user:pass@...).
  [/([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)[^@\s/]+@/gi, "$1[redacted]@"],
  [/(https:\/\/hooks\.slack\.[a-z]+\/)[^"\s]+/g, "$1[redacted]"],
];

/** Request/response objects of HTTP libraries: large, circular, and full of headers. */
const OMITTED_KEYS = new Set(["config", "request", "response", "socket", "agent", "headers", "_req", "res"]);

export function scrubSecrets(text: string): string {
  let out = text;
  for (const v of secretValues) if (out.includes(v)) out = out.split(v).join("[redacted]");
  for (const [pattern, replacement] of TOKEN_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

function scrubValue(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === "string") return scrubSecrets(value);
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value) || depth > 4) return "[omitted]";
  seen.add(value);
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => scrubValue(v, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = OMITTED_KEYS.has(k) ? "[omitted]" : scrubValue(v, depth + 1, seen);
  }
  return out;
}

/** pino's error serializer (with causes), then scrubbed. */
export function serializeError(err: unknown): unknown {
  const base = err instanceof Error ? pino.stdSerializers.err(err) : err;
  return scrubValue(base, 0, new WeakSet());
}

export function createLogger(
  options: { level?: string; name?: string } = {},
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      name: options.name ?? "xenops",
      level: options.level ?? "info",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      serializers: { err: serializeError },
    },
    destination ?? pino.destination(2),
  );
}

/** A logger that drops everything (tests, CLI parsing). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
