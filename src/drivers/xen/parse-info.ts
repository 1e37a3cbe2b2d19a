/** `xm info` / `xl info` parser: one `key : value` pair per line; values may be empty or contain colons. */
import { ParseError } from "../../errors";
import { XenInfo } from "../../model";

export const XEN_INFO_KIND = "xen-info";

const PAIR = /^([A-Za-z_][A-Za-z0-9_]*)\s*:(.*)$/;

/** Parses `xm info` or `xl info` output into XenInfo; `raw` keeps every key with its trimmed value. */
export function parseXenInfo(text: string): XenInfo {
  const values = new Map<string, string>();
  const lineOf = new Map<string, number>();
  const lines = text.split("\n");
  lines.forEach((line, index) => {
    if (line.trim() === "") return;
    const lineNo = index + 1;
    const m = PAIR.exec(line.trimEnd());
    // `__proto__` would not survive as a plain object key; no toolstack prints it.
    if (!m?.[1] || m[1] === "__proto__")
      throw new ParseError(XEN_INFO_KIND, lineNo, "expected `key : value`", line);
    const key = m[1];
    if (lineOf.has(key))
      throw new ParseError(
        XEN_INFO_KIND,
        lineNo,
        `key "${key}" repeated (first on line ${lineOf.get(key)})`,
        line,
      );
    values.set(key, (m[2] ?? "").trim());
    lineOf.set(key, lineNo);
  });
  if (values.size === 0) throw new ParseError(XEN_INFO_KIND, 0, "empty output: no `key : value` lines");
  const raw: Record<string, string> = Object.fromEntries(values);

  // A numeric key that is present must be numeric: a garbled number is not "unknown".
  const int = (key: string): number | null => {
    const value = values.get(key);
    if (value === undefined || value === "") return null;
    if (!/^\d+$/.test(value)) {
      const lineNo = lineOf.get(key) ?? 0;
      throw new ParseError(
        XEN_INFO_KIND,
        lineNo,
        `${key} is not a whole number: "${value}"`,
        lines[lineNo - 1],
      );
    }
    return Number(value);
  };
  const stringValue = (key: string): string | null => {
    const value = values.get(key);
    return value === undefined || value === "" ? null : value;
  };

  const xenMajor = int("xen_major");
  const xenMinor = int("xen_minor");
  const xenVersion =
    xenMajor !== null && xenMinor !== null
      ? `${xenMajor}.${xenMinor}${values.get("xen_extra") ?? ""}`
      : stringValue("xen_version");

  return XenInfo.parse({
    host: stringValue("host"),
    release: stringValue("release"),
    xenVersion,
    xenMajor,
    xenMinor,
    totalMemoryMiB: int("total_memory"),
    freeMemoryMiB: int("free_memory"),
    nrCpus: int("nr_cpus"),
    raw,
  });
}
