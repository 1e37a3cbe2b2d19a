/**
 * Shared by the deployment tests (bundle, container image): build the bundle into a directory, write
 * the lab's inventory as a YAML file a deployed process can read, and poll an HTTP probe.
 */
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { stringify } from "yaml";
import type { Lab } from "../../src/lab/lab";

export const ROOT = join(import.meta.dirname, "..", "..");

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (bounded by timeoutMs: then killed). */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString("utf8");
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `npm run build` into `outdir` (the bundle and what it carries beside it). */
export async function buildBundle(outdir: string): Promise<void> {
  const res = await run(process.execPath, ["scripts/build.mjs", "--outdir", outdir], { timeoutMs: 120_000 });
  if (res.code !== 0) throw new Error(`build failed (${res.code}):\n${res.stdout}${res.stderr}`);
}

/** The lab's inventory (simulated cluster over SSH on loopback) as a YAML file. */
export async function writeLabInventory(lab: Lab, file: string): Promise<string> {
  await writeFile(file, stringify(lab.inventory), { mode: 0o600 });
  return file;
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * Polls `url` until `accept(status, body)` holds; rejects after `timeoutMs` with the last answer.
 * Polling is how a deployment's readiness is observed from outside (orchestrators do the same).
 */
export async function pollHttp(
  url: string,
  accept: (status: number, body: string) => boolean,
  timeoutMs: number,
  isAlive: () => boolean = () => true,
): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline && isAlive()) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      const body = await res.text();
      if (accept(res.status, body)) return { status: res.status, body };
      last = `${res.status} ${body}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url}: not ready within ${timeoutMs} ms: ${last}`);
}
