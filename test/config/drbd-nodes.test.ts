/** `nodes` on a DRBD resource: optional, names nodes of its cluster. */
import { describe, expect, it } from "vitest";
import { crossReferenceIssues, DrbdResourceConfig } from "../../src/config/schema";

describe("drbd[].nodes", () => {
  it("is optional, and a non-empty list of names when given", () => {
    expect(DrbdResourceConfig.parse({ name: "r0", minor: 0 }).nodes).toBeUndefined();
    expect(DrbdResourceConfig.parse({ name: "r0", minor: 0, nodes: ["a", "b"] }).nodes).toEqual(["a", "b"]);
    expect(DrbdResourceConfig.safeParse({ name: "r0", minor: 0, nodes: [] }).success).toBe(false);
  });

  it("must name nodes of the cluster", () => {
    const issues = crossReferenceIssues({
      clusters: [
        {
          name: "c",
          nodes: [{ name: "a" }, { name: "b" }],
          drbd: [{ name: "r0", minor: 0, nodes: ["a", "z"] }],
        },
      ],
    });
    expect(issues).toEqual([
      { path: ["clusters", 0, "drbd", 0, "nodes", 1], message: 'unknown node "z"; nodes are: a, b' },
    ]);
  });
});
