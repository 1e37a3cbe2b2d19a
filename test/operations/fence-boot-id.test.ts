/**
 * A reset of a live node verified by its boot id: it answered over SSH right before the fence, SSH
 * failed after it, and it answers again with another boot id. heartbeat's view may still call it online
 * the whole time (its deadtime is longer than the power-off). Pure verdicts and the parser.
 */
import { describe, expect, it } from "vitest";
import { parseBootId } from "../../src/drivers/boot-id";
import type { NodeState } from "../../src/model";
import { beforeFence, judgeFence, judgeReset, offAfterFence } from "../../src/operations/verify";
import { clusterState, haNode } from "../support/node-state";

const WAS = "4c1f2a3b-9d8e-4f7a-b6c5-0123456789ab";
const NOW = "e0d1c2b3-a4f5-4e6d-8c7b-fedcba987654";
const SSH_DOWN = "SSH to ics1 fails (ssh_connect_failed)";

/** heartbeat on `name`, when it answers, sees ics1 as `peerStatus` and ics2 online. */
const node = (name: string, reachable: boolean, peerStatus: "online" | "offline" | null): NodeState =>
  haNode(name, reachable, peerStatus && { stack: "heartbeat", sees: { ics1: peerStatus, ics2: "online" } });
const state = clusterState;

// Right before the fence: ics1 answers, heartbeat on ics2 sees it online.
const answering = state(node("ics1", true, null), node("ics2", true, "online"));
// After it, ics1 is back and heartbeat on ics2 still calls it online (its view never lapsed).
const backAndLagging = state(node("ics1", true, null), node("ics2", true, "online"));

describe("boot id parser", () => {
  it("reads the kernel's format: one lowercase version-4 UUID and a newline", () => {
    expect(parseBootId(`${WAS}\n`)).toBe(WAS);
    expect(parseBootId(WAS)).toBe(WAS);
  });

  it("anything else is unknown", () => {
    for (const bad of [
      "",
      "\n",
      `${WAS.toUpperCase()}\n`,
      `${WAS}\n${NOW}\n`,
      ` ${WAS}\n`,
      `${WAS} \n`,
      `${WAS}\n\n`,
      "4c1f2a3b-9d8e-1f7a-b6c5-0123456789ab\n", // version 1
      "4c1f2a3b-9d8e-4f7a-c6c5-0123456789ab\n", // variant not RFC 4122
      "4c1f2a3b9d8e4f7ab6c50123456789ab\n",
      "cat: /proc/sys/kernel/random/boot_id: No such file or directory\n",
    ])
      expect(parseBootId(bad), JSON.stringify(bad)).toBeNull();
  });
});

describe("beforeFence keeps the boot id only of a node that answered", () => {
  it("answered: kept", () => {
    expect(beforeFence(answering, "ics1", "ics2", WAS)).toMatchObject({
      aliveBefore: "ics1 answers over SSH",
      bootIdBefore: WAS,
    });
  });
  it("already silent: no boot id evidence even if one was passed", () => {
    const silent = state(node("ics1", false, null), node("ics2", true, "online"));
    const before = beforeFence(silent, "ics1", "ics2", WAS);
    expect(before.aliveBefore).toBeNull();
    expect(before.bootIdBefore ?? null).toBeNull();
  });
});

describe("judgeFence with a boot id", () => {
  const before = beforeFence(answering, "ics1", "ics2", WAS);
  const reset = (bootIdNow: string | null, action: "reboot" | "off" = "reboot") => ({
    target: "ics1",
    bootIdNow,
    action,
  });
  /** The verdict when ics1 answered before the fence and SSH failed after it, with no other evidence. */
  const judge = (over: Partial<Parameters<typeof judgeFence>[0]>) =>
    judgeFence({ before, offNow: false, sshDown: SSH_DOWN, historyNew: null, powerOff: null, ...over });

  it("a new boot id after SSH failed: verified as a reset, although heartbeat still says online", () => {
    // The HA view lags "online", so by the off rules the node was never off.
    expect(offAfterFence(backAndLagging, "ics1", false)).toBe(false);
    const v = judge({ reset: reset(NOW) });
    expect(v).toEqual({
      verified: true,
      reset: true,
      evidence: [
        `ics1 was reset: SSH failed after the fence and it came back with a new boot id (was ${WAS}, now ${NOW})`,
      ],
    });
  });

  it("the same boot id after SSH came back: not verified, and the details say it was not reset", () => {
    const v = judge({ reset: reset(WAS) });
    expect(v.verified).toBe(false);
    const r = judgeReset({ target: "ics1", before, sshDown: SSH_DOWN, bootIdNow: WAS, action: "reboot" });
    expect(r).toEqual({
      reset: false,
      line: `ics1 answered again after SSH failed (${SSH_DOWN}), with the same boot id (${WAS}): the fence did not reset it (a network interruption?)`,
    });
  });

  it("a new boot id without SSH ever failing after the fence: not this evidence", () => {
    const v = judge({ sshDown: null, reset: reset(NOW) });
    expect(v.verified).toBe(false);
  });

  it("unreadable before the fence: not this evidence, whatever it says after", () => {
    const unread = beforeFence(answering, "ics1", "ics2", null);
    expect(judge({ before: unread, reset: reset(NOW) }).verified).toBe(false);
    expect(
      judgeReset({ target: "ics1", before: unread, sshDown: SSH_DOWN, bootIdNow: NOW, action: "reboot" }),
    ).toBeNull();
  });

  it("unreadable after the fence: not this evidence", () => {
    expect(judge({ reset: reset(null) }).verified).toBe(false);
  });

  it("a fence with action off: a new boot id proves nothing (the node had to stay off)", () => {
    const v = judge({ reset: reset(NOW, "off") });
    expect(v.verified).toBe(false);
    expect(
      judgeReset({ target: "ics1", before, sshDown: SSH_DOWN, bootIdNow: NOW, action: "off" }),
    ).toBeNull();
  });

  it("off now: the existing evidence, not a reset", () => {
    const v = judge({ offNow: true, reset: reset(null) });
    expect(v.verified).toBe(true);
    expect(v.reset).toBeUndefined();
  });
});
