/**
 * The import graph of the product code (src/, jobs/, commands/), read from the sources with a small
 * scanner instead of a compiler: statements that start a line (`import ... from "x"`, `export ... from
 * "x"`, `import "x"`) and dynamic `import("x")` outside comments. Biome formats every file, so a static
 * import always starts its line; doc comments (` * import ...`) therefore never count.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export interface ImportEdge {
  /** The importing file, relative to the repository root with `/` separators. */
  from: string;
  /** The specifier as written. */
  specifier: string;
  /** The imported file (relative, like `from`) for a relative specifier; null for a package. */
  to: string | null;
  /** `import type`, `export type`, or every named specifier marked `type`: erased at run time. */
  typeOnly: boolean;
  /** `import("x")`: loaded when first needed. */
  dynamic: boolean;
}

export interface ImportGraph {
  root: string;
  files: string[];
  edges: ImportEdge[];
  /** The file's source (for the checks that read calls, not imports). */
  source(file: string): string;
}

const ROOTS = ["src", "jobs", "commands"];

const STATIC = /^(import|export)(\s+type)?\b([^;()=]*?)\bfrom\s*"([^"]+)"|^import\s*"([^"]+)"/gm;
const DYNAMIC = /(?<![\w.$])import\(\s*"([^"]+)"\s*\)/g;

function typeOnlyClause(keywordType: boolean, clause: string): boolean {
  if (keywordType) return true;
  const braces = clause.match(/\{([^}]*)\}/);
  // A default or namespace import next to (or instead of) the braces is a value.
  const outside = clause.replace(/\{[^}]*\}/, "").replace(/[\s,]/g, "");
  if (!braces || outside !== "") return false;
  const names = (braces[1] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  return names.length > 0 && names.every((n) => n.startsWith("type "));
}

function resolveRelative(root: string, fromFile: string, specifier: string): string | null {
  const base = path.resolve(root, path.dirname(fromFile), specifier);
  const candidates = [base, `${base}.ts`, path.join(base, "index.ts")];
  const hit = candidates.find((c) => c.endsWith(".ts") && existsSync(c));
  return hit ? path.relative(root, hit).split(path.sep).join("/") : null;
}

function listTs(root: string): string[] {
  const out: string[] = [];
  for (const top of ROOTS) {
    const dir = path.join(root, top);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir, { recursive: true, encoding: "utf8" }))
      if (f.endsWith(".ts") && !f.endsWith(".d.ts")) out.push(`${top}/${f.split(path.sep).join("/")}`);
  }
  return out.sort();
}

export function readImportGraph(root: string): ImportGraph {
  const files = listTs(root);
  const sources = new Map(files.map((f) => [f, readFileSync(path.join(root, f), "utf8")]));
  const edges: ImportEdge[] = [];
  for (const from of files) {
    const text = sources.get(from) ?? "";
    const add = (specifier: string, typeOnly: boolean, dynamic: boolean) =>
      edges.push({
        from,
        specifier,
        to: specifier.startsWith(".") ? resolveRelative(root, from, specifier) : null,
        typeOnly,
        dynamic,
      });
    for (const m of text.matchAll(STATIC)) {
      if (m[5] !== undefined) add(m[5], false, false);
      else add(m[4] ?? "", typeOnlyClause(m[2] !== undefined, m[3] ?? ""), false);
    }
    for (const line of text.split("\n")) {
      const trimmed = line.trimStart();
      if (trimmed.startsWith("*") || trimmed.startsWith("//") || trimmed.startsWith("/*")) continue;
      // `typeof import("x")` in a type position is erased like `import type`.
      for (const m of line.matchAll(DYNAMIC))
        add(m[1] ?? "", /typeof\s+$/.test(line.slice(0, m.index)), true);
    }
  }
  return { root, files, edges, source: (file) => sources.get(file) ?? "" };
}

/** Every cycle's files (one per strongly connected component of more than one file, or a self-import). */
export function importCycles(files: readonly string[], edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) if (e.to) next.get(e.from)?.push(e.to);
  // Tarjan's strongly connected components, iteratively (deep chains would overflow the stack).
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  for (const start of files) {
    if (index.has(start)) continue;
    const work: { node: string; i: number }[] = [{ node: start, i: 0 }];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const out = next.get(top.node) ?? [];
      if (top.i < out.length) {
        const to = out[top.i++]!;
        if (!index.has(to)) {
          index.set(to, counter);
          low.set(to, counter++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, i: 0 });
        } else if (onStack.has(to)) low.set(top.node, Math.min(low.get(top.node)!, index.get(to)!));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(top.node)!));
      if (low.get(top.node) === index.get(top.node)) {
        const component: string[] = [];
        let member: string | undefined;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== top.node);
        const selfLoop = (next.get(top.node) ?? []).includes(top.node);
        if (component.length > 1 || selfLoop) cycles.push(component.sort());
      }
    }
  }
  return cycles;
}
