/** Small text formatters shared by job cards, the watch and the `jobs`/`history` replies. */

/** 850 ms → "0.9s", 72 s → "1m12s", 3725 s → "1h02m". */
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

/** An amount of KiB in the largest unit that keeps it >= 1: "512 KiB", "70.0 MiB", "1.50 GiB". */
export function formatKiB(kib: number): string {
  if (!Number.isFinite(kib)) return "?";
  if (kib < 1024) return `${Math.round(kib)} KiB`;
  if (kib < 1024 * 1024) return `${(kib / 1024).toFixed(1)} MiB`;
  return `${(kib / (1024 * 1024)).toFixed(2)} GiB`;
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

/** ISO time without milliseconds, in UTC: "2024-03-04 10:00:01 UTC". */
export function utcTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, " UTC");
}
