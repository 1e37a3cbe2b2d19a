/**
 * A snapshot's runner for one node: the commands the drivers start in the same turn of the event loop
 * go to the node as one batch (CommandRunner.runBatch: one SSH exec), and each driver still gets its
 * own result or error, exactly as run() would have given it, so the drivers and their parsers do not
 * know. Drivers start their first command synchronously, so every first read of a snapshot shares
 * one exec; a follow-up that depends on an answer (a fallback for an older tool version) goes out
 * when it is asked for, batched with whatever else is asked in that turn.
 */
import { type BatchCommand, type CommandRunner, type ExecResult, runBatch } from "../command-runner";

interface Pending {
  command: BatchCommand;
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  resolve: (result: ExecResult) => void;
  reject: (error: unknown) => void;
}

/**
 * `lanes`: the commands of one turn are spread over up to this many batches run at once (a shell runs
 * a batch's commands one after the other, so on slow nodes more lanes cost less wall time and more
 * execs).
 */
export function batchingRunner(inner: CommandRunner, lanes = 1): CommandRunner {
  let pending: Pending[] = [];

  const send = (calls: Pending[]): void => {
    const first = calls[0] as Pending;
    const options = { timeoutMs: first.timeoutMs, signal: first.signal };
    if (calls.length === 1) {
      inner
        .run(first.command.argv, {
          ...options,
          ...(first.command.okExitCodes ? { okExitCodes: first.command.okExitCodes } : {}),
        })
        .then(first.resolve, first.reject);
      return;
    }
    runBatch(
      inner,
      calls.map((c) => c.command),
      options,
    ).then(
      (outcomes) => {
        calls.forEach((call, i) => {
          const outcome = outcomes[i];
          if (outcome?.ok) call.resolve(outcome.result);
          else
            call.reject(outcome ? outcome.error : new Error("batch returned fewer outcomes than commands"));
        });
      },
      (error: unknown) => {
        for (const call of calls) call.reject(error);
      },
    );
  };

  const flush = (): void => {
    const calls = pending;
    pending = [];
    // Calls that differ in timeout or signal cannot share one exec.
    const groups = new Map<string, Pending[]>();
    const signals: (AbortSignal | undefined)[] = [];
    for (const call of calls) {
      let s = signals.indexOf(call.signal);
      if (s < 0) s = signals.push(call.signal) - 1;
      const key = `${s}:${call.timeoutMs ?? ""}`;
      const group = groups.get(key);
      if (group) group.push(call);
      else groups.set(key, [call]);
    }
    for (const group of groups.values()) {
      const n = Math.max(1, Math.min(lanes, group.length));
      for (let lane = 0; lane < n; lane++) send(group.filter((_, i) => i % n === lane));
    }
  };

  const runner: CommandRunner = {
    node: inner.node,
    run(argv, options = {}) {
      // A batch shares one standard input: a command that needs its own runs alone.
      if (options.stdin !== undefined) return inner.run(argv, options);
      return new Promise<ExecResult>((resolve, reject) => {
        if (pending.length === 0) queueMicrotask(flush);
        pending.push({
          command: { argv, ...(options.okExitCodes ? { okExitCodes: options.okExitCodes } : {}) },
          timeoutMs: options.timeoutMs,
          signal: options.signal,
          resolve,
          reject,
        });
      });
    },
  };
  if (inner.stream) runner.stream = inner.stream.bind(inner);
  return runner;
}
