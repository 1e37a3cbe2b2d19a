import { describe, expect, it } from "vitest";
import { splitCommandTranscript } from "../../support/transcript";

describe("splitCommandTranscript (test support)", () => {
  it("splits $ lines, output and exit codes in either order", () => {
    const text = [
      "$ a ; echo $?",
      "out 1",
      "out 2",
      "0",
      "$ b=$(x) ; echo $? ; echo $b",
      "3",
      "[",
      "]",
      "",
    ].join("\n");
    expect(splitCommandTranscript(text)).toEqual([
      { command: "a ; echo $?", line: 1, output: ["out 1", "out 2"], exitCodes: [0] },
      { command: "b=$(x) ; echo $? ; echo $b", line: 5, output: ["[", "]"], exitCodes: [3] },
    ]);
  });

  it("refuses output before the first command", () => {
    expect(() => splitCommandTranscript("stray\n$ a\n")).toThrow(/line 1/);
  });
});
