/** printf-style helpers, so renderers read like the C/Python format strings they reproduce. */

/** `%-Ns`: left-aligned, never truncated. */
export function left(s: string | number, width: number): string {
  return String(s).padEnd(width, " ");
}

/** `%Ns` / `%Nd`: right-aligned, never truncated. */
export function right(s: string | number, width: number): string {
  return String(s).padStart(width, " ");
}

/** `%N.Pf` (C rounding of a double; exact ties are rare enough not to matter for displays). */
export function fixed(n: number, precision: number, width = 0): string {
  return right(n.toFixed(precision), width);
}

/** DRBD's seq_printf_with_thousands_grouping / `%ld,%03ld`: 1234567 -> "1,234,567". */
export function thousands(n: number): string {
  const v = Math.floor(n);
  if (v >= 1000000) {
    const rest = v % 1000000;
    return `${Math.floor(v / 1000000)},${pad3(Math.floor(rest / 1000))},${pad3(rest % 1000)}`;
  }
  if (v >= 1000) return `${Math.floor(v / 1000)},${pad3(v % 1000)}`;
  return String(v);
}

function pad3(n: number): string {
  return String(n).padStart(3, "0");
}

function two(n: number): string {
  return String(n).padStart(2, "0");
}

/** `Mon Jan 12 10:00:00 2009`: C ctime()/asctime() without the newline, in UTC (the nodes' TZ). */
export function ctime(ms: number): string {
  const d = new Date(ms);
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${right(d.getUTCDate(), 2)} ${two(d.getUTCHours())}:${two(
    d.getUTCMinutes(),
  )}:${two(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** heartbeat's ha_timestamp(): `2009/01/12_10:00:00`. */
export function haTimestamp(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}/${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())}_${two(d.getUTCHours())}:${two(
    d.getUTCMinutes(),
  )}:${two(d.getUTCSeconds())}`;
}

/** drbdsetup events2 --timestamps prefix: `2024-03-04T10:00:00.000000+00:00`. */
export function isoMicros(ms: number): string {
  const d = new Date(ms);
  const us = String((Math.floor(ms) % 1000) * 1000).padStart(6, "0");
  return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}T${two(d.getUTCHours())}:${two(
    d.getUTCMinutes(),
  )}:${two(d.getUTCSeconds())}.${us}+00:00`;
}

/** Python logging's default asctime: `2024-03-04 10:00:00,000`. */
export function pyAsctime(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(
    d.getUTCMinutes(),
  )}:${two(d.getUTCSeconds())},${String(Math.floor(ms) % 1000).padStart(3, "0")}`;
}

/** Pacemaker's pcmk__timespec2str with date, time, zone and usecs: `2024-03-04 10:00:00.000000 +00:00`. */
export function pcmkTimestamp(ms: number): string {
  const d = new Date(ms);
  const us = String((Math.floor(ms) % 1000) * 1000).padStart(6, "0");
  return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(
    d.getUTCMinutes(),
  )}:${two(d.getUTCSeconds())}.${us} +00:00`;
}

/** XML attribute escaping as libxml2 writes it. */
export function xmlAttr(s: string): string {
  if (!/[&<>"]/.test(s)) return s;
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
