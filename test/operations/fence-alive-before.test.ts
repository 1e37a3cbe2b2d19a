/**
 * "Seen alive right before the fence, gone after it" is evidence only when the node answered over SSH
 * right before the fence. An HA view that still calls a node online while SSH already fails is lagging
 * (heartbeat declares a silent peer dead only after its deadtime): after a partition the node goes on
 * looking "gone after the fence" whether or not the fence did anything.
 */
import { expect, it } from "vitest";
import type { NodeState } from "../../src/model";
import { beforeFence, judgeFence, offAfterFence } from "../../src/operations/verify";
import { clusterState, haNode } from "../support/node-state";

/** heartbeat on `name`, when it answers, sees ics1 online and ics2 as `seesPeer`. */
const node = (name: string, reachable: boolean, seesPeer: "online" | "offline" | null): NodeState =>
  haNode(name, reachable, seesPeer && { stack: "heartbeat", sees: { ics1: "online", ics2: seesPeer } });
const state = clusterState;

it("SSH already failing while heartbeat still says online: not 'alive before', so a later silence proves nothing", () => {
  // ics2 was cut off a few seconds ago: SSH fails, heartbeat on ics1 has not reached its deadtime yet.
  const before = beforeFence(state(node("ics1", true, "online"), node("ics2", false, null)), "ics2", "ics1");
  expect(before.aliveBefore).toBeNull();
  // After the (ineffective) fence heartbeat declares it dead and SSH still fails: nothing new happened.
  const verdict = judgeFence({
    before,
    offNow: true,
    sshDown: "SSH to ics2 fails (ssh_connect_failed)",
    historyNew: null,
    powerOff: null,
  });
  expect(verdict).toEqual({ verified: false, evidence: [] });
  // SSH answering right before the fence is still the evidence it was.
  const answered = beforeFence(state(node("ics1", true, "online"), node("ics2", true, null)), "ics2", "ics1");
  expect(answered.aliveBefore).toBe("ics2 answers over SSH");
});

it("after the fence, the device reading the power off outweighs an HA view that has not reached its deadtime", () => {
  // ics2 answered right before; now SSH fails, heartbeat on ics1 still says online (deadtime not over).
  const after = state(node("ics1", true, "online"), node("ics2", false, null));
  expect(offAfterFence(after, "ics2", true)).toBe(true);
  // Without the power read back in this very probe, the lagging view keeps it "alive".
  expect(offAfterFence(after, "ics2", false)).toBe(false);
  // A node that answers over SSH is never off, whatever the device says (wrong outlet, stale status).
  const answering = state(node("ics1", true, "online"), node("ics2", true, null));
  expect(offAfterFence(answering, "ics2", true)).toBe(false);
  // Not seen alive by anyone: off, with or without a power reading.
  const silent = state(node("ics1", true, "offline"), node("ics2", false, null));
  expect(offAfterFence(silent, "ics2", false)).toBe(true);
});
