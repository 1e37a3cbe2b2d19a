/**
 * DRBD's configuration language, as in `/etc/drbd.conf`, `/etc/drbd.d/*.res` and the output of
 * `drbdadm dump` (DRBD 8.x and 9; `drbdsetup show` uses the same grammar). A file is a sequence of
 * statements: `keyword value...;` or `keyword value... { statements }`. Values are words or
 * double-quoted strings; `#` starts a comment to the end of the line.
 *
 * Examples (drbdadm dump, DRBD 8.3):
 *
 *   # resource r0 on alice: not ignored, not stacked
 *   resource r0 {
 *       protocol               C;
 *       on alice {
 *           device           /dev/drbd0;
 *           address          ipv4 10.1.1.31:7789;
 *       }
 *       net {
 *           allow-two-primaries;
 *           after-sb-0pri    discard-zero-changes;
 *       }
 *   }
 *
 * The resource view below folds `common` into each resource (the resource's own settings win), the
 * way drbdadm applies them.
 */
import { ParseError } from "../errors";

export const DRBD_CONF_KIND = "drbd-conf";

export interface ConfStatement {
  keyword: string;
  /** Words after the keyword, quotes removed. */
  values: string[];
  /** Nested statements when the statement has a `{ }` block, else null. */
  block: ConfStatement[] | null;
  /** 1-based line of the keyword. */
  line: number;
}

interface Token {
  kind: "word" | "string" | "{" | "}" | ";";
  text: string;
  line: number;
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === "\n") {
      line++;
      i++;
    } else if (/\s/.test(c)) i++;
    else if (c === "#") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "{" || c === "}" || c === ";") {
      out.push({ kind: c, text: c, line });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let s = "";
      while (j < text.length && text[j] !== '"') {
        if (text[j] === "\\" && j + 1 < text.length) j++;
        if (text[j] === "\n") line++;
        s += text[j];
        j++;
      }
      if (j >= text.length) throw new ParseError(DRBD_CONF_KIND, line, "unterminated string");
      out.push({ kind: "string", text: s, line });
      i = j + 1;
    } else {
      let j = i;
      while (j < text.length && !/[\s{};#"]/.test(text[j] as string)) j++;
      out.push({ kind: "word", text: text.slice(i, j), line });
      i = j;
    }
  }
  return out;
}

/** The statements of a DRBD configuration text. Throws ParseError on unbalanced braces or a missing `;`. */
export function parseDrbdConf(text: string): ConfStatement[] {
  const tokens = tokenize(text.replace(/\r\n?/g, "\n"));
  let pos = 0;
  const statements = (depth: number): ConfStatement[] => {
    const out: ConfStatement[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos] as Token;
      if (t.kind === "}") {
        if (depth === 0) throw new ParseError(DRBD_CONF_KIND, t.line, "unexpected '}'");
        pos++;
        return out;
      }
      if (t.kind === ";") {
        pos++;
        continue;
      }
      if (t.kind !== "word")
        throw new ParseError(DRBD_CONF_KIND, t.line, `expected a keyword, got ${t.text}`);
      const st: ConfStatement = { keyword: t.text, values: [], block: null, line: t.line };
      pos++;
      for (;;) {
        const v = tokens[pos];
        if (!v) throw new ParseError(DRBD_CONF_KIND, t.line, `"${t.text}" is not terminated by ';' or '{'`);
        if (v.kind === "word" || v.kind === "string") {
          st.values.push(v.text);
          pos++;
        } else if (v.kind === ";") {
          pos++;
          break;
        } else if (v.kind === "{") {
          pos++;
          st.block = statements(depth + 1);
          break;
        } else throw new ParseError(DRBD_CONF_KIND, v.line, `"${t.text}": unexpected '}' (missing ';')`);
      }
      out.push(st);
    }
    if (depth > 0) throw new ParseError(DRBD_CONF_KIND, tokens.at(-1)?.line ?? 0, "missing '}' at the end");
    return out;
  };
  return statements(0);
}

/** One `on HOST { }` section. */
export interface DrbdConfHost {
  name: string;
  device: string | null;
  minor: number | null;
  disk: string | null;
  /** `10.1.1.31:7789` (address family dropped). */
  address: string | null;
  metaDisk: string | null;
  line: number;
}

export interface DrbdConfResource {
  name: string;
  line: number;
  protocol: string | null;
  hosts: DrbdConfHost[];
  /** Section name (net, disk, syncer, startup, handlers, options) → option → value ("" for a flag). */
  sections: Record<string, Record<string, string>>;
}

export interface DrbdConf {
  common: Record<string, Record<string, string>>;
  resources: DrbdConfResource[];
}

function sectionOf(block: readonly ConfStatement[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of block) if (!s.block) out[s.keyword] = s.values.join(" ");
  return out;
}

function deviceOf(values: readonly string[]): { device: string | null; minor: number | null } {
  // `device /dev/drbd0;`, `device /dev/drbd0 minor 0;`, `device minor 0;`
  let device: string | null = null;
  let minor: number | null = null;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as string;
    if (v === "minor") minor = Number(values[++i]);
    else device = v;
  }
  if (minor === null && device) {
    const m = /drbd(\d+)$/.exec(device);
    if (m) minor = Number(m[1]);
  }
  if (minor !== null && !Number.isInteger(minor)) minor = null;
  return { device: device ?? (minor !== null ? `/dev/drbd${minor}` : null), minor };
}

function addressOf(values: readonly string[]): string | null {
  const last = values.at(-1);
  return last ?? null;
}

/** Host-level keys may sit in the resource (inherited by every `on` section) or in `on`/`volume 0`. */
function hostOf(name: string, st: ConfStatement, inherited: Record<string, ConfStatement>): DrbdConfHost {
  const own: Record<string, ConfStatement> = { ...inherited };
  const collect = (block: readonly ConfStatement[]): void => {
    for (const s of block) {
      if (s.keyword === "volume" && s.block) collect(s.block);
      else if (!s.block) own[s.keyword] = s;
    }
  };
  collect(st.block ?? []);
  const dev = own.device ? deviceOf(own.device.values) : { device: null, minor: null };
  return {
    name,
    device: dev.device,
    minor: dev.minor,
    disk: own.disk?.values.join(" ") ?? null,
    address: own.address ? addressOf(own.address.values) : null,
    metaDisk: own["meta-disk"]?.values.join(" ") ?? null,
    line: st.line,
  };
}

const HOST_KEYS = new Set(["device", "disk", "address", "meta-disk", "flexible-meta-disk"]);

/** The resources with `common` folded in. */
export function drbdConfResources(statements: readonly ConfStatement[]): DrbdConf {
  const common: Record<string, Record<string, string>> = {};
  const commonTop: Record<string, string> = {};
  for (const s of statements)
    if (s.keyword === "common" && s.block)
      for (const c of s.block) {
        if (c.block) common[c.keyword] = { ...common[c.keyword], ...sectionOf(c.block) };
        else commonTop[c.keyword] = c.values.join(" ");
      }
  const resources: DrbdConfResource[] = [];
  for (const s of statements) {
    if (s.keyword !== "resource" || !s.block) continue;
    const name = s.values[0] ?? "";
    const sections: Record<string, Record<string, string>> = {};
    for (const [k, v] of Object.entries(common)) sections[k] = { ...v };
    const inherited: Record<string, ConfStatement> = {};
    let protocol = commonTop.protocol ?? null;
    const hostStatements: ConfStatement[] = [];
    for (const c of s.block) {
      if (c.keyword === "on" && c.block) hostStatements.push(c);
      else if (c.block && c.keyword !== "connection" && c.keyword !== "volume")
        sections[c.keyword] = { ...sections[c.keyword], ...sectionOf(c.block) };
      else if (c.keyword === "protocol") protocol = c.values[0] ?? null;
      else if (HOST_KEYS.has(c.keyword)) inherited[c.keyword] = c;
    }
    // DRBD 9 (and 8.4) may put protocol into the net section.
    protocol = sections.net?.protocol ?? protocol;
    resources.push({
      name,
      line: s.line,
      protocol,
      hosts: hostStatements.map((h) => hostOf(h.values[0] ?? "", h, inherited)),
      sections,
    });
  }
  return { common, resources };
}

/** `drbdadm dump` (or a drbd.conf) → its resources. */
export function parseDrbdDump(text: string): DrbdConf {
  return drbdConfResources(parseDrbdConf(text));
}

/** DRBD's size suffixes (`10M`, `100K`, `1G`; a bare number is KiB for rates) → KiB. */
export function sizeToKiB(value: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)$/.exec(value.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = (m[2] ?? "").toUpperCase();
  const factor = unit === "M" ? 1024 : unit === "G" ? 1024 * 1024 : unit === "T" ? 1024 ** 3 : 1;
  return n * factor;
}
