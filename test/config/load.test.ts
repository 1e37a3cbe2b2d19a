import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseInventory } from "../../src/config/load";

const example = readFileSync(new URL("../../examples/xenops.yml", import.meta.url), "utf8");

describe("parseInventory", () => {
  it("accepts the shipped example and applies defaults", () => {
    const result = parseInventory(example);
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    const cluster = result.config.clusters[0]!;
    expect(cluster.name).toBe("ics");
    expect(cluster.nodes.map((n) => [n.name, n.port])).toEqual([
      ["ics1", 22],
      ["ics2", 22],
    ]);
    expect(cluster.toolstack).toMatchObject({
      hypervisor: "xm",
      drbd: 8,
      ha: "heartbeat",
      fence: { method: "stonith", type: "apcsmart" },
    });
    expect(cluster.guests[0]).toMatchObject({
      name: "internet",
      home: "ics2",
      memoryMiB: 3070,
      drbd: ["internet"],
    });
    expect(result.config.roles.operator.groups).toEqual(["S0OPERATORS"]);
    expect(result.config.roles.viewer.groups).toEqual([]);
  });

  it("reports every problem at once, with its path, line and what to fix", () => {
    const broken = example
      .replace("hypervisor: xm ", "hypervisor: xen")
      .replace("name: ics2", "name: 'ics 2'")
      .replace("drbd: [internet] }", "drbd: [internt] }")
      .replace("port: 22", "")
      .replace(
        'hostKey: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"',
        "hostKey: nope\n        hostkey: typo",
      );
    const result = parseInventory(broken);
    if (result.ok) throw new Error("expected problems");
    const byPath = Object.fromEntries(result.problems.map((p) => [p.path, p]));
    expect(Object.keys(byPath).sort()).toEqual(
      [
        "clusters[0].toolstack.hypervisor",
        "clusters[0].nodes[1].name",
        "clusters[0].nodes[0].hostKey",
        "clusters[0].nodes[0]",
        "clusters[0].guests[0].drbd[0]",
        "clusters[0].guests[0].home",
      ].sort(),
    );
    expect(byPath["clusters[0].toolstack.hypervisor"]!.message).toBe('expected one of "xm", "xl"');
    expect(byPath["clusters[0].toolstack.hypervisor"]!.line).toBe(6);
    expect(byPath["clusters[0].nodes[0]"]!.message).toContain('unknown key "hostkey"');
    expect(byPath["clusters[0].nodes[0].hostKey"]!.message).toContain("SHA256 fingerprint");
    expect(byPath["clusters[0].guests[0].drbd[0]"]!.message).toContain('unknown DRBD resource "internt"');
    expect(byPath["clusters[0].nodes[1].name"]!.message).toContain("letters, digits");
    expect(byPath["clusters[0].guests[0].home"]!.message).toBe('unknown node "ics2"; nodes are: ics1, ics 2');
  });

  it("requires minors for DRBD 8 and rejects duplicates", () => {
    const text = example
      .replace("{ name: internet, minor: 0,", "{ name: internet,")
      .replace(
        "      - { name: internet, home",
        "      - { name: internet, drbd: [] }\n      - { name: internet, home",
      );
    const result = parseInventory(text);
    if (result.ok) throw new Error("expected problems");
    const messages = result.problems.map((p) => `${p.path}: ${p.message}`);
    expect(messages).toContain(
      "clusters[0].drbd[0].minor: DRBD 8 needs the minor of each resource (/proc/drbd shows only minors)",
    );
    expect(messages).toContain('clusters[0].guests[1].name: duplicate guest "internet"');
  });

  it("reports YAML syntax errors with their line", () => {
    const result = parseInventory("clusters:\n  - name: [unclosed\n");
    if (result.ok) throw new Error("expected problems");
    expect(result.problems[0]!.path).toBe("(YAML syntax)");
    expect(result.problems[0]!.line).toBeGreaterThan(0);
  });

  it("refuses inline secrets: keys must be env or file references", () => {
    const result = parseInventory(
      example.replace("privateKey: { file: /etc/xenops/id_ed25519 }", "privateKey: '-----BEGIN'"),
    );
    if (result.ok) throw new Error("expected problems");
    expect(result.problems.map((p) => p.path)).toContain("clusters[0].nodes[0].privateKey");
  });
});
