/** Shared pieces of the checks: reading facts and building results. */
import type { CheckArea, CheckResult, CheckStatus, DoctorFacts, Evidence, NodeFacts, Read } from "../types";

export function result(
  id: string,
  area: CheckArea,
  subject: string | null,
  status: CheckStatus,
  summary: string,
  evidence: Evidence[],
  fix: string | null = null,
): CheckResult {
  return { id, area, subject, status, summary, evidence, fix: status === "pass" ? null : fix };
}

export function worst(statuses: readonly CheckStatus[]): CheckStatus {
  if (statuses.includes("fail")) return "fail";
  if (statuses.includes("warn")) return "warn";
  return "pass";
}

/** The nodes that answered. */
export function reachable(f: DoctorFacts): NodeFacts[] {
  return f.nodes.filter((n) => n.reachable);
}

export function readOf(n: NodeFacts, key: string): Read | undefined {
  return n.reads[key];
}

/** stdout of a read that exited 0, else null. */
export function ok(n: NodeFacts, key: string): string | null {
  const r = n.reads[key];
  return r && r.exitCode === 0 ? r.stdout : null;
}

/** How a failed read is shown as evidence. */
export function failedLines(r: Read | undefined): string[] {
  if (!r) return ["(not read)"];
  const cmd = `$ ${r.argv.join(" ")}`;
  if (r.exitCode === null) return [cmd, `(${r.error ?? "did not run"})`];
  const err = r.stderr.trim().split("\n").slice(0, 3);
  return [cmd, `(exit ${r.exitCode})`, ...err.filter(Boolean)];
}

/** Lines of `text` matching `re`, trimmed, at most `max`. */
export function grep(text: string, re: RegExp, max = 8): string[] {
  return text
    .split("\n")
    .filter((l) => re.test(l))
    .map((l) => l.trimEnd())
    .slice(0, max);
}

/** Evidence for unreachable nodes: they are part of the picture, never silently dropped. */
export function unreachableEvidence(f: DoctorFacts): Evidence[] {
  return f.nodes
    .filter((n) => !n.reachable)
    .map((n) => ({ node: n.node, lines: [`(unreachable: ${n.error ?? "no answer"})`] }));
}

/** The nodes a DRBD resource lives on per the inventory (default: every node). */
export function resourceNodes(f: DoctorFacts, resource: string): string[] {
  const r = f.cluster.drbd.find((x) => x.name === resource);
  return r?.nodes ?? f.cluster.nodes.map((n) => n.name);
}

/** The nodes a guest may run on: those holding all its DRBD resources (every node without any). */
export function guestNodes(f: DoctorFacts, guest: string): string[] {
  const g = f.cluster.guests.find((x) => x.name === guest);
  const all = f.cluster.nodes.map((n) => n.name);
  if (!g || g.drbd.length === 0) return all;
  return all.filter((n) => g.drbd.every((r) => resourceNodes(f, r).includes(n)));
}

export function nodeFacts(f: DoctorFacts, name: string): NodeFacts | undefined {
  return f.nodes.find((n) => n.node === name);
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
