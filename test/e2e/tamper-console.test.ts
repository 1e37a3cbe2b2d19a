/**
 * examples/tamper.txt in the lab console: a header-only `xm list` on ics1 makes its domains "unknown
 * (unreadable output)" on the status card; create and migrate onto ics1 are refused with the raw lines
 * on the card and in an attached file; a /proc/drbd cut mid-line is refused the same way; untampered,
 * ics1 reads again and the checks that needed its output pass.
 */

import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRuntimeEnv } from "../../src/config/env";
import { labDirectives } from "../../src/lab/directives";
import { type Lab, startLab } from "../../src/lab/lab";
import { runConsole } from "../../src/runtime/modes";
import { repoRoot } from "../support/fixtures";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const logger = pino({ level: process.env.E2E_LOG_LEVEL ?? "silent" });
let lab: Lab;

beforeAll(async () => {
  lab = await startLab({ redisUrl: testRedisUrl(), logger });
});

afterAll(async () => {
  await lab?.close();
});

describe("examples/tamper.txt in the lab console", () => {
  it("unknown on the card, refusals with the raw lines, normal again once untampered", async () => {
    const out: string[] = [];
    const code = await runConsole(
      {
        inventory: lab.inventory,
        env: readRuntimeEnv({ XENOPS_QUEUE_PREFIX: uniquePrefix("e2e-tamper-console") }),
        secretEnv: {},
        logger,
        redisUrl: lab.redisUrl,
      },
      {
        script: join(repoRoot, "examples", "tamper.txt"),
        write: (text) => out.push(text),
        directive: labDirectives(lab.sim),
        settleTimeoutMs: 20_000,
      },
    );
    const all = out.join("");
    expect(code).toBe(0);
    expect(all).toContain("--- lab: every `xm list` on ics1 now answers headonly");

    // Status answers; ics1's domains are unknown, ics2's are listed.
    expect(all).toMatch(/Domains: unknown \(unreadable output\): xm-list: no Domain-0 row/);
    expect(all).not.toMatch(/^ {2}Domains: none$/m);

    // Both refusals show the header line as read, and attach it.
    for (const what of ["Start internet on ics1", "Live-migrate internet to ics1"]) {
      const card = out.find((t) => t.includes(`⛔ Refused: ${what}`)) ?? "";
      expect(card).toContain("Unreadable output: domain list (xm/xl list) on ics1");
      expect(card).toMatch(/^ {2}Name +ID +Mem\(MiB\) +VCPUs +State +Time\(s\)$/m);
      expect(all).toContain(`"Refused: ${what}: unreadable output (1 line)"`);
    }

    // /proc/drbd cut after 150 bytes: the lines as read, cut mid-line.
    const drbdCard = out.find((t) => t.includes("Unreadable output: DRBD status on ics1")) ?? "";
    expect(drbdCard).toContain("version: 8.2.6 (api:88/proto:86-88)");
    expect(drbdCard).toMatch(/^ {3}0: cs:Connected st:\S*$/m);

    // Untampered: ics1 reads again, and the checks that needed its output pass.
    const after = all.slice(all.indexOf("--- lab: `cat /proc/drbd` on ics1 answers normally again"));
    expect(after).toMatch(/^ {2}Domains$/m);
    expect(after).not.toContain("unreadable output");
    expect(after).toContain("✓ location: internet runs on ics2 only (every node's domain list read)");
    expect(after).toContain(
      "✓ drbd internet: internet Connected, UpToDate/UpToDate, in sync on ics2 and ics1",
    );
    expect(after).not.toContain("Unreadable output");
  }, 60_000);
});
