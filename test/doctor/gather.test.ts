/** How the doctor reads a cluster's nodes: all at once for `/xen doctor`, a few at a time for the monitor. */
import { describe, expect, it } from "vitest";
import type { CommandRunner } from "../../src/command-runner";
import { gatherFacts } from "../../src/doctor/gather";
import { Simulation, scaleLab } from "../../src/sim";
import { runner, simCluster } from "./helpers";

/** Runners over the simulator that count how many nodes have a read in flight at once. */
function counting(sim: Simulation) {
  const busy = new Map<string, number>();
  let most = 0;
  const runnerFor = (node: string): CommandRunner => {
    const inner = runner(sim, node);
    return {
      node,
      async run(argv, o) {
        busy.set(node, (busy.get(node) ?? 0) + 1);
        most = Math.max(most, busy.size);
        try {
          // Let every other lane start before this read ends.
          await new Promise<void>((resolve) => setImmediate(resolve));
          return await inner.run(argv, o);
        } finally {
          const left = (busy.get(node) ?? 1) - 1;
          if (left === 0) busy.delete(node);
          else busy.set(node, left);
        }
      },
    };
  };
  return { runnerFor, most: () => most };
}

describe("gatherFacts", () => {
  it("reads every node at once by default, and at most nodesAtOnce when told, in the cluster's order", async () => {
    const sim = new Simulation(scaleLab(12));
    const cluster = simCluster(sim);
    const all = counting(sim);
    const everyNode = await gatherFacts(cluster, { runnerFor: all.runnerFor }, { queryFence: false });
    expect(all.most()).toBe(12);

    const few = counting(sim);
    const limited = await gatherFacts(
      cluster,
      { runnerFor: few.runnerFor },
      { queryFence: false, nodesAtOnce: 3 },
    );
    expect(few.most()).toBe(3);
    expect(limited.nodes.map((n) => n.node)).toEqual(cluster.nodes.map((n) => n.name));
    expect(limited.nodes.map((n) => Object.keys(n.reads).sort())).toEqual(
      everyNode.nodes.map((n) => Object.keys(n.reads).sort()),
    );
  });

  it("reads the CIB from the first node that gives it, not from every node", async () => {
    const sim = new Simulation(scaleLab(6, { flavour: "modern" }));
    const cluster = simCluster(sim);
    const asked: string[] = [];
    const failing = new Set([cluster.nodes[0]?.name]);
    const runnerFor = (node: string): CommandRunner => {
      const inner = runner(sim, node);
      return {
        node,
        async run(argv, o) {
          if (argv[0] !== "cibadmin") return inner.run(argv, o);
          asked.push(node);
          // The first node's cibadmin fails (its cluster stack is down): the next one is asked.
          if (failing.has(node))
            return { exitCode: 107, stdout: "", stderr: "Could not connect\n", durationMs: 1 };
          return inner.run(argv, o);
        },
      };
    };
    const facts = await gatherFacts(cluster, { runnerFor }, { queryFence: false, nodesAtOnce: 2 });
    const [first, second] = cluster.nodes.map((n) => n.name);
    expect(asked).toEqual([first, second]);
    const cibOf = (node: string | undefined) => facts.nodes.find((n) => n.node === node)?.reads.cib;
    expect(cibOf(first)).toMatchObject({ exitCode: 107, stderr: "Could not connect\n" });
    expect(cibOf(second)).toMatchObject({ exitCode: 0 });
    expect(cibOf(second)?.stdout).toContain("<configuration>");
    expect(facts.nodes.filter((n) => n.reads.cib !== undefined)).toHaveLength(2);
  });
});
