/**
 * An incident's button opens the `/xen` form pre-filled, for real: the lab (simulated reference cluster
 * over SSH), Redis, the workers and the console. A split brain's "Keep ics1's data" shows the recovery
 * form with its dry run; filing it needs the approver role and `VICTIM/RESOURCE` typed; it files one
 * request through the incident's own path (card in the incident's thread), and a second submission of
 * the same form, a forged incident or an action the incident does not offer file nothing.
 */
import { describe, expect, it } from "vitest";
import { StaticGroupDirectory } from "../../src/chat/authz";
import { ConsoleNotifier } from "../../src/console/notifier";
import { ConsoleSession } from "../../src/console/session";
import { parseActionValue } from "../../src/events/actions";
import { labDirectives } from "../../src/lab/directives";
import { startLab } from "../../src/lab/lab";
import { silentLogger } from "../../src/log";
import { createDeps } from "../../src/runtime/deps";
import { formCoreOf } from "../../src/runtime/forms";
import { testRedisUrl, uniquePrefix } from "../support/redis";

async function until<T>(fn: () => T | null | undefined | Promise<T | null | undefined>, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("the form an incident's button opens (lab, Redis, SSH)", () => {
  it("split brain: Keep ics1's data → pre-filled form with its dry run → typed confirmation → one request", {
    timeout: 120_000,
  }, async () => {
    const lab = await startLab({ redisUrl: testRedisUrl(), logger: silentLogger(), commandTimeoutMs: 3_000 });
    let out = "";
    const write = (t: string) => {
      out += t;
    };
    const notifier = new ConsoleNotifier(write);
    let session: ConsoleSession | undefined;
    const deps = await createDeps({
      inventory: {
        ...lab.inventory,
        clusters: lab.inventory.clusters.map((c) => ({ ...c, monitor: { intervalMs: 500 } })),
      },
      logger: silentLogger(),
      redisUrl: lab.redisUrl,
      queuePrefix: uniquePrefix("incident-form"),
      secretEnv: {},
      notifier,
      groups: new StaticGroupDirectory(),
      onEnqueued: (job) => session?.trackJob(job.jobId),
      events: { removeSchedulersOnStop: true },
    });
    const forms = formCoreOf(deps);
    session = new ConsoleSession({
      core: deps.core,
      notifier,
      channel: "C0LAB",
      write,
      waitForJob: (id, ms) => deps.jobs.waitForJob(id, ms),
      sessionId: "incident-form",
      directive: labDirectives(lab.sim),
      forms,
    });
    try {
      await deps.startWorkers().ready();
      await session.line("!sim splitBrain internet");
      const button = await until(() => notifier.findButton("Keep ics1's data"));
      const value = parseActionValue(button.button.value ?? "");
      if (!value) throw new Error("the button's value does not parse");
      const incident = await deps.events.incidents.get(value.incident);
      if (!incident?.threadTs) throw new Error("no stored incident with a thread");

      // An operator sees the form, but the dry run already says the recovery needs an approver.
      let mark = out.length;
      await session.line("UOPER1: click Keep ics1's data");
      expect(out.slice(mark)).toContain("--- form console-incident-form-2 (only visible to UOPER1)");
      expect(out.slice(mark)).toContain("needs the *approver* role, which you do not have");

      mark = out.length;
      await session.line("UAPPROVER1: click Keep ics1's data");
      const form = out.slice(mark);
      expect(form).toContain("Action (action=): status | migrate | create | fence");
      expect(form).toContain("*recover");
      expect(form).toContain("DRBD resource (resource=): *internet");
      expect(form).toContain("Keep the data of (target=): *ics1 | ics2");
      expect(form).toContain("Typed confirmation (confirm=): Type exactly: ics2/internet");
      expect(form).toContain(
        "*Submitting requests, as the incident's button:* recover internet keeping ics1's data (discarding ics2's)",
      );
      expect(form).toMatch(/✅ \*Preflight\* \(dry run, read-only\)\n\s*🧪 Dry run: Recover the split brain/);
      // The dry run's card went in the incident's thread; nothing was requested yet.
      expect(form).toMatch(
        new RegExp(
          `new message \\S+ in C0LAB thread ${incident.threadTs.replace(".", "\\.")}\\n\\s*🧪 Dry run`,
        ),
      );
      expect(out).not.toContain("approving needs the typed confirmation");

      mark = out.length;
      await session.line("UAPPROVER1: submit confirm=ics1/internet");
      expect(out.slice(mark)).toContain("not submitted");
      expect(out.slice(mark)).toContain("confirm: Type exactly: ics2/internet");
      await session.line("UAPPROVER1: submit confirm=ics2/internet");
      expect(out).toMatch(
        /filed recover internet keeping ics1's data \(discarding ics2's\) \(as the incident's button\)[^\n]*\n\s*Queued as job (\d+): planning to recover internet/,
      );
      const job = /Queued as job (\d+): planning to recover internet/.exec(out)?.[1];
      expect((await session.settle(60_000)).problems).toEqual([]);

      // Exactly one approval card, in the incident's thread, asking for the typed confirmation.
      const cards = out.split(/^--- /m).filter((m) => m.includes("approving needs the typed confirmation"));
      expect(cards.filter((m) => m.startsWith("new message"))).toHaveLength(1);
      expect(cards[0]).toContain(`in C0LAB thread ${incident.threadTs}`);

      // The same form submitted again (a double tap, Slack resending it): the same job, nothing new.
      const actor = {
        source: "console" as const,
        viewId: "console-incident-form-3",
        userId: "UAPPROVER1",
        teamId: null,
      };
      const again = await forms.submit(actor, {
        channelId: "C0LAB",
        values: {
          action: "recover",
          cluster: "lab",
          incident: value.incident,
          resource: "internet",
          target: "ics1",
          confirm: "ics2/internet",
        },
      });
      expect(again.ok && again.reply.text).toBe(
        `Already queued (job ${job}): planning to recover internet keeping ics1's data (discarding ics2's).`,
      );
      // A form naming an incident that does not exist: no recovery to file (it has no typed verb).
      const forged = await forms.submit(
        { ...actor, viewId: "console-forged-1" },
        {
          channelId: "C0LAB",
          values: {
            action: "recover",
            cluster: "lab",
            incident: "NoSuchIncident01",
            resource: "internet",
            target: "ics2",
            confirm: "ics1/internet",
          },
        },
      );
      expect(forged.ok).toBe(false);
      // Asked for an action the incident does not offer (fencing from a split brain): refused, nothing queued.
      const notOffered = await deps.events.actionHandler.request({
        source: "console",
        userId: "UADMIN1",
        incidentId: value.incident,
        cluster: "lab",
        action: { kind: "fence", node: "ics2" },
        dryRun: false,
        key: "console-forged-2",
      });
      expect(notOffered).toEqual({
        reply: { text: "That incident no longer offers this action; nothing was done." },
        jobIds: [],
      });
      expect((await session.settle(60_000)).problems).toEqual([]);
      const after = out.split(/^--- /m).filter((m) => m.includes("approving needs the typed confirmation"));
      expect(after.filter((m) => m.startsWith("new message"))).toHaveLength(1);
      expect(session.errors).toBe(0);
    } finally {
      await deps.close();
      await lab.close();
    }
  });
});
