/**
 * `xm list` / `xl list` table parser. Both toolstacks print the same six columns; xm also lists
 * inactive managed domains, whose rows have neither an ID nor a state. Columns are located by
 * tokens read from the right, because names longer than 40 characters push every column.
 */
import { ParseError } from "../../errors";
import { Domain, type DomainFlags, type MigrationMarker } from "../../model";

export type XenListKind = "xm-list" | "xl-list";

const HEADER = /^Name\s+ID\s+Mem(?:\(MiB\))?\s+VCPUs\s+State\s+Time\(s\)$/;
/**
 * Six positional flags: running, blocked, paused, shutdown, shutdown reason, dying. xm prints `c`
 * for crashed in the fifth place; xl prints the shutdown reason there (`-` poweroff, `r` reboot,
 * `s` suspend, `c` crash, `w` watchdog, `S` soft reset, `?` unknown), e.g. `---ss-` for a domain
 * suspended to migrate away.
 */
const STATE = /^[r-][b-][p-][s-][-rscwS?][d-]$/;
const INT = /^\d+$/;
/**
 * Both toolstacks print the CPU time as `%8.1f`: exactly one decimal. Requiring it means a row cut
 * anywhere before its end (truncated output) cannot pass for a shorter, inactive-domain row.
 */
const SECONDS = /^\d+\.\d$/;

interface Token {
  text: string;
  end: number;
}

function tokens(line: string): Token[] {
  return [...line.matchAll(/\S+/g)].map((m) => ({ text: m[0], end: (m.index ?? 0) + m[0].length }));
}

export function stateFlags(state: string): DomainFlags {
  return {
    running: state[0] === "r",
    blocked: state[1] === "b",
    paused: state[2] === "p",
    shutdown: state[3] === "s",
    crashed: state[4] === "c",
    dying: state[5] === "d",
  };
}

/** Splits a printed name into the guest it belongs to and a migration marker. */
export function guestOfName(
  name: string,
  id: number | null,
): {
  guest: string | null;
  migration: MigrationMarker | null;
  isDom0: boolean;
} {
  if (name === "Domain-0" || id === 0) return { guest: null, migration: null, isDom0: true };
  if (name === "(null)") return { guest: null, migration: null, isDom0: false };
  const migrating = /^migrating-(.+)$/.exec(name);
  if (migrating?.[1]) return { guest: migrating[1], migration: "migrating", isDom0: false };
  const suffix = /^(.+)--(incoming|migratedaway)$/.exec(name);
  if (suffix?.[1] && (suffix[2] === "incoming" || suffix[2] === "migratedaway"))
    return { guest: suffix[1], migration: suffix[2], isDom0: false };
  return { guest: name, migration: null, isDom0: false };
}

function parseRow(line: string, lineNo: number, kind: XenListKind): Domain {
  const fail = (message: string) => new ParseError(kind, lineNo, message, line);
  const toks = tokens(line);
  let end = toks.length;

  const time = toks[end - 1];
  if (!time || !SECONDS.test(time.text))
    throw fail("last column is not a CPU time in seconds (N.N): the row is cut short or garbled");
  end--;

  let state: string | null = null;
  const stateTok = toks[end - 1];
  // Whatever stands between the numbers and the time must be the state column.
  if (stateTok && !INT.test(stateTok.text)) {
    if (!STATE.test(stateTok.text))
      throw fail(`state column "${stateTok.text}" is not six r/b/p/s/c/d flags (e.g. r-----)`);
    state = stateTok.text;
    end--;
  }

  // ID (absent on inactive domains), Mem, VCPUs: at most three integers, leaving a name.
  let numeric = 0;
  while (numeric < 3 && end - numeric > 1 && INT.test(toks[end - numeric - 1]?.text ?? "")) numeric++;
  if (numeric < 2) throw fail("expected Mem and VCPUs columns before the state and time");
  const nums = toks.slice(end - numeric, end).map((t) => Number(t.text));
  const [id, memoryMiB, vcpus] = numeric === 3 ? nums : [null, ...nums];
  const lastNameTok = toks[end - numeric - 1];
  if (!lastNameTok) throw fail("row has no name");
  const name = line.slice(0, lastNameTok.end).trim();

  const candidate = {
    name,
    ...guestOfName(name, id ?? null),
    id: id ?? null,
    memoryMiB: memoryMiB ?? null,
    vcpus: vcpus ?? null,
    state,
    flags: state === null ? null : stateFlags(state),
    timeSec: Number(time.text),
  };
  const checked = Domain.safeParse(candidate);
  if (!checked.success) throw fail(`row does not form a valid domain: ${checked.error.message}`);
  return checked.data;
}

/**
 * Parses `xm list` or `xl list` output; throws ParseError on any row it cannot read fully, and on a
 * table without its Domain-0 row (header only, cut short).
 */
export function parseXenList(text: string, kind: XenListKind): Domain[] {
  const lines = text.split("\n");
  const domains: Domain[] = [];
  let headerSeen = false;
  lines.forEach((raw, index) => {
    const line = raw.trimEnd();
    if (line.trim() === "") return;
    const lineNo = index + 1;
    if (!headerSeen) {
      if (!HEADER.test(line.trim()))
        throw new ParseError(kind, lineNo, "expected the header `Name ID Mem VCPUs State Time(s)`", raw);
      headerSeen = true;
      return;
    }
    domains.push(parseRow(line, lineNo, kind));
  });
  if (!headerSeen) throw new ParseError(kind, 0, "empty output: no `Name ID Mem VCPUs State Time(s)` header");
  // The toolstack always lists dom0 first: a table without it was cut short (or is not the table),
  // and reading it as "no guests" would let a guest start a second time.
  const dom0 = domains.filter((d) => d.isDom0);
  if (dom0.length === 0)
    throw new ParseError(kind, 0, "no Domain-0 row: the list is incomplete (a dom0 always lists itself)");
  if (dom0.length > 1) throw new ParseError(kind, 0, `${dom0.length} Domain-0 rows: the list is garbled`);
  return domains;
}
