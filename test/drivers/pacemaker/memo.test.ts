/**
 * The parse cache of large crm_mon/CIB documents (every node of a cluster prints nearly the same one):
 * equal documents are parsed once, crm_mon's `<last_update>` (origin and time) is the only thing ignored
 * (the time is read from each document), and callers never share the remembered result.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it, vi } from "vitest";
import { parseCib } from "../../../src/drivers/pacemaker/cib";
import { parseCrmMonXml } from "../../../src/drivers/pacemaker/crm-mon";
import { memoParse } from "../../../src/drivers/pacemaker/xml";
import { ParseError } from "../../../src/errors";

function crmMon(origin: string, time: string, nodes: number): string {
  const list = Array.from(
    { length: nodes },
    (_, i) =>
      `    <node name="n${i}" id="${i + 1}" online="true" standby="false" standby_onfail="false" maintenance="false" pending="false" unclean="false" shutdown="false" expected_up="true" is_dc="${i === 0}" resources_running="0" type="member"/>`,
  );
  return [
    '<?xml version="1.0"?>',
    '<pacemaker-result api-version="2.2" request="crm_mon -1 --output-as=xml">',
    "  <summary>",
    '    <stack type="corosync"/>',
    '    <current_dc present="true" version="2.0.1" name="n0" id="1" with_quorum="true"/>',
    `    <last_update time="${time}" origin="${origin}"/>`,
    "  </summary>",
    "  <nodes>",
    ...list,
    "  </nodes>",
    '  <status code="0" message="OK"/>',
    "</pacemaker-result>",
  ].join("\n");
}

describe("memoParse", () => {
  it("parses a large document once per content, ignoring only the given span", () => {
    const parse = vi.fn((t: string) => ({ length: t.length, items: [1, 2, 3] }));
    const big = (x: string) => `${x}${"a".repeat(20_000)}`;
    const a = memoParse("k", big("AAA"), parse, { start: 0, end: 3 });
    const b = memoParse("k", big("BBB"), parse, { start: 0, end: 3 });
    expect(parse).toHaveBeenCalledTimes(1);
    expect(b).toEqual(a);
    // Shared and frozen: a caller trying to change its result throws, and nobody else's changes.
    expect(b).toBe(a);
    expect(() => b.items.push(4)).toThrow(TypeError);
    expect(() => {
      (a as { length: number }).length = 0;
    }).toThrow(TypeError);
    expect(memoParse("k", big("CCC"), parse, { start: 0, end: 3 }).items).toEqual([1, 2, 3]);
    memoParse("k", `${big("AAA")}x`, parse, { start: 0, end: 3 });
    memoParse("other", big("AAA"), parse, { start: 0, end: 3 });
    expect(parse).toHaveBeenCalledTimes(3);
    // Small documents are not remembered.
    memoParse("k", "small", parse);
    memoParse("k", "small", parse);
    expect(parse).toHaveBeenCalledTimes(5);
  });

  it("crm_mon: outputs differing only in origin or time share one parse, each with its own time", () => {
    const one = parseCrmMonXml(crmMon("n0", "Mon Mar  4 10:00:00 2024", 300));
    const two = parseCrmMonXml(crmMon("n7", "Mon Mar  4 10:00:00 2024", 300));
    expect(two).toEqual(one);
    expect(one.nodes).toHaveLength(300);
    const later = parseCrmMonXml(crmMon("n7", "Mon Mar  4 10:00:10 2024", 300));
    expect(later.lastUpdate).toBe("Mon Mar  4 10:00:10 2024");
    expect(one.lastUpdate).toBe("Mon Mar  4 10:00:00 2024");
    // The same remembered parse (its parts are shared), not a second one.
    expect(later.nodes).toBe(one.nodes);
    expect(later).toEqual({ ...one, lastUpdate: "Mon Mar  4 10:00:10 2024" });
    // Any other difference is another document.
    const changed = parseCrmMonXml(
      crmMon("n7", "Mon Mar  4 10:00:10 2024", 300).replace('name="n5"', 'name="x5"'),
    );
    expect(changed.nodes[5]?.name).toBe("x5");
    expect(changed.nodes).not.toBe(one.nodes);
  });

  it("crm_mon: the update's time reads exactly as without the cache", () => {
    const doc = (element: string) => crmMon("n0", "T", 300).replace(/<last_update[^>]*>/, element);
    const cases: [string, string | null][] = [
      ['<last_update time="Tue Dec  1 10:00:00 2026" origin="n3"/>', "Tue Dec  1 10:00:00 2026"],
      ["<last_update origin='n3' time='Tue Dec  1 10:00:01 2026' />", "Tue Dec  1 10:00:01 2026"],
      ['<last_update origin="n3"/>', null],
      ['<last_update time=""/>', ""],
      ['<last_update time="a &amp; b" origin="n3"/>', "a & b"],
      ['<last_update time="Tue Dec  1\n10:00:02 2026"/>', "Tue Dec  1\n10:00:02 2026"],
    ];
    for (const [element, time] of cases) expect(parseCrmMonXml(doc(element)).lastUpdate).toBe(time);
    // Without a summary there is no update time, whatever element of that name the document has.
    const noSummary = crmMon("n0", "T", 300)
      .replace(/ {2}<summary>[\s\S]*<\/summary>\n/, "")
      .replace("<nodes>", '<nodes><last_update time="elsewhere"/>');
    const parsed = parseCrmMonXml(noSummary);
    expect(parsed.dc).toBeNull();
    expect(parsed.lastUpdate).toBeNull();
  });

  it("a malformed large document still fails every time", () => {
    const bad = `${crmMon("n0", "t", 300).slice(0, -20)}<oops`;
    expect(() => parseCrmMonXml(bad)).toThrow(/malformed/);
    expect(() => parseCrmMonXml(bad)).toThrow(/malformed/);
    // An error on the update's own line shows that line as crm_mon printed it.
    const badLine = crmMon("n0", "Mon Mar  4 10:00:00 2024", 300).replace(
      'origin="n0"/>',
      'origin="n0"/><x y/>',
    );
    const error = (() => {
      try {
        parseCrmMonXml(badLine);
      } catch (err) {
        return err as ParseError;
      }
      throw new Error("parsed a malformed document");
    })();
    expect(error).toBeInstanceOf(ParseError);
    expect(error.text ?? error.message).toContain('origin="n0"');
    expect(`${error.message} ${error.text ?? ""}`).not.toContain("xenops-last-update");
    // A malformed update element is not mended by the cache: it fails, as it would without it.
    for (const element of [
      '<last_update time="x" origin="n0" bad/>',
      '<last_update time="x" time="y"/>',
      '<last_update time="x"origin="n0"/>',
      '<last_update time="x" origin="n0">',
    ])
      expect(() => parseCrmMonXml(crmMon("n0", "T", 300).replace(/<last_update[^>]*>/, element))).toThrow(
        /malformed|closed|tag/i,
      );
    expect(() => parseCib(`<cib><configuration>${"<x/>".repeat(5_000)}`)).toThrow();
  });

  it("keeps no remembered document's text alive through the strings of its result", () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const heapMB = () => {
      gc();
      return process.memoryUsage().heapUsed / 1048576;
    };
    const before = heapMB();
    // 40 distinct 1 MB texts, as a batch's whole output around a document; each result keeps a
    // 30-character string cut from its text (an attribute value, as the XML parser returns them).
    for (let i = 0; i < 40; i++) {
      const text = `${i}:${"z".repeat(1_000_000)}ocf:heartbeat:Xen-${String(i).padStart(12, "0")}`;
      const result = memoParse("retention", text, (t) => ({ resources: [{ agent: t.slice(-30) }] }));
      expect(result.resources[0]?.agent).toBe(`ocf:heartbeat:Xen-${String(i).padStart(12, "0")}`);
    }
    // Were the texts kept, that would be 40 MB.
    expect(heapMB() - before).toBeLessThan(10);
  });
});
