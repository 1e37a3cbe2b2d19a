/**
 * Web API client construction, error classification and the Bolt → pino logger bridge. Everything that
 * touches Slack's SDK types lives under src/slack/.
 */
// The Web API package itself, not Bolt's re-export of it: a worker (which only posts) never loads Bolt.
import * as webApi from "@slack/web-api";
import { type Logger as BoltLogger, LogLevel } from "@slack/web-api";
import type { Logger } from "pino";

export type WebClient = webApi.WebClient;

export interface SlackClientOptions {
  /** e.g. `http://127.0.0.1:PORT/api/` for the fake Slack in tests; Slack's own URL when absent. */
  slackApiUrl?: string;
  logger: Logger;
  /** Strings that must never reach a log line (tokens, signing secret). */
  secrets?: readonly string[];
  timeoutMs?: number;
}

/**
 * The options every xenops WebClient shares: 429s are rejected (not slept on inside the client) and
 * nothing is retried by the client, so the sender alone decides about pacing and retries and can count
 * them.
 */
export function slackClientOptions(opts: SlackClientOptions): webApi.WebClientOptions {
  return {
    ...(opts.slackApiUrl ? { slackApiUrl: opts.slackApiUrl } : {}),
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    timeout: opts.timeoutMs ?? 15_000,
    logger: boltLogger(opts.logger, opts.secrets ?? []),
  };
}

export function createSlackWebClient(token: string, opts: SlackClientOptions): WebClient {
  return new webApi.WebClient(
    token,
    slackClientOptions({ ...opts, secrets: [token, ...(opts.secrets ?? [])] }),
  );
}

export type SlackFailure =
  | { kind: "rate_limited"; retryAfterMs: number; code: string }
  | { kind: "transient"; code: string }
  | { kind: "permanent"; code: string };

/** Platform errors worth another try; everything else (channel_not_found, invalid_blocks, ...) is final. */
const TRANSIENT_PLATFORM_ERRORS = new Set([
  "internal_error",
  "fatal_error",
  "service_unavailable",
  "request_timeout",
  "ratelimited",
  "team_added_to_org",
]);

/** Maps a Web API failure to what the sender should do. `code` is safe to log (never a token). */
export function classifySlackError(err: unknown): SlackFailure {
  if (err instanceof webApi.WebAPIRateLimitedError) {
    return { kind: "rate_limited", retryAfterMs: Math.max(0, err.retryAfter) * 1000, code: "rate_limited" };
  }
  if (err instanceof webApi.WebAPIPlatformError) {
    const code = String(err.data.error);
    return { kind: TRANSIENT_PLATFORM_ERRORS.has(code) ? "transient" : "permanent", code };
  }
  if (err instanceof webApi.WebAPIHTTPError) {
    const code = `http_${err.statusCode}`;
    return { kind: err.statusCode >= 500 || err.statusCode === 408 ? "transient" : "permanent", code };
  }
  if (err instanceof webApi.WebAPIRequestError) {
    // Network trouble (reset, refused, timeout): the request may not have reached Slack.
    const original = err.original as { name?: string; code?: string } | undefined;
    return { kind: "transient", code: `request_${original?.code ?? original?.name ?? "failed"}` };
  }
  if (err instanceof Error) return { kind: "permanent", code: err.name || "error" };
  return { kind: "permanent", code: "unknown" };
}

const TOKEN_PATTERN = /\b(xox[abeoprs]|xapp)-[A-Za-z0-9-]+/g;
const TOKEN_FIELD_PATTERN = /("?token"?\s*[:=]\s*"?)[^"&\s,}]+/gi;
/** response_url values are bearer capabilities (they can post as the app for 30 minutes). */
const HOOK_URL_PATTERN = /(https:\/\/hooks\.slack\.[a-z]+\/)[^"\s]+/g;

/** Removes secrets from free text that a library wants to log. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join("[redacted]");
  return out
    .replace(TOKEN_PATTERN, "[redacted]")
    .replace(TOKEN_FIELD_PATTERN, "$1[redacted]")
    .replace(HOOK_URL_PATTERN, "$1[redacted]");
}

function formatArg(arg: unknown): string {
  if (typeof arg === "string") return arg;
  if (arg instanceof Error) return `${arg.name}: ${arg.message}`;
  try {
    return JSON.stringify(arg) ?? String(arg);
  } catch {
    return String(arg);
  }
}

/**
 * Bolt, WebClient and the Socket Mode client log free text, sometimes including payloads. Route it to
 * pino at the same level, redacted and truncated; the pino logger's level decides what is kept.
 */
export function boltLogger(logger: Logger, secrets: readonly string[]): BoltLogger {
  const child = logger.child({ component: "slack-sdk" });
  let name = "bolt";
  const emit = (level: "debug" | "info" | "warn" | "error", msgs: unknown[]) => {
    if (!child.isLevelEnabled(level)) return;
    const detail = redactSecrets(msgs.map(formatArg).join(" "), secrets).slice(0, 2_000);
    child[level]({ sdk: name, detail }, "slack sdk log");
  };
  return {
    debug: (...msgs: unknown[]) => emit("debug", msgs),
    info: (...msgs: unknown[]) => emit("info", msgs),
    warn: (...msgs: unknown[]) => emit("warn", msgs),
    error: (...msgs: unknown[]) => emit("error", msgs),
    // pino's level is the single authority: Bolt's attempts to change it are ignored.
    setLevel: () => {},
    getLevel: () => {
      if (child.isLevelEnabled("debug")) return LogLevel.DEBUG;
      if (child.isLevelEnabled("info")) return LogLevel.INFO;
      if (child.isLevelEnabled("warn")) return LogLevel.WARN;
      return LogLevel.ERROR;
    },
    setName: (n: string) => {
      name = n;
    },
  };
}
