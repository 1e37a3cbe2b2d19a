import { describe, expect, it } from "vitest";
import {
  clipLine,
  escapeMrkdwn,
  formatDuration,
  formatDurationMinutes,
  formatKiB,
  formatKiBShort,
  formatRate,
  groupMention,
  isSlackUserId,
  mentionOrText,
  oncallMentions,
  progressBar,
  truncate,
  unescapeMrkdwn,
  userMention,
  utcTime,
} from "../../src/message/text";

describe("escaping", () => {
  it("escapes Slack's three control characters and back", () => {
    expect(escapeMrkdwn("a & <b> c")).toBe("a &amp; &lt;b&gt; c");
    expect(unescapeMrkdwn(escapeMrkdwn("<@U1> & <!here>"))).toBe("<@U1> & <!here>");
  });
});

describe("truncation", () => {
  it("truncate keeps at most max characters, the last one the mark", () => {
    expect(truncate("abcdef", 6)).toBe("abcdef");
    expect(truncate("abcdefg", 6)).toBe("abcde…");
    expect(truncate("abcdefg", 6)).toHaveLength(6);
    expect(truncate("abc", 0)).toBe("…");
  });
  it("clipLine keeps max characters and adds the mark after them", () => {
    expect(clipLine("abcdef", 6)).toBe("abcdef");
    expect(clipLine("abcdefg", 6)).toBe("abcdef…");
  });
});

describe("durations", () => {
  it("formatDuration is precise to a tenth of a second, then seconds, then minutes", () => {
    expect(formatDuration(870)).toBe("0.9s");
    expect(formatDuration(12_400)).toBe("12s");
    expect(formatDuration(72_000)).toBe("1m12s");
    expect(formatDuration(3_725_000)).toBe("1h02m");
    expect(formatDuration(-1)).toBe("?");
    expect(formatDuration(Number.NaN)).toBe("?");
  });
  it("formatDurationMinutes reads like a typed window", () => {
    expect(formatDurationMinutes(90 * 60_000)).toBe("1h30m");
    expect(formatDurationMinutes(7 * 24 * 3_600_000)).toBe("7d");
    expect(formatDurationMinutes(26 * 3_600_000 + 5 * 60_000)).toBe("1d2h5m");
    expect(formatDurationMinutes(20_000)).toBe("20s");
    expect(formatDurationMinutes(100)).toBe("1s");
  });
  it("utcTime drops milliseconds", () => {
    expect(utcTime(Date.parse("2024-03-04T10:00:01.234Z"))).toBe("2024-03-04 10:00:01 UTC");
  });
});

describe("sizes", () => {
  it("formatKiB picks the largest unit that keeps the amount >= 1", () => {
    expect(formatKiB(512.4)).toBe("512 KiB");
    expect(formatKiB(70 * 1024)).toBe("70.0 MiB");
    expect(formatKiB(1.5 * 1024 * 1024)).toBe("1.50 GiB");
    expect(formatKiB(Number.POSITIVE_INFINITY)).toBe("?");
    expect(formatRate(2048)).toBe("2.0 MiB/s");
  });
  it("formatKiBShort has one decimal everywhere and says unknown for null", () => {
    expect(formatKiBShort(null)).toBe("unknown");
    expect(formatKiBShort(512)).toBe("512 KiB");
    expect(formatKiBShort(1536)).toBe("1.5 MiB");
    expect(formatKiBShort(1.5 * 1024 * 1024)).toBe("1.5 GiB");
  });
  it("progressBar clamps", () => {
    expect(progressBar(50, 4)).toBe("[██░░]");
    expect(progressBar(150, 4)).toBe("[████]");
    expect(progressBar(Number.NaN, 2)).toBe("[░░]");
  });
});

describe("mentions", () => {
  it("builds user and group tokens, escaping what could close them", () => {
    expect(userMention("U0ALICE")).toBe("<@U0ALICE>");
    expect(groupMention("S0OPS")).toBe("<!subteam^S0OPS>");
    expect(userMention("x>y")).toBe("<@x&gt;y>");
  });
  it("mentionOrText mentions Slack user IDs only", () => {
    expect(isSlackUserId("U0ALICE")).toBe(true);
    expect(isSlackUserId("W12")).toBe(true);
    expect(isSlackUserId("U1")).toBe(false);
    expect(mentionOrText("U0ALICE")).toBe("<@U0ALICE>");
    expect(mentionOrText("system <x>")).toBe("system &lt;x&gt;");
  });
  it("oncallMentions: groups then users, empty when nobody is configured", () => {
    expect(oncallMentions({ users: ["U1", "U2"], groups: ["S1"] })).toBe("<!subteam^S1> <@U1> <@U2>");
    expect(oncallMentions({ users: [], groups: [] })).toBe("");
    expect(oncallMentions({})).toBe("");
  });
});
