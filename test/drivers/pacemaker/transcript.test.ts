import { describe, expect, it } from "vitest";
import { extractXml, splitCtsTranscript } from "../../support/transcript";

describe("splitCtsTranscript (test support)", () => {
  it("splits framed tests and finds the XML after stderr lines", () => {
    const text = [
      "=#=#=#= Begin test: Text =#=#=#=",
      "Cluster Summary:",
      "=#=#=#= End test: Text - OK (0) =#=#=#=",
      "* Passed: crm_mon               - Text",
      "=#=#=#= Begin test: Xml =#=#=#=",
      "unpack_rsc_op \terror: something",
      '<pacemaker-result api-version="X">',
      "</pacemaker-result>",
      "=#=#=#= End test: Xml - OK (0) =#=#=#=",
    ].join("\n");
    const tests = splitCtsTranscript(text);
    expect(tests.map((t) => [t.name, t.line, t.result, t.exitCode])).toEqual([
      ["Text", 1, "OK", 0],
      ["Xml", 5, "OK", 0],
    ]);
    expect(extractXml(tests[0]?.body ?? [])).toBeNull();
    expect(extractXml(tests[1]?.body ?? [])).toBe(
      '<pacemaker-result api-version="X">\n</pacemaker-result>\n',
    );
  });

  it("refuses unbalanced markers", () => {
    expect(() => splitCtsTranscript("=#=#=#= Begin test: A =#=#=#=\n")).toThrow(/no End/);
    expect(() => splitCtsTranscript("=#=#=#= End test: A - OK (0) =#=#=#=\n")).toThrow(/without Begin/);
  });
});
