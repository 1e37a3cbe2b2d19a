/**
 * `drbdadm dump [all|RESOURCE...]`: the configuration as drbdadm parsed it, re-printed in its own
 * layout (drbd-utils user/drbdadm_main.c `dump_*`): comments dropped, four-space indentation, option
 * names padded to a column, `ipv4` added to addresses, and per resource a
 * `# resource NAME on HOST: not ignored, not stacked` line. DRBD 9 also names where each resource was
 * defined. The text is parsed with the same grammar drbdadm reads (src/drivers/drbd-conf.ts).
 */
import { type ConfStatement, parseDrbdConf } from "../../drivers/drbd-conf";

export interface DumpSource {
  path: string;
  text: string;
}

function quoteValue(v: string): string {
  return /^[A-Za-z0-9_./:@+-]+$/.test(v) ? v : `"${v.replace(/(["\\])/g, "\\$1")}"`;
}

/** drbdadm prints a resource in its own order, not the file's: protocol, the hosts, then the sections. */
const RESOURCE_ORDER = [
  "protocol",
  "device",
  "disk",
  "meta-disk",
  "on",
  "net",
  "syncer",
  "startup",
  "options",
  "handlers",
];

function ordered(st: ConfStatement): ConfStatement[] {
  const block = st.block ?? [];
  if (st.keyword !== "resource") return block;
  const rank = (c: ConfStatement) => {
    const k = RESOURCE_ORDER.indexOf(c.keyword === "disk" && c.block ? "syncer" : c.keyword);
    return k < 0 ? RESOURCE_ORDER.length : k;
  };
  return [...block].sort((a, b) => rank(a) - rank(b));
}

function printStatement(st: ConfStatement, indent: string, quoted = false): string {
  if (st.block) {
    const head = [st.keyword, ...st.values.map(quoteValue)].join(" ");
    // Handler commands are strings: drbdadm prints them quoted.
    const body = ordered(st)
      .map((c) => printStatement(c, `${indent}    `, st.keyword === "handlers"))
      .join("");
    return `${indent}${head} {\n${body}${indent}}\n`;
  }
  let values = st.values.map((v) => (quoted ? `"${v.replace(/(["\\])/g, "\\$1")}"` : quoteValue(v)));
  if (st.keyword === "address" && values.length === 1) values = ["ipv4", ...values];
  if (values.length === 0) return `${indent}${st.keyword};\n`;
  return `${indent}${st.keyword.padEnd(16)} ${values.join(" ")};\n`;
}

/**
 * The dump of NODE's configuration, or a parse error as drbdadm reports it (exit code 10). `names`
 * limits it to some resources (`all` or empty: every one).
 */
export function renderDrbdadmDump(
  sources: readonly DumpSource[],
  node: string,
  nine: boolean,
  names: readonly string[],
): { stdout: string; stderr: string; exitCode: number } {
  const parsed: { st: ConfStatement; path: string }[] = [];
  for (const src of sources) {
    try {
      for (const st of parseDrbdConf(src.text)) parsed.push({ st, path: src.path });
    } catch (err) {
      const m = /line (\d+): (.*)$/.exec(err instanceof Error ? err.message : String(err));
      return {
        stdout: "",
        stderr: `${src.path}:${m?.[1] ?? 0}: Parse error: ${m?.[2] ?? "unreadable configuration"}\n`,
        exitCode: 10,
      };
    }
  }
  const all = names.length === 0 || names.includes("all");
  const resources = parsed.filter((p) => p.st.keyword === "resource" && p.st.block);
  const missing = all ? [] : names.filter((n) => !resources.some((r) => r.st.values[0] === n));
  if (missing.length > 0)
    return { stdout: "", stderr: `'${missing[0]}' not defined in your config.\n`, exitCode: nine ? 10 : 3 };
  let out = "# /etc/drbd.conf\n";
  let stderr = "";
  if (all) {
    for (const p of parsed)
      if (p.st.keyword === "global" || p.st.keyword === "common") out += `${printStatement(p.st, "")}\n`;
  }
  for (const p of resources) {
    const name = p.st.values[0] ?? "";
    if (!all && !names.includes(name)) continue;
    const mentioned = (p.st.block ?? []).some((c) => c.keyword === "on" && c.values[0] === node);
    if (!mentioned)
      stderr += `'${name}' ignored, since this host (${node}) is not mentioned with an 'on' keyword.\n`;
    out += `# resource ${name} on ${node}: ${mentioned ? "not ignored" : "ignored"}, not stacked\n`;
    if (nine) out += `# defined at ${p.path}:${p.st.line}\n`;
    out += `${printStatement(p.st, "")}\n`;
  }
  return { stdout: out, stderr, exitCode: 0 };
}
