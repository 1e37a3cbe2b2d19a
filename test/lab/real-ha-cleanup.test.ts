/**
 * Leftovers of a real-HA lab that died (node holders and serial relays whose lab process is gone)
 * are found by their argv marker and ended at the next start; a running lab's are never touched.
 * Plain processes stand in for them here, so this runs without root or heartbeat.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanupLeftovers } from "../../src/lab/real-ha/index";
import { NODE_MARKER } from "../../src/lab/real-ha/namespace";
import { SERIAL_MARKER } from "../../src/lab/real-ha/serial";

const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) c.kill("SIGKILL");
});

function exited(child: ChildProcess): Promise<string | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.signalCode);
    child.once("exit", (_code, signal) => resolve(signal));
  });
}

/** A PID no process has now: one that just exited. */
function deadPid(): number {
  const r = spawnSync("/bin/sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

describe("real-HA leftovers", () => {
  it("ends holders and relays of a dead lab, keeps those of a live one, removes the dead lab's directory", async () => {
    const dead = deadPid();
    // `read` blocks on a pipe that stays open: these live until someone kills them.
    const holder = spawn("bash", ["-c", "read _", NODE_MARKER, "ics1", "/nonexistent", String(dead), ""], {
      stdio: ["pipe", "ignore", "ignore"],
    });
    const relay = spawn("bash", ["-c", "read _", SERIAL_MARKER, String(dead)], {
      stdio: ["pipe", "ignore", "ignore"],
    });
    const mine = spawn(
      "bash",
      ["-c", "read _", NODE_MARKER, "ics2", "/nonexistent", String(process.pid), ""],
      {
        stdio: ["pipe", "ignore", "ignore"],
      },
    );
    started.push(holder, relay, mine);
    const deadDir = mkdtempSync(join(tmpdir(), `xenops-real-ha-${dead}-`));
    const liveDir = mkdtempSync(join(tmpdir(), `xenops-real-ha-${process.pid}-`));
    try {
      // Wait until the three have exec'd bash with their argv (spawn returns before that).
      await Promise.all(
        [holder, relay, mine].map(
          (c) =>
            new Promise<void>((resolve) => {
              c.once("spawn", () => resolve());
            }),
        ),
      );
      expect(cleanupLeftovers()).toBe(2);
      expect(await exited(holder)).toBe("SIGKILL");
      expect(await exited(relay)).toBe("SIGKILL");
      expect(mine.exitCode).toBeNull();
      expect(mine.signalCode).toBeNull();
      expect(existsSync(deadDir)).toBe(false);
      expect(existsSync(liveDir)).toBe(true);
    } finally {
      spawnSync("rm", ["-rf", deadDir, liveDir]);
    }
  });
});
