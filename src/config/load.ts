/** Loads and validates the inventory file, reporting every problem at once with its place in the file. */
import { readFile } from "node:fs/promises";
import { isNode, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { XenopsError } from "../errors";
import { crossReferenceIssues, InventoryConfig } from "./schema";

export interface ConfigProblem {
  /** Path in the file, e.g. `clusters[0].nodes[1].hostKey`. */
  path: string;
  /** 1-based line (and column) of the offending value, when it can be located. */
  line: number | null;
  column: number | null;
  message: string;
}

export type LoadResult = { ok: true; config: InventoryConfig } | { ok: false; problems: ConfigProblem[] };

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || "(top level)";
}

/** Rewords zod messages into "what to fix" sentences where zod's default is terse. */
function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return issue.input === undefined
        ? `missing: expected ${issue.expected}`
        : `expected ${issue.expected}, got ${typeof issue.input}`;
    case "unrecognized_keys":
      return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}: remove or fix the spelling`;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_union":
      return issue.message === "Invalid input" ? "does not match any accepted form" : issue.message;
    default:
      return issue.message;
  }
}

export function parseInventory(text: string): LoadResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return {
          path: "(YAML syntax)",
          line: pos?.line ?? null,
          column: pos?.col ?? null,
          message: e.message.split("\n")[0] ?? e.message,
        };
      }),
    };
  }
  const raw: unknown = doc.toJS();
  const result = InventoryConfig.safeParse(raw);
  if (result.success) return { ok: true, config: result.data };
  // zod skips refinements once a field is invalid; run the cross-reference checks anyway.
  const issues: { path: PropertyKey[]; message: string }[] = result.error.issues.map((i) => ({
    path: i.path as PropertyKey[],
    message: describeIssue(i),
  }));
  const seen = new Set(issues.map((i) => `${formatPath(i.path)}\0${i.message}`));
  for (const extra of crossReferenceIssues(raw)) {
    if (!seen.has(`${formatPath(extra.path)}\0${extra.message}`)) issues.push(extra);
  }
  const problems = issues.map((issue): ConfigProblem => {
    const path = issue.path;
    // Walk up the path until a node exists (a missing key is reported at its parent).
    let node: unknown = null;
    for (let depth = path.length; depth >= 0 && !isNode(node); depth--) {
      node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth) as unknown[], true);
    }
    const offset = isNode(node) && node.range ? node.range[0] : null;
    const pos = offset === null ? null : lineCounter.linePos(offset);
    return {
      path: formatPath(path),
      line: pos?.line ?? null,
      column: pos?.col ?? null,
      message: issue.message,
    };
  });
  return { ok: false, problems };
}

export async function loadInventoryFile(file: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const reason =
      (err as NodeJS.ErrnoException).code === "ENOENT" ? "file not found" : (err as Error).message;
    return {
      ok: false,
      problems: [{ path: "(file)", line: null, column: null, message: `${file}: ${reason}` }],
    };
  }
  return parseInventory(text);
}

export function formatProblems(file: string, problems: readonly ConfigProblem[]): string {
  return problems
    .map((p) => `${file}${p.line !== null ? `:${p.line}:${p.column ?? 1}` : ""}: ${p.path}: ${p.message}`)
    .join("\n");
}

/** Loads or throws one XenopsError("config_invalid") listing every problem. */
export async function loadInventoryOrThrow(file: string): Promise<InventoryConfig> {
  const result = await loadInventoryFile(file);
  if (!result.ok)
    throw new XenopsError(
      "config_invalid",
      `invalid configuration:\n${formatProblems(file, result.problems)}`,
    );
  return result.config;
}
