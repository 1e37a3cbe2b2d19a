import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalJson, sortedKeysJson } from "../src/canonical-json";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

describe("canonical JSON", () => {
  const data = {
    z: [3, { y: "ü", x: null }, undefined],
    a: { c: -0, b: true, d: undefined, e: "<&>" },
    n: 1.5e-7,
  };

  it("both sort keys at every depth and drop undefined members", () => {
    const expected = '{"a":{"b":true,"c":0,"e":"<&>"},"n":1.5e-7,"z":[3,{"x":null,"y":"ü"},null]}';
    expect(canonicalJson(data)).toBe(expected);
    expect(sortedKeysJson(data)).toBe(expected);
  });

  it("agree on whatever JSON.parse produces (what stored records and zod-parsed states are)", () => {
    const parsed: unknown = JSON.parse(
      '{"seq":7,"prevHash":"00","args":{"guest":"web1","to":"ics2"},"at":"2024-03-04T10:00:00Z","list":[{"b":1,"a":[]}]}',
    );
    expect(canonicalJson(parsed)).toBe(sortedKeysJson(parsed));
  });

  it("keep their own behaviour on values JSON data never holds (stored hashes depend on it)", () => {
    expect(canonicalJson({ x: Symbol("s") })).toBe('{"x":null}');
    expect(sortedKeysJson({ x: Symbol("s") })).toBe("{}");
    const proto: unknown = JSON.parse('{"__proto__":{"a":1},"b":2}');
    expect(canonicalJson(proto)).toBe('{"__proto__":{"a":1},"b":2}');
    expect(sortedKeysJson(proto)).toBe('{"b":2}');
    expect(canonicalJson({ toJSON: () => 1, a: 2 })).toBe('{"a":2}');
    expect(sortedKeysJson({ toJSON: () => 1, a: 2 })).toBe("1");
  });

  it("hash exactly as the implementations they replace did (digests computed before the move)", () => {
    const record = {
      seq: 3,
      prevHash: "ab",
      at: "2024-03-04T10:00:00.000Z",
      actor: "U0ALICE",
      action: "migrate",
      details: { guest: "web1", to: "ics2", nested: [1, { z: null, a: "x" }] },
    };
    expect(sha(canonicalJson(record))).toBe(
      "385e2509310f814300874d1ffd29f0081ec48921237ea025afa638a3ead97db7",
    );
    const state = {
      guest: "internet",
      nodes: { ics2: { role: "Primary" }, ics1: { role: "Secondary", disk: "UpToDate" } },
      runs: ["ics2"],
      none: undefined,
    };
    expect(sha(sortedKeysJson(state))).toBe(
      "c20045e6d7dc87094a474c946abbfc08bb7c1975a2ff97f0a792cb737700a7ab",
    );
  });
});
