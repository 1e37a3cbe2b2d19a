/**
 * The direction of the imports between the product's folders, so that the composition stays in one
 * place (src/runtime/: deps.ts builds everything from small factories beside it; modes.ts and the entry
 * points in src/cli/ and src/lab/ start it) and nothing below it reaches up. Read from the sources by
 * ./import-graph.ts; every exception is listed here with its reason.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type ImportEdge, importCycles, readImportGraph } from "./import-graph";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const graph = readImportGraph(ROOT);

/** The composition root and what starts it: the only files that may wire everything together. */
const COMPOSITION = ["src/runtime/"];
/** The composition itself: the one file that names the verbs and the processors. */
const ROOT_FILE = "src/runtime/deps.ts";
/** The one file of the composition that asks the queue module for Redis clients (one per role). */
const REDIS_CLIENTS = "src/runtime/redis-clients.ts";
/** Entry points of their own processes (CLI commands, the lab and its fuzzer): they wire what they run. */
const ENTRY_POINTS = ["src/cli/", "src/lab/"];

const under = (file: string, prefixes: readonly string[]) =>
  prefixes.some((p) => (p.endsWith("/") ? file.startsWith(p) : file === p));
const show = (e: ImportEdge) => `${e.from} -> ${e.to ?? e.specifier}${e.typeOnly ? " (type)" : ""}`;

describe("import graph", () => {
  it("reads the imports it checks", () => {
    // A scanner that found nothing would pass every rule below.
    expect(graph.files).toContain(ROOT_FILE);
    expect(graph.edges.some((e) => e.from === ROOT_FILE && e.to === "jobs/index.ts")).toBe(true);
    expect(graph.edges.some((e) => e.from === ROOT_FILE && e.to === "commands/index.ts")).toBe(true);
    expect(graph.edges.some((e) => e.from === "src/ssh/pool.ts" && e.specifier === "ssh2")).toBe(true);
    const unresolved = graph.edges.filter((e) => e.specifier.startsWith(".") && e.to === null);
    expect(unresolved.map(show)).toEqual([]);
  });
});

describe("layers", () => {
  it("only the composition root imports jobs/ and commands/", () => {
    const bad = graph.edges.filter(
      (e) =>
        e.from.startsWith("src/") &&
        (e.to?.startsWith("jobs/") || e.to?.startsWith("commands/")) &&
        e.from !== ROOT_FILE,
    );
    expect(bad.map(show)).toEqual([]);
  });

  it("jobs/ and commands/ do not import each other", () => {
    const bad = graph.edges.filter(
      (e) =>
        (e.from.startsWith("jobs/") && e.to?.startsWith("commands/")) ||
        (e.from.startsWith("commands/") && e.to?.startsWith("jobs/")),
    );
    expect(bad.map(show)).toEqual([]);
  });

  it("nothing below the composition root imports it", () => {
    const bad = graph.edges.filter(
      (e) =>
        e.to !== null &&
        under(e.to, COMPOSITION) &&
        !under(e.from, COMPOSITION) &&
        !under(e.from, ENTRY_POINTS),
    );
    expect(bad.map(show)).toEqual([]);
  });

  it("the drivers and the floor import only what lies below them", () => {
    const allowedFor: Record<string, readonly string[]> = {
      // The drivers parse tool outputs into the model; they see the inventory's types, how to run a
      // command (src/command-runner.ts) and their own contracts, ClusterDrivers included
      // (src/drivers/types.ts). Nothing above them: not even src/cluster, which uses them.
      "src/drivers/": [
        "src/drivers/",
        "src/model.ts",
        "src/config/",
        "src/command-runner.ts",
        "src/errors.ts",
        "src/log.ts",
        "src/compare-text.ts",
      ],
      // The floor: the normalized model and the CommandRunner contract, named by every layer above.
      "src/model.ts": ["src/errors.ts"],
      "src/command-runner.ts": ["src/errors.ts"],
      "src/compare-text.ts": [],
    };
    const bad: string[] = [];
    for (const [from, allowed] of Object.entries(allowedFor))
      for (const e of graph.edges)
        if (under(e.from, [from]) && e.to !== null && !under(e.to, allowed)) bad.push(show(e));
    expect(bad).toEqual([]);
  });
});

describe("packages", () => {
  const importers = (packages: readonly string[], values: boolean) =>
    graph.edges.filter(
      (e) =>
        e.to === null &&
        packages.some((p) => e.specifier === p || e.specifier.startsWith(`${p}/`)) &&
        (!values || !e.typeOnly),
    );

  it("only src/ssh uses ssh2", () => {
    expect(
      importers(["ssh2"], false)
        .filter((e) => !e.from.startsWith("src/ssh/"))
        .map(show),
    ).toEqual([]);
  });

  it("only src/slack uses Bolt and the Slack Web API", () => {
    // The runtime (src/runtime/slack.ts) reaches Bolt only through src/slack/app.ts.
    expect(
      importers(["@slack/bolt", "@slack/web-api"], false)
        .filter((e) => !e.from.startsWith("src/slack/"))
        .map(show),
    ).toEqual([]);
  });

  it("only src/queue loads ioredis (others name its types)", () => {
    expect(
      importers(["ioredis"], true)
        .filter((e) => !e.from.startsWith("src/queue/"))
        .map(show),
    ).toEqual([]);
  });

  it("Redis connections are opened by src/queue, for the composition root and entry points", () => {
    // Everything below receives its client from the root (src/runtime/redis-clients.ts asks src/queue for
    // one per role): the audit log, events, locks and approvals take a `redis` option and leave it open
    // when they close.
    const OPENS = /\bcreateRedisConnection\(|\bnew\s+(?:Redis|IORedis|Cluster)\(/;
    const opening = graph.files.filter((f) => OPENS.test(graph.source(f)));
    expect(opening.some((f) => f.startsWith("src/queue/"))).toBe(true);
    expect(opening).toContain(REDIS_CLIENTS);
    const bad = opening.filter(
      (f) => !f.startsWith("src/queue/") && f !== REDIS_CLIENTS && !under(f, ENTRY_POINTS),
    );
    expect(bad).toEqual([]);
  });
});

describe("cycles", () => {
  it("no import cycle through run-time imports", () => {
    expect(
      importCycles(
        graph.files,
        graph.edges.filter((e) => !e.typeOnly),
      ),
    ).toEqual([]);
  });

  it("type-only cycles are the known ones", () => {
    // Erased at run time (Biome's noImportCycles does not count them either); each is a pair of
    // modules sharing types. New ones are refused: put the shared type in one of them or below both.
    const known = [
      ["src/chat/types.ts", "src/message/document.ts"],
      ["src/events/incidents.ts", "src/paging/listener.ts"],
      ["src/events/render.ts", "src/paging/render.ts"],
      ["src/operations/registry.ts", "src/operations/split-brain.ts"],
      ["src/operations/ha-manager.ts", "src/operations/types.ts"],
    ].map((c) => c.join(" "));
    // The simulator's own model and its renderers name each other's types; it is a test double.
    const inSimulator = (cycle: string[]) => cycle.every((f) => f.startsWith("src/sim/"));
    const found = importCycles(graph.files, graph.edges)
      .filter((c) => !inSimulator(c))
      .map((c) => c.join(" "));
    expect(found.filter((c) => !known.includes(c))).toEqual([]);
  });
});
