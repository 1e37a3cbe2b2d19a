/**
 * A pseudo-terminal for an emulated serial device. Node has no openpty, so a few lines of Python
 * (Debian's python3) own the pair: they print the slave's path, then copy bytes between the master
 * and their stdin/stdout. They keep the slave open too (a master whose slave was never or is no
 * longer open reads EIO) and set it raw, so a client restoring "old" settings leaves it raw.
 * The relay exits when its stdin closes, i.e. when the lab goes away in any way: the pty goes with it.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync } from "node:fs";

/** argv marker of relays (leftover cleanup finds them by it). */
export const SERIAL_MARKER = "xenops-real-ha-serial";

const RELAY = `
import os, select, sys, tty
m, s = os.openpty()
tty.setraw(s)
out, inp = sys.stdout.fileno(), sys.stdin.fileno()
os.write(out, (os.ttyname(s) + "\\n").encode())
while True:
    ready, _, _ = select.select([m, inp], [], [])
    if m in ready:
        os.write(out, os.read(m, 4096))
    if inp in ready:
        data = os.read(inp, 4096)
        if not data:
            break
        os.write(m, data)
`;

export interface SerialLine {
  /** The slave side, e.g. /dev/pts/7. */
  path: string;
  pid: number;
  write(bytes: string): void;
  onData(fn: (bytes: string) => void): void;
  close(): Promise<void>;
}

/** Debian's python3 (not a user's pyenv or virtualenv shim): it has the pty and tty modules. */
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

export async function openSerialLine(python = PYTHON, labPid = process.pid): Promise<SerialLine> {
  const child: ChildProcessWithoutNullStreams = spawn(python, ["-c", RELAY, SERIAL_MARKER, String(labPid)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString("utf8");
  });
  const listeners: ((bytes: string) => void)[] = [];
  const path = await new Promise<string>((resolve, reject) => {
    let head = "";
    const onData = (c: Buffer) => {
      head += c.toString("latin1");
      const nl = head.indexOf("\n");
      if (nl < 0) return;
      child.stdout.off("data", onData);
      const rest = head.slice(nl + 1);
      child.stdout.on("data", (d: Buffer) => {
        for (const l of listeners) l(d.toString("latin1"));
      });
      resolve(head.slice(0, nl));
      if (rest)
        queueMicrotask(() => {
          for (const l of listeners) l(rest);
        });
    };
    child.stdout.on("data", onData);
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`serial relay exited (${code}): ${stderr.trim()}`)));
  });
  child.stdin.on("error", () => {});
  return {
    path,
    pid: child.pid ?? 0,
    write: (bytes) => {
      if (!child.stdin.destroyed) child.stdin.write(Buffer.from(bytes, "latin1"));
    },
    onData: (fn) => listeners.push(fn),
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.stdin.end();
        setTimeout(() => child.kill("SIGKILL"), 2000).unref();
      }),
  };
}
