/** Starts bench/support/sim-process.ts as a child and hands back what it printed. */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ClusterConfig, InventoryConfig } from "../../src/config/schema";
import type { SimProcessArgs, SimProcessReady } from "./sim-process";

const ROOT = join(import.meta.dirname, "..", "..");

export interface SimProcess {
  pid: number;
  inventory: InventoryConfig;
  cluster: ClusterConfig;
  keyFile: string;
  privateKey: string;
  nodes: SimProcessReady["nodes"];
  /** CPU time the simulator process used so far (ms), from /proc. */
  cpuMs(): number;
  close(): Promise<void>;
}

/** utime + stime of a process in ms (Linux /proc/PID/stat, clock ticks of 10 ms). */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks * 10;
}

export async function startSimProcess(args: SimProcessArgs, timeoutMs = 300_000): Promise<SimProcess> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "bench", "support", "sim-process.ts"), JSON.stringify(args)],
    { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] },
  );
  const pid = child.pid;
  if (!pid) throw new Error("could not start the simulator process");
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    if (stderr.length < 4_000) stderr += c.toString("utf8");
  });
  const ready = await new Promise<SimProcessReady>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the simulator (${String(args.nodes)} nodes) did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString("utf8");
      const nl = out.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.slice(0, nl)) as SimProcessReady);
      } catch (err) {
        reject(err);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the simulator process exited with ${code}: ${stderr.trim()}`));
    });
  });
  return {
    pid,
    inventory: InventoryConfig.parse(ready.inventory),
    cluster: ClusterConfig.parse(ready.cluster),
    keyFile: ready.keyFile,
    privateKey: ready.privateKey,
    nodes: ready.nodes,
    cpuMs: () => processCpuMs(pid),
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        child.stdin.end();
      }),
  };
}
