/**
 * examples/phone.txt end to end in the lab (runConsole: real SSH to the simulated nodes, queue,
 * worker, events monitor): the `/xen` form's console lines. Each `form` line shows the modal as the
 * choices leave it, with the dry run of a complete risky request; `submit` files the typed command
 * through the command core (role by user ID, the plan job, once per form), and a typed confirmation
 * is checked before anything is filed.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readRuntimeEnv } from "../../src/config/env";
import { labDirectives } from "../../src/lab/directives";
import { startLab } from "../../src/lab/lab";
import { silentLogger } from "../../src/log";
import { runConsole } from "../../src/runtime/modes";
import { testRedisUrl, uniquePrefix } from "../support/redis";

describe("examples/phone.txt", () => {
  it("the form's preflight, submit, role check and typed confirmation", { timeout: 180_000 }, async () => {
    const lab = await startLab({ redisUrl: testRedisUrl(), logger: silentLogger(), commandTimeoutMs: 5_000 });
    const dir = await mkdtemp(join(tmpdir(), "xenops-phone-"));
    let out = "";
    try {
      const code = await runConsole(
        {
          inventory: lab.inventory,
          env: readRuntimeEnv({
            XENOPS_QUEUE_PREFIX: uniquePrefix("lab-phone"),
            XENOPS_AUDIT_FILE: join(dir, "audit.jsonl"),
          }),
          secretEnv: {},
          logger: silentLogger(),
          redisUrl: lab.redisUrl,
        },
        {
          script: "examples/phone.txt",
          write: (t) => {
            out += t;
          },
          directive: labDirectives(lab.sim),
          settleTimeoutMs: 120_000,
        },
      );
      expect(code).toBe(0);
      const forms = out.split(/^(?=--- |>>> )/m);
      const form = (re: RegExp) => forms.filter((f) => re.test(f));

      // The complete request shows its dry run: refused, heartbeat manages the guest.
      const [refused] = form(/^--- form .*\n[\s\S]*`\/xen migrate lab internet to ics1`/);
      expect(refused).toContain("⛔ *Preflight* (dry run, read-only)");
      expect(refused).toContain("heartbeat manages internet");
      // Adding the override to the same form: the dry run passes and shows the plan.
      const [passed] = form(/`\/xen migrate lab internet to ics1 --override-ha`/);
      expect(passed).toContain("✅ *Preflight* (dry run, read-only)");
      expect(passed).toContain("$ xm migrate --live internet ics1");
      // Submitted: the typed command's answer, then the approval and the verified migration.
      expect(out).toMatch(
        /filed `\/xen migrate lab internet to ics1 --override-ha` \(only visible to UOPER1\)\n {2}Queued as job \d+: planning Live-migrate internet to ics1 in lab/,
      );
      // Approved from the form: an unknown request ID files nothing; the card's ID files `/xen approve`.
      expect(out).toMatch(
        /not submitted \(only visible to UAPPROVER1\)\n {2}request: No such request here; copy the ID from the approval card/,
      );
      expect(out).toMatch(/filed `\/xen approve lab [A-Za-z0-9_-]{16}` \(only visible to UAPPROVER1\)/);
      expect(out).toContain("Result: internet runs on ics1 (verified)");

      // A viewer's submit gets the typed command's refusal, by Slack user ID.
      expect(out).toMatch(
        /filed `\/xen evacuate lab ics1` \(only visible to UVIEWER1\)\n {2}Sorry, `\/xen evacuate` needs the \*operator\* role/,
      );

      // The fence override needs NODE/RESOURCE typed: the wrong text files nothing and says what to type.
      expect(out).toMatch(
        /not submitted \(only visible to UOPER1\)\n {2}confirm: Type exactly: ics1\/internet\n>>> /,
      );
      expect(out).toMatch(
        /filed `\/xen fence lab ics1 --override-last-copy internet` \(only visible to UOPER1\)\n {2}Queued as job \d+: planning Fence ics1/,
      );
      expect(out).toContain("⛔ Denied by @UAPPROVER1");
      expect(out).not.toMatch(/^line \d+:/m);
    } finally {
      await lab.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
