/**
 * Checks a Slack app set-up against what xenops needs, and says exactly what to fix: the bot token
 * (`auth.test`) and its scopes (the `x-oauth-scopes` header, which the Web API client reads into
 * `response_metadata.scopes`), the app-level token for Socket Mode (`apps.connections.open`, scope
 * `connections:write`) or the signing secret for HTTP mode, the bot's membership of every configured
 * channel (`conversations.info` → `is_member`) and the configured user groups (`usergroups.users.list`).
 *
 * Run by `xenops doctor slack`, and at bot start-up, where findings are logged as warnings.
 */
import type { Logger } from "../log";
import { classifySlackError, type WebClient } from "./client";

/** The bot scopes xenops uses (manifest.yml), with the Web API methods that need them. */
export const REQUIRED_BOT_SCOPES: Readonly<Record<string, string>> = {
  commands: "the /xen slash command",
  "chat:write": "chat.postMessage, chat.update, chat.postEphemeral (cards, events, replies)",
  "files:write": "files.getUploadURLExternal/completeUploadExternal (long logs on a card's thread)",
  "usergroups:read": "usergroups.users.list (roles and on-call given to user groups)",
  "channels:read": "conversations.info on public channels (is the bot a member?)",
  "groups:read": "conversations.info on private channels the bot was invited to",
};

export type FindingLevel = "ok" | "warn" | "fail";

export interface Finding {
  level: FindingLevel;
  /** What was checked, e.g. `bot token`, `channel C0123 (cluster ics)`. */
  subject: string;
  message: string;
  /** What to do about it; absent when nothing needs doing. */
  fix?: string;
}

export interface SlackSetupInput {
  /** WebClient with the bot token (xoxb-). */
  bot: Pick<WebClient, "apiCall">;
  botToken: string;
  mode: "socket" | "http";
  /** WebClient with the app-level token (xapp-), Socket Mode only. */
  app?: Pick<WebClient, "apiCall">;
  appToken?: string;
  signingSecret?: string;
  /** Configured channels and the cluster each belongs to. */
  channels: readonly { cluster: string; channel: string }[];
  /** User-group IDs the inventory refers to (roles, on-call). */
  groups: readonly string[];
}

export interface SlackSetupReport {
  ok: boolean;
  findings: Finding[];
}

interface ApiResult {
  ok?: boolean;
  response_metadata?: { scopes?: string[] };
  [key: string]: unknown;
}

function platformError(err: unknown): { code: string; needed?: string } {
  const data = (err as { data?: { error?: unknown; needed?: unknown } }).data;
  const failure = classifySlackError(err);
  return {
    code: failure.code,
    ...(typeof data?.needed === "string" ? { needed: data.needed } : {}),
  };
}

const REINSTALL = "then reinstall the app (OAuth & Permissions → Reinstall to Workspace)";

export async function checkSlackSetup(input: SlackSetupInput): Promise<SlackSetupReport> {
  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);

  // Bot token first: nothing else can be checked without it.
  if (!input.botToken.startsWith("xoxb-")) {
    add({
      level: "fail",
      subject: "bot token",
      message: "SLACK_BOT_TOKEN is not a bot token (it must start with xoxb-)",
      fix: "copy the Bot User OAuth Token from the app's OAuth & Permissions page into SLACK_BOT_TOKEN (or SLACK_BOT_TOKEN_FILE)",
    });
    return { ok: false, findings };
  }
  let scopes: Set<string> | null = null;
  try {
    const res = (await input.bot.apiCall("auth.test")) as ApiResult;
    add({
      level: "ok",
      subject: "bot token",
      message: `valid: bot ${String(res.user ?? "?")} (${String(res.user_id ?? "?")}) in ${String(res.team ?? "?")} (${String(res.team_id ?? "?")})`,
    });
    scopes = res.response_metadata?.scopes ? new Set(res.response_metadata.scopes) : null;
  } catch (err) {
    const { code } = platformError(err);
    add({
      level: "fail",
      subject: "bot token",
      message: `auth.test failed: ${code}`,
      fix:
        code === "invalid_auth" ||
        code === "not_authed" ||
        code === "token_revoked" ||
        code === "account_inactive"
          ? "the token is wrong or was revoked: install the app again and copy the new Bot User OAuth Token"
          : "Slack could not be reached: check the network path to slack.com (proxy, firewall) and SLACK_API_URL",
    });
    return { ok: false, findings };
  }

  if (scopes === null) {
    add({
      level: "warn",
      subject: "bot scopes",
      message: "Slack did not say which scopes the token has (no x-oauth-scopes header)",
    });
  } else {
    const missing = Object.keys(REQUIRED_BOT_SCOPES).filter((s) => !scopes.has(s));
    const hard = missing.filter((s) => s !== "channels:read" && s !== "groups:read");
    const soft = missing.filter((s) => s === "channels:read" || s === "groups:read");
    if (hard.length > 0) {
      add({
        level: "fail",
        subject: "bot scopes",
        message: `missing ${hard.map((s) => `${s} (${REQUIRED_BOT_SCOPES[s]})`).join(", ")}`,
        fix: `add ${hard.join(", ")} under OAuth & Permissions → Bot Token Scopes (or re-create the app from manifest.yml), ${REINSTALL}`,
      });
    }
    if (soft.length > 0) {
      add({
        level: "warn",
        subject: "bot scopes",
        message: `missing ${soft.join(", ")}: channel membership cannot be checked`,
        fix: `add ${soft.join(", ")} under OAuth & Permissions → Bot Token Scopes, ${REINSTALL}`,
      });
    }
    const extra = [...scopes].filter((s) => !(s in REQUIRED_BOT_SCOPES)).sort();
    if (extra.length > 0) {
      add({
        level: "warn",
        subject: "bot scopes",
        message: `more than xenops needs: ${extra.join(", ")}`,
        fix: `least privilege: remove ${extra.join(", ")} from the app's Bot Token Scopes, ${REINSTALL}`,
      });
    }
    if (missing.length === 0 && extra.length === 0) {
      add({ level: "ok", subject: "bot scopes", message: Object.keys(REQUIRED_BOT_SCOPES).join(", ") });
    }
  }

  await checkReceiver(input, add);
  for (const { cluster, channel } of input.channels) await checkChannel(input.bot, cluster, channel, add);
  for (const group of input.groups) await checkGroup(input.bot, group, add);

  return { ok: findings.every((f) => f.level !== "fail"), findings };
}

async function checkReceiver(input: SlackSetupInput, add: (f: Finding) => void): Promise<void> {
  if (input.mode === "http") {
    const secret = input.signingSecret ?? "";
    if (!/^[0-9a-f]{32}$/.test(secret)) {
      add({
        level: "fail",
        subject: "signing secret",
        message: secret
          ? "SLACK_SIGNING_SECRET does not look like a Slack signing secret (32 hex digits)"
          : "HTTP mode (no SLACK_APP_TOKEN) needs SLACK_SIGNING_SECRET",
        fix: "copy the Signing Secret from Basic Information → App Credentials into SLACK_SIGNING_SECRET (or _FILE); for Socket Mode set SLACK_APP_TOKEN instead",
      });
    } else {
      add({
        level: "ok",
        subject: "signing secret",
        message: "set (HTTP mode: Slack must reach PORT at the manifest's request URLs)",
      });
    }
    return;
  }
  const token = input.appToken ?? "";
  if (!token.startsWith("xapp-") || !input.app) {
    add({
      level: "fail",
      subject: "app token",
      message: "SLACK_APP_TOKEN is not an app-level token (it must start with xapp-)",
      fix: "Basic Information → App-Level Tokens → Generate Token and Scopes, scope connections:write; put it in SLACK_APP_TOKEN (or _FILE)",
    });
    return;
  }
  try {
    // Only asks for a WebSocket URL; nothing connects to it.
    const res = (await input.app.apiCall("apps.connections.open")) as ApiResult;
    const appScopes = res.response_metadata?.scopes;
    if (appScopes && !appScopes.includes("connections:write")) {
      add({
        level: "fail",
        subject: "app token",
        message: "the app-level token lacks connections:write",
        fix: "generate a new app-level token with the connections:write scope (Basic Information → App-Level Tokens)",
      });
    } else {
      add({ level: "ok", subject: "app token", message: "valid, Socket Mode can connect" });
    }
  } catch (err) {
    const { code } = platformError(err);
    add({
      level: "fail",
      subject: "app token",
      message: `apps.connections.open failed: ${code}`,
      fix:
        code === "not_allowed_token_type"
          ? "SLACK_APP_TOKEN holds another kind of token: use the xapp- token from Basic Information → App-Level Tokens"
          : "turn Socket Mode on (Settings → Socket Mode) and generate an app-level token with connections:write",
    });
  }
}

async function checkChannel(
  bot: Pick<WebClient, "apiCall">,
  cluster: string,
  channel: string,
  add: (f: Finding) => void,
): Promise<void> {
  const subject = `channel ${channel} (cluster ${cluster})`;
  try {
    const res = (await bot.apiCall("conversations.info", { channel })) as ApiResult & {
      channel?: { name?: string; is_member?: boolean; is_archived?: boolean };
    };
    const name = res.channel?.name ? `#${res.channel.name}` : channel;
    if (res.channel?.is_archived) {
      add({
        level: "fail",
        subject,
        message: `${name} is archived`,
        fix: `unarchive ${name} or configure another channel for ${cluster}`,
      });
    } else if (res.channel?.is_member !== true) {
      add({
        level: "fail",
        subject,
        message: `the bot is not a member of ${name}: it cannot post cards or events there`,
        fix: `type /invite @xenops in ${name}`,
      });
    } else {
      add({ level: "ok", subject, message: `the bot is a member of ${name}` });
    }
  } catch (err) {
    const { code, needed } = platformError(err);
    if (code === "missing_scope") {
      add({
        level: "warn",
        subject,
        message: `cannot check membership: the token lacks ${needed ?? "channels:read/groups:read"}`,
        fix: `add ${needed ?? "channels:read and groups:read"} to the Bot Token Scopes, ${REINSTALL}; meanwhile make sure /invite @xenops was typed in the channel`,
      });
    } else if (code === "channel_not_found") {
      add({
        level: "fail",
        subject,
        message: "channel not found: a wrong ID, or a private channel the bot was not invited to",
        fix: "check the ID (channel name → View channel details → the ID at the bottom) and type /invite @xenops in it",
      });
    } else {
      add({ level: "fail", subject, message: `conversations.info failed: ${code}` });
    }
  }
}

async function checkGroup(
  bot: Pick<WebClient, "apiCall">,
  group: string,
  add: (f: Finding) => void,
): Promise<void> {
  const subject = `user group ${group}`;
  try {
    const res = (await bot.apiCall("usergroups.users.list", { usergroup: group })) as ApiResult & {
      users?: unknown[];
    };
    const n = Array.isArray(res.users) ? res.users.length : 0;
    add({
      level: n > 0 ? "ok" : "warn",
      subject,
      message: `readable, ${n} member${n === 1 ? "" : "s"}`,
      ...(n > 0 ? {} : { fix: "the group is empty: the role or on-call it is given to reaches nobody" }),
    });
  } catch (err) {
    const { code, needed } = platformError(err);
    add({
      level: "fail",
      subject,
      message: `usergroups.users.list failed: ${code}`,
      fix:
        code === "missing_scope"
          ? `add ${needed ?? "usergroups:read"} to the Bot Token Scopes, ${REINSTALL}`
          : code === "no_such_subteam"
            ? "no such user group: check the ID (People → User groups → the group → ⋯ → Copy group ID; it starts with S)"
            : "user groups need a paid Slack plan; on a free workspace list users instead of groups",
    });
  }
}

export function formatFindings(report: SlackSetupReport): string {
  const lines = report.findings.map((f) => {
    const head = `${f.level.padEnd(4)} ${f.subject}: ${f.message}`;
    return f.fix ? `${head}\n     fix: ${f.fix}` : head;
  });
  const fails = report.findings.filter((f) => f.level === "fail").length;
  const warns = report.findings.filter((f) => f.level === "warn").length;
  lines.push(
    report.ok
      ? `Slack set-up OK${warns ? ` (${warns} warning${warns === 1 ? "" : "s"})` : ""}`
      : `${fails} problem${fails === 1 ? "" : "s"} in the Slack set-up`,
  );
  return `${lines.join("\n")}\n`;
}

/** At bot start-up: log what the doctor would say, warnings and failures only; never fails the start. */
export async function logSlackSetup(
  input: SlackSetupInput,
  logger: Logger,
): Promise<SlackSetupReport | null> {
  try {
    const report = await checkSlackSetup(input);
    for (const f of report.findings) {
      if (f.level === "ok") continue;
      logger.warn(
        { subject: f.subject, problem: f.message, fix: f.fix, severity: f.level },
        "slack set-up problem",
      );
    }
    if (report.ok) logger.info({ findings: report.findings.length }, "slack set-up checked");
    return report;
  } catch (err) {
    logger.warn({ err }, "slack set-up check failed");
    return null;
  }
}
