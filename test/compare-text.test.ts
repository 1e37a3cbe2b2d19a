import { describe, expect, it } from "vitest";
import { compareText } from "../src/compare-text";

describe("compareText", () => {
  it("orders by code unit, whatever the locale: upper case before lower, digits before both", () => {
    expect(["ics2", "b", "ICS1", "a", "ics10", "r_1", "r01"].sort(compareText)).toEqual([
      "ICS1",
      "a",
      "b",
      "ics10",
      "ics2",
      "r01",
      "r_1",
    ]);
    expect(compareText("x", "x")).toBe(0);
    expect(compareText("", "a")).toBe(-1);
    expect(compareText("b", "a")).toBe(1);
  });
});
