/** Doubles for job tests: a recording notifier, a fake BullMQ job, runners over the simulator or a script. */
import type { Job } from "bullmq";
import type { MessageRef, Notifier, OutboundMessage } from "../../src/chat/types";
import type { CommandRunner, ExecResult, RunOptions, StreamHandle } from "../../src/command-runner";
import { InventoryConfig as InventorySchema } from "../../src/config/schema";
import { ExecError } from "../../src/errors";
import { handleCommand, type Simulation } from "../../src/sim";
import { renderPlainText } from "../../src/slack/render/text";

export interface Recorded {
  kind: "post" | "update" | "upload" | "ephemeral";
  at: number;
  channel: string;
  ts: string;
  message: OutboundMessage;
  text: string;
}

/** Keeps every call with its time; `updatesOf(ts)` lists the edits of one message. */
export class RecordingNotifier implements Notifier {
  readonly calls: Recorded[] = [];
  readonly files: { channel: string; filename: string; content: string; title: string; threadTs?: string }[] =
    [];
  private seq = 0;

  async post(channel: string, message: OutboundMessage): Promise<MessageRef> {
    this.seq += 1;
    const ts = `1700000000.${String(this.seq).padStart(6, "0")}`;
    this.calls.push({ kind: "post", at: Date.now(), channel, ts, message, text: renderPlainText(message) });
    return { channel, ts };
  }

  async update(ref: MessageRef, message: OutboundMessage): Promise<void> {
    this.calls.push({
      kind: "update",
      at: Date.now(),
      channel: ref.channel,
      ts: ref.ts,
      message,
      text: renderPlainText(message),
    });
  }

  async postEphemeral(channel: string, _user: string, message: OutboundMessage): Promise<void> {
    this.calls.push({
      kind: "ephemeral",
      at: Date.now(),
      channel,
      ts: "",
      message,
      text: renderPlainText(message),
    });
  }

  async upload(
    channel: string,
    file: { filename: string; content: string; title: string; threadTs?: string },
  ): Promise<void> {
    this.files.push({ channel, ...file });
  }

  posts(): Recorded[] {
    return this.calls.filter((c) => c.kind === "post");
  }

  updatesOf(ts: string): Recorded[] {
    return this.calls.filter((c) => c.kind === "update" && c.ts === ts);
  }

  /** The newest text of a message. */
  latest(ts: string): string {
    const mine = this.calls.filter((c) => c.ts === ts && (c.kind === "post" || c.kind === "update"));
    return mine.at(-1)?.text ?? "";
  }
}

/** Enough of a BullMQ Job for processors: data, id, attempts, updateData/updateProgress. */
export function fakeJob<T extends object>(
  name: string,
  data: T,
  options: { id?: string; attempts?: number; attemptsMade?: number } = {},
): Job<T> & { progressUpdates: unknown[] } {
  const progressUpdates: unknown[] = [];
  const job = {
    id: options.id ?? `${name}-0123456789abcdef0123456789abcdef`,
    name,
    data,
    opts: { attempts: options.attempts ?? 1 },
    attemptsMade: options.attemptsMade ?? 0,
    progressUpdates,
    async updateData(d: T) {
      job.data = d;
    },
    async updateProgress(p: unknown) {
      progressUpdates.push(p);
    },
  };
  return job as unknown as Job<T> & { progressUpdates: unknown[] };
}

function abortAfter(ms: number | undefined, signal: AbortSignal | undefined) {
  const ctl = new AbortController();
  const timer = ms !== undefined ? setTimeout(() => ctl.abort("timeout"), ms) : undefined;
  const onAbort = () => ctl.abort("aborted");
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) onAbort();
  return {
    controller: ctl,
    signal: ctl.signal,
    done: () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    },
  };
}

/** A CommandRunner that runs commands on the in-process simulator (no SSH), streams included. */
export function simRunner(
  sim: Simulation,
  node: string,
  seen?: { argv: string[]; signal?: AbortSignal }[],
): CommandRunner {
  return {
    node,
    async run(argv: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
      seen?.push({ argv: [...argv], ...(options.signal ? { signal: options.signal } : {}) });
      const started = Date.now();
      const cancel = abortAfter(options.timeoutMs, options.signal);
      let stdout = "";
      let stderr = "";
      try {
        const { exitCode } = await handleCommand({ sim, node }, argv, {
          stdout: (t) => {
            stdout += t;
          },
          stderr: (t) => {
            stderr += t;
          },
          readStdin: async () => options.stdin ?? "",
          signal: cancel.signal,
        });
        const details = { node, argv, exitCode, signal: null, stdout, stderr };
        if (cancel.signal.aborted)
          throw new ExecError(
            cancel.signal.reason === "timeout" ? "ssh_timeout" : "exec_aborted",
            `${node}: ${argv[0]} ${cancel.signal.reason === "timeout" ? "timed out" : "was aborted"}`,
            details,
          );
        if (!(options.okExitCodes ?? [0]).includes(exitCode))
          throw new ExecError("exec_failed", `${node}: ${argv[0]} exited with code ${exitCode}`, details);
        return { stdout, stderr, exitCode, durationMs: Date.now() - started };
      } finally {
        cancel.done();
      }
    },
    stream(argv, onLine, options = {}): StreamHandle {
      const cancel = abortAfter(undefined, options.signal);
      let partial = "";
      const done = handleCommand({ sim, node }, argv, {
        stdout: (t) => {
          partial += t;
          let nl = partial.indexOf("\n");
          while (nl >= 0) {
            onLine(partial.slice(0, nl));
            partial = partial.slice(nl + 1);
            nl = partial.indexOf("\n");
          }
        },
        stderr: () => {},
        readStdin: async () => "",
        signal: cancel.signal,
      }).then(({ exitCode }) => {
        cancel.done();
        return { stdout: "", stderr: "", exitCode: cancel.signal.aborted ? -1 : exitCode, durationMs: 0 };
      });
      return { done, close: () => cancel.controller.abort("closed") };
    },
  };
}

/**
 * A runner answering `cat /proc/drbd` from a script: each call takes the next output of its node (the
 * last one repeats). `null` in the script makes the call fail like an unreachable node.
 */
export function scriptedRunner(
  node: string,
  outputs: (string | null)[],
  calls?: { node: string; at: number }[],
): CommandRunner {
  let i = 0;
  return {
    node,
    async run(argv: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
      calls?.push({ node, at: Date.now() });
      if (options.signal?.aborted)
        throw new ExecError("exec_aborted", `${node}: ${argv[0]} was aborted`, {
          node,
          argv,
          exitCode: null,
          signal: null,
          stdout: "",
          stderr: "",
        });
      const out = outputs[Math.min(i, outputs.length - 1)] ?? null;
      i += 1;
      if (out === null)
        throw new ExecError("ssh_connect_failed", `${node}: connection refused`, {
          node,
          argv,
          exitCode: null,
          signal: null,
          stdout: "",
          stderr: "",
        });
      return { stdout: out, stderr: "", exitCode: 0, durationMs: 1 };
    },
  };
}

/** A /proc/drbd of minor 0 as DRBD 8.3 prints it. */
export function procDrbd(opts: {
  cs: string;
  ro?: string;
  ds: string;
  oos?: number;
  sync?: { percent: number; leftK: number; totalK: number; finish?: string; speed?: number };
}): string {
  const lines = [
    "version: 8.3.11 (api:88/proto:86-96)",
    "srcversion: 41C52C8CD882E47FB5AF767",
    ` 0: cs:${opts.cs} ro:${opts.ro ?? "Primary/Secondary"} ds:${opts.ds} C r-----`,
    `    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:${opts.oos ?? 0}`,
  ];
  if (opts.sync) {
    const s = opts.sync;
    const done = Math.round((s.percent / 100) * 20);
    lines.push(
      `\t[${"=".repeat(Math.max(0, done - 1))}>${".".repeat(20 - Math.max(1, done))}] sync'ed: ${s.percent.toFixed(1)}% (${s.leftK}/${s.totalK})K`,
    );
    const speed = (s.speed ?? 10240).toLocaleString("en-US");
    lines.push(`\tfinish: ${s.finish ?? "0:00:10"} speed: ${speed} (${speed}) K/sec`);
  }
  return `${lines.join("\n")}\n`;
}

/** A two-node inventory (no SSH is used: tests give their own runners). */
export function labInventory(opts: { drbd?: 8 | 9; nodes?: [string, string]; resources?: string[] } = {}) {
  const [a, b] = opts.nodes ?? ["ics1", "ics2"];
  const key = (c: string) => `SHA256:${c.repeat(43)}`;
  return InventorySchema.parse({
    clusters: [
      {
        name: "lab",
        channels: ["C0LAB"],
        toolstack: {
          hypervisor: opts.drbd === 9 ? "xl" : "xm",
          drbd: opts.drbd ?? 8,
          ha: "none",
          fence: { method: "none" },
        },
        nodes: [
          {
            name: a,
            host: "127.0.0.1",
            port: 22,
            user: "root",
            privateKey: { file: "/nonexistent" },
            hostKey: key("A"),
          },
          {
            name: b,
            host: "127.0.0.1",
            port: 22,
            user: "root",
            privateKey: { file: "/nonexistent" },
            hostKey: key("B"),
          },
        ],
        drbd: (opts.resources ?? ["internet"]).map((name, minor) => ({
          name,
          minor,
          device: `/dev/drbd${minor}`,
        })),
      },
    ],
    roles: {
      viewer: { users: ["UVIEWER1"] },
      operator: { users: ["UOPER1", "UOPER2"] },
      approver: { users: ["UAPPROVER1"] },
      admin: { users: ["UADMIN1"] },
    },
  });
}
