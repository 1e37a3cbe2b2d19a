/**
 * Text helpers every message uses, whatever front end shows it: escaping of Slack's control characters,
 * truncation, durations, sizes, times, progress bars and mentions. Mentions are built here only as
 * Slack mrkdwn tokens for the renderers that still write mrkdwn by hand; neutral documents carry them as
 * structured parts (see ./document).
 */

/** Slack's three control characters; everything user- or node-supplied goes through this. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function unescapeMrkdwn(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

// ---- truncation ----

/** At most `max` characters: cut to `max - 1` and marked with "…". */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/**
 * The first `max` characters and then "…" (so up to `max + 1`): for output lines, where the visible
 * width is what is bounded and the mark is extra.
 */
export function clipLine(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

// ---- durations and times ----

/** Elapsed time to a tenth of a second: 870 ms → "0.9s", 72 s → "1m12s", 3725 s → "1h02m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  const sec = ms / 1000;
  if (sec < 10) return `${sec.toFixed(1)}s`;
  if (sec < 60) return `${Math.round(sec)}s`;
  if (sec < 3600) {
    const m = Math.floor(sec / 60);
    return `${m}m${String(Math.floor(sec % 60)).padStart(2, "0")}s`;
  }
  const h = Math.floor(sec / 3600);
  return `${h}h${String(Math.floor((sec % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * A window to the minute, as typed (`/xen maintenance ... 2h30m`): 90 min → "1h30m", 7 days → "7d";
 * under a minute in whole seconds (at least "1s").
 */
export function formatDurationMinutes(ms: number): string {
  const totalMin = Math.round(ms / 60_000);
  if (totalMin < 1) return `${Math.max(1, Math.round(ms / 1000))}s`;
  const d = Math.floor(totalMin / 1440);
  const h = Math.floor((totalMin % 1440) / 60);
  const m = totalMin % 60;
  return [d ? `${d}d` : "", h ? `${h}h` : "", m ? `${m}m` : ""].join("") || "0m";
}

/** ISO time without milliseconds, in UTC: "2024-03-04 10:00:01 UTC". */
export function utcTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, " UTC");
}

// ---- sizes ----

/** An amount of KiB in the largest unit that keeps it >= 1: "512 KiB", "70.0 MiB", "1.50 GiB". */
export function formatKiB(kib: number): string {
  if (!Number.isFinite(kib)) return "?";
  if (kib < 1024) return `${Math.round(kib)} KiB`;
  if (kib < 1024 * 1024) return `${(kib / 1024).toFixed(1)} MiB`;
  return `${(kib / (1024 * 1024)).toFixed(2)} GiB`;
}

/** Like formatKiB with one decimal in every unit, KiB as given, and "unknown" for null (DRBD did not say). */
export function formatKiBShort(kib: number | null): string {
  if (kib === null) return "unknown";
  if (kib >= 1024 * 1024) return `${(kib / 1024 / 1024).toFixed(1)} GiB`;
  if (kib >= 1024) return `${(kib / 1024).toFixed(1)} MiB`;
  return `${kib} KiB`;
}

export function formatRate(kibPerSec: number): string {
  return `${formatKiB(kibPerSec)}/s`;
}

/** `[██████░░░░░░░░░░░░░░]` for 0-100 %; out-of-range values are clamped. */
export function progressBar(percent: number, width = 20): string {
  const p = Math.min(100, Math.max(0, Number.isFinite(percent) ? percent : 0));
  const full = Math.round((p / 100) * width);
  return `[${"█".repeat(full)}${"░".repeat(width - full)}]`;
}

// ---- mentions (Slack mrkdwn) ----

/** A Slack user ID (`U…`, or `W…` on Enterprise Grid) as opposed to "system" or a name. */
export function isSlackUserId(id: string): boolean {
  return /^[UW][A-Z0-9]{2,}$/.test(id);
}

/** `<@U…>`; the ID is escaped so a malformed one cannot close the token early. */
export function userMention(id: string): string {
  return `<@${escapeMrkdwn(id)}>`;
}

/** `<!subteam^S…>`: a user group. */
export function groupMention(id: string): string {
  return `<!subteam^${escapeMrkdwn(id)}>`;
}

/** A mention for a Slack user ID, the escaped text for anything else ("system", a name). */
export function mentionOrText(id: string): string {
  return isSlackUserId(id) ? userMention(id) : escapeMrkdwn(id);
}

export interface OncallTargets {
  users?: readonly string[];
  groups?: readonly string[];
}

/** The on-call's groups, then users, as mentions; empty when none is configured (so nobody is paged). */
export function oncallMentions(who: OncallTargets): string {
  return [...(who.groups ?? []).map(groupMention), ...(who.users ?? []).map(userMention)].join(" ");
}
