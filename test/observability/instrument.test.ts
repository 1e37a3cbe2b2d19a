import { UnrecoverableError } from "bullmq";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { commandAuditEntry, DeliveryJobs } from "../../src/audit/command-entry";
import type { AuditEntryInput } from "../../src/audit/schema";
import type { CommandRunner } from "../../src/command-runner";
import { ExecError } from "../../src/errors";
import { JobCancelled } from "../../src/job-cards/control";
import { silentLogger } from "../../src/log";
import { instrumentProcessor, observeRunner } from "../../src/observability/instrument";
import { jobContextLogger } from "../../src/observability/job-context";
import { Metrics } from "../../src/observability/metrics";
import { fakeJob, labInventory } from "../jobs/helpers";

const data = {
  cluster: "lab",
  target: "ics1",
  channel: "C0LAB",
  requestedBy: "UOPER1",
  deliveryId: "d1",
  requestText: "status lab ics1",
};

function runner(node: string, exitCode = 0): CommandRunner {
  return {
    node,
    async run(argv) {
      if (exitCode !== 0)
        throw new ExecError("exec_failed", `${node}: ${argv[0]} exited with code ${exitCode}`, {
          node,
          argv,
          exitCode,
          signal: null,
          stdout: "",
          stderr: "",
        });
      return { stdout: "ok", stderr: "", exitCode: 0, durationMs: 1 };
    },
  };
}

function setup() {
  const audit: AuditEntryInput[] = [];
  const metrics = new Metrics({ defaultMetrics: false });
  const deps = {
    inventory: labInventory(),
    metrics,
    audit: (e: AuditEntryInput) => audit.push(e),
    jobNumber: async () => 7,
    logger: silentLogger(),
  };
  const onSsh = (c: string, n: string, s: number, ok: boolean) => metrics.sshCommand(c, n, s, ok);
  return { audit, metrics, deps, onSsh };
}

describe("instrumentProcessor", () => {
  it("records the outcome: who, what, the commands run with exit codes and durations, host keys, metrics", async () => {
    const { audit, metrics, deps, onSsh } = setup();
    const processor = instrumentProcessor(
      "status",
      async () => {
        await observeRunner(runner("ics1"), "lab", onSsh).run(["cat", "/proc/drbd"]);
        await observeRunner(runner("ics1"), "lab", onSsh).run(["cat", "/proc/drbd"]);
        await observeRunner(runner("ics2", 3), "lab", onSsh)
          .run(["xm", "list"])
          .catch(() => {});
        return { nodes: 2 };
      },
      deps,
    );
    await processor(fakeJob("status", data), undefined, undefined);

    expect(audit).toHaveLength(1);
    const entry = audit[0]!;
    expect(entry).toMatchObject({
      kind: "job_finished",
      actor: "UOPER1",
      cluster: "lab",
      command: "/xen status lab ics1",
      parameters: { job: "status", target: "ics1", attempt: 1, commandsRun: 3 },
      plan: [
        { node: "ics1", argv: ["cat", "/proc/drbd"] },
        { node: "ics2", argv: ["xm", "list"] },
      ],
      exitCodes: [0, 3],
      hostKeys: { ics1: `SHA256:${"A".repeat(43)}`, ics2: `SHA256:${"B".repeat(43)}` },
      outcome: "ok",
      jobNumber: 7,
    });
    expect(entry.stepDurationsMs).toHaveLength(2);
    expect(entry.durationMs).toBeGreaterThanOrEqual(0);
    const text = await metrics.render();
    expect(text).toMatch(/xenops_jobs_total\{name="status",outcome="completed"\} 1/);
    expect(text).toMatch(/xenops_job_duration_seconds_count\{name="status",outcome="completed"\} 1/);
    expect(text).toMatch(/xenops_ssh_command_duration_seconds_count\{cluster="lab",result="ok"\} 2/);
    expect(text).toMatch(/xenops_ssh_command_duration_seconds_count\{cluster="lab",result="error"\} 1/);
    expect(text).toMatch(/xenops_ssh_command_errors_total\{cluster="lab",node="ics2"\} 1/);
    expect(text).not.toMatch(/xenops_ssh_command_errors_total\{cluster="lab",node="ics1"\}/);
  });

  it("records each command of a batch as if run alone, and keeps the runner's batches", async () => {
    const { audit, metrics, deps, onSsh } = setup();
    let batches = 0;
    const inner = runner("ics1");
    const batching: CommandRunner = {
      ...inner,
      async runBatch(commands) {
        batches++;
        return commands.map((c) =>
          c.argv[0] === "false"
            ? {
                ok: false as const,
                error: new ExecError("exec_failed", "ics1: false exited with code 1", {
                  node: "ics1",
                  argv: c.argv,
                  exitCode: 1,
                  signal: null,
                  stdout: "",
                  stderr: "",
                }),
              }
            : { ok: true as const, result: { stdout: "ok", stderr: "", exitCode: 0, durationMs: 1 } },
        );
      },
    };
    const processor = instrumentProcessor(
      "status",
      async () => {
        const observed = observeRunner(batching, "lab", onSsh);
        const outcomes = await observed.runBatch!([{ argv: ["xl", "list"] }, { argv: ["false"] }]);
        expect(outcomes.map((o) => o.ok)).toEqual([true, false]);
        return { nodes: 1 };
      },
      deps,
    );
    await processor(fakeJob("status", data), undefined, undefined);
    expect(batches).toBe(1);
    expect(audit[0]).toMatchObject({
      parameters: { commandsRun: 2 },
      plan: [
        { node: "ics1", argv: ["xl", "list"] },
        { node: "ics1", argv: ["false"] },
      ],
      exitCodes: [0, 1],
    });
    const text = await metrics.render();
    expect(text).toMatch(/xenops_ssh_command_duration_seconds_count\{cluster="lab",result="ok"\} 1/);
    expect(text).toMatch(/xenops_ssh_command_errors_total\{cluster="lab",node="ics1"\} 1/);
  });

  it("counts a retried attempt without auditing it, and audits the final failure with its error", async () => {
    const { audit, metrics, deps } = setup();
    const failing = instrumentProcessor(
      "status",
      async () => {
        throw new Error("boom");
      },
      deps,
    );
    await expect(failing(fakeJob("status", data, { attempts: 3 }), undefined, undefined)).rejects.toThrow(
      "boom",
    );
    expect(audit).toHaveLength(0);
    await expect(
      failing(fakeJob("status", data, { attempts: 3, attemptsMade: 2 }), undefined, undefined),
    ).rejects.toThrow("boom");
    expect(audit[0]).toMatchObject({ kind: "job_finished", outcome: "failed", error: { message: "boom" } });
    const unrecoverable = instrumentProcessor(
      "status",
      async () => {
        throw new UnrecoverableError("no such cluster");
      },
      deps,
    );
    await expect(
      unrecoverable(fakeJob("status", data, { attempts: 3 }), undefined, undefined),
    ).rejects.toThrow();
    expect(audit).toHaveLength(2);
    const text = await metrics.render();
    expect(text).toMatch(/xenops_jobs_total\{name="status",outcome="retried"\} 1/);
    expect(text).toMatch(/xenops_jobs_total\{name="status",outcome="failed"\} 2/);
  });

  it("records a cancelled job with who cancelled, and a processor's own outcome label", async () => {
    const { audit, metrics, deps } = setup();
    const ctl = new AbortController();
    const cancelled = instrumentProcessor(
      "drbd-watch",
      async () => {
        ctl.abort("by UAPPROVER1");
        throw new JobCancelled("UAPPROVER1", "by UAPPROVER1");
      },
      deps,
    );
    await expect(
      cancelled(fakeJob("drbd-watch", { ...data, resource: "internet" }), undefined, ctl.signal),
    ).rejects.toBeInstanceOf(JobCancelled);
    expect(audit[0]).toMatchObject({
      kind: "job_cancelled",
      outcome: "cancelled",
      parameters: { cancelledBy: "UAPPROVER1", resource: "internet" },
    });
    expect(audit[0]!.error).toBeUndefined();

    const timedOut = instrumentProcessor(
      "drbd-watch",
      async () => ({ outcome: "timeout", summary: "gave up" }),
      deps,
    );
    await timedOut(fakeJob("drbd-watch", { ...data, resource: "internet" }), undefined, undefined);
    expect(audit[1]).toMatchObject({ outcome: "timeout", parameters: { summary: "gave up" } });
    expect(await metrics.render()).toMatch(/xenops_jobs_total\{name="drbd-watch",outcome="timeout"\} 1/);
  });

  it("puts the job id, number and Slack user on every log line written while the job runs", async () => {
    const lines: Record<string, unknown>[] = [];
    const base = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const logger = jobContextLogger(base);
    const ssh = logger.child({ component: "ssh", node: "ics1" });
    const { deps } = setup();
    const processor = instrumentProcessor(
      "status",
      async () => {
        ssh.info("command started");
        await new Promise((r) => setImmediate(r)); // a hop through the event loop, like real I/O
        ssh.info({ user: "explicit" }, "after an await");
        return null;
      },
      { ...deps, logger },
    );
    ssh.info("outside any job");
    await processor(fakeJob("status", data, { id: "status-abc" }), undefined, undefined);
    expect(lines.map((l) => [l.msg, l.jobId, l.jobNumber, l.user, l.component])).toEqual([
      ["outside any job", undefined, undefined, undefined, "ssh"],
      ["command started", "status-abc", 7, "UOPER1", "ssh"],
      ["after an await", "status-abc", 7, "explicit", "ssh"],
    ]);
  });
});

describe("command audit entries", () => {
  const request = {
    source: "slack" as const,
    deliveryId: "trig-1",
    teamId: "T1",
    channelId: "C0LAB",
    userId: "UOPER1",
    text: "drbd watch internet",
  };

  it("records a command with its parsed parameters and the job it queued", () => {
    const queued = new DeliveryJobs();
    queued.remember("trig-1", { jobId: "drbd-watch-1", number: 4, cluster: "lab" });
    const entry = commandAuditEntry(
      {
        request,
        verb: "drbd",
        role: "viewer",
        outcome: "ok",
        parameters: { cluster: "lab", resource: "internet" },
      },
      queued.take("trig-1"),
    );
    expect(entry).toEqual({
      kind: "command",
      actor: "UOPER1",
      cluster: "lab",
      command: "/xen drbd watch internet",
      parameters: {
        verb: "drbd",
        role: "viewer",
        source: "slack",
        channel: "C0LAB",
        deliveryId: "trig-1",
        cluster: "lab",
        resource: "internet",
      },
      outcome: "ok",
      jobId: "drbd-watch-1",
      jobNumber: 4,
    });
    expect(queued.take("trig-1")).toBeUndefined();
  });

  it("records refusals (role, usage, unknown verb) and failures", () => {
    expect(
      commandAuditEntry({
        request,
        verb: "drbd",
        outcome: "refused",
        error: { code: "forbidden", message: "needs the viewer role" },
      }),
    ).toMatchObject({ kind: "refusal", outcome: "refused", parameters: { reason: "refused" } });
    expect(commandAuditEntry({ request, verb: null, outcome: "unknown_verb" })).toMatchObject({
      kind: "refusal",
      outcome: "refused",
      parameters: { reason: "unknown_verb" },
    });
    expect(
      commandAuditEntry({
        request,
        verb: "drbd",
        outcome: "failed",
        error: { code: "internal", message: "x" },
      }),
    ).toMatchObject({ kind: "command", outcome: "failed", error: { code: "internal" } });
  });
});
