/**
 * The xendomains init script's inputs: its settings file (`/etc/default/xendomains` on Debian,
 * `/etc/sysconfig/xendomains` on Red Hat and SUSE), a shell fragment of `NAME=value` lines that the
 * script sources, and the XENDOMAINS_AUTO directory (`/etc/xen/auto`) whose domain configs it starts
 * at boot, read with `ls -l` (usually symlinks to the configs in /etc/xen).
 *
 * The settings that matter here: XENDOMAINS_AUTO (the directory), XENDOMAINS_RESTORE (`true`: at boot,
 * restore the images XENDOMAINS_SAVE holds), XENDOMAINS_SAVE (where running domains are saved at
 * shutdown; empty: they are shut down instead).
 */
import { ParseError } from "../../errors";
import type { StartupConfig } from "../../model";
import { type GuestRef, guestOf } from "../guest-match";

export const XENDOMAINS_KIND = "xendomains-defaults";
export const LS_KIND = "ls-l";
export const XENDOMAINS_FILES = ["/etc/default/xendomains", "/etc/sysconfig/xendomains"] as const;
export const DEFAULT_AUTO_DIR = "/etc/xen/auto";

/** `NAME=value` assignments in file order (later ones win), with shell quoting undone. */
export function parseXendomainsDefaults(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  text
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .forEach((raw, i) => {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
      if (!m) {
        // The file is sourced by a shell: anything else (a test, a function) is not a setting we read.
        if (/^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(line))
          throw new ParseError(XENDOMAINS_KIND, i + 1, "space around '=' (not a shell assignment)", raw);
        return;
      }
      out[m[1] as string] = shellValue(m[2] as string, i + 1, raw);
    });
  return out;
}

function shellValue(rest: string, line: number, raw: string): string {
  let out = "";
  let i = 0;
  while (i < rest.length) {
    const c = rest[i] as string;
    if (c === "'" || c === '"') {
      const end = rest.indexOf(c, i + 1);
      if (end < 0) throw new ParseError(XENDOMAINS_KIND, line, `unterminated ${c} quote`, raw);
      out += rest.slice(i + 1, end).replace(c === '"' ? /\\(["\\$`])/g : /$^/, "$1");
      i = end + 1;
    } else if (/\s/.test(c)) {
      // An unquoted blank ends the value; what follows is a comment or another command.
      break;
    } else if (c === "\\" && i + 1 < rest.length) {
      out += rest[i + 1];
      i += 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

export interface LsEntry {
  name: string;
  /** `l` symlink, `-` file, `d` directory, ... */
  type: string;
  /** A symlink's target, as ls prints it after ` -> `. */
  target: string | null;
}

// ls -l's time column: `Jan 12 10:00`, `Jan 12  2009`, `2009-01-12 10:00` (long-iso), or full-iso
// `2009-01-12 10:00:00.000000000 +0000`.
const LS_LINE =
  /^([-dlcbps])[rwxsStT-]{9}[.+@]?\s+\d+\s+\S+\s+\S+\s+\d+(?:,\s*\d+)?\s+(?:[A-Z][a-z]{2}\s+\d{1,2}\s+(?:\d{1,2}:\d{2}|\d{4})|\d{4}-\d{2}-\d{2}\s+\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s+[+-]\d{4})?)\s(.+)$/;

/** `ls -l DIR`: its entries (the `total N` line skipped). */
export function parseLsLong(text: string): LsEntry[] {
  const out: LsEntry[] = [];
  text
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .forEach((raw, i) => {
      if (raw.trim() === "" || /^total \d+/.test(raw)) return;
      const m = LS_LINE.exec(raw);
      if (!m) throw new ParseError(LS_KIND, i + 1, "not an `ls -l` line", raw);
      const type = m[1] as string;
      const rest = m[2] as string;
      const arrow = type === "l" ? rest.indexOf(" -> ") : -1;
      out.push(
        arrow >= 0
          ? { type, name: rest.slice(0, arrow), target: rest.slice(arrow + 4) }
          : { type, name: rest, target: null },
      );
    });
  return out;
}

/** xendomains' view of boot: which inventory guests it would start or restore. */
export function startupConfig(
  configFile: string | null,
  settings: Record<string, string>,
  autoEntries: readonly LsEntry[],
  guests: readonly GuestRef[],
): StartupConfig {
  const autoDir = settings.XENDOMAINS_AUTO || DEFAULT_AUTO_DIR;
  const restore = settings.XENDOMAINS_RESTORE;
  return {
    configFile,
    autoDir,
    // xendomains starts every file in the directory (subdirectories are not domain configs).
    auto: autoEntries
      .filter((e) => e.type !== "d")
      .map((e) => {
        const target = e.target;
        const path = target ?? `${autoDir.replace(/\/$/, "")}/${e.name}`;
        return { name: e.name, target, guest: guestOf(path, guests) ?? guestOf(e.name, guests) };
      }),
    // The init script tests `[ "$XENDOMAINS_RESTORE" = "true" ]`.
    restore: restore === undefined ? null : restore === "true",
    save: settings.XENDOMAINS_SAVE ?? null,
  };
}
