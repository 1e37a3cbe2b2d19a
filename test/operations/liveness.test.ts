/**
 * The liveness model (pure): only a fenced or attested-off node counts as running nothing; a proof is
 * void once the node is seen alive; heartbeat's "dead" never proves anything, Pacemaker's recorded
 * fence of an offline node does. And the fence verdict: evidence that did not hold before the fence.
 */
import { describe, expect, it } from "vitest";
import type { ClusterConfig } from "../../src/config/schema";
import type { FenceEvent, HaNodeStatus } from "../../src/model";
import {
  nodeLiveness,
  notProvenOff,
  type OffProof,
  provenOff,
  voidedProofs,
} from "../../src/operations/liveness";
import { beforeFence, judgeFence } from "../../src/operations/verify";
import { clusterState, haNode } from "../support/node-state";

type Ha = "heartbeat" | "pacemaker" | "none";
const config = (ha: Ha) => ({ name: "lab", toolstack: { ha } }) as unknown as ClusterConfig;

const node = haNode;
const state = clusterState;

const attested: OffProof = {
  kind: "attested-off",
  at: "2030-01-01T11:59:00.000Z",
  by: ["UAPPROVER1", "UAPPROVER2"],
  evidence: ["checked powered off by hand"],
  approvalId: "appr-0001",
};
const fenced: OffProof = {
  kind: "fenced",
  at: "2030-01-01T11:58:00.000Z",
  by: ["UAPPROVER1", "UAPPROVER2"],
  evidence: ["fence_ipmilan reports ics2 powered off"],
  approvalId: "appr-0002",
};

// ics1 answers and its heartbeat sees ics2 as `status`; ics2 does not answer.
const hbSees = (status: HaNodeStatus) =>
  state(
    node("ics1", true, { stack: "heartbeat", sees: { ics1: "online", ics2: status } }),
    node("ics2", false, null),
  );

describe("nodeLiveness", () => {
  it("alive: SSH answers", () => {
    const s = state(node("ics1", true, null), node("ics2", true, null));
    const l = nodeLiveness(config("heartbeat"), s, "ics2", {});
    expect(l).toMatchObject({ kind: "alive", proof: null, detail: "ics2 answers over SSH" });
    expect(provenOff(l)).toBe(false);
  });

  it("alive: SSH fails but an HA view sees it online (or in standby)", () => {
    for (const status of ["online", "standby"] as const) {
      const l = nodeLiveness(config("heartbeat"), hbSees(status), "ics2", {});
      expect(l.kind).toBe("alive");
      expect(l.detail).toBe(`ics2 does not answer over SSH, but ics1 sees it ${status}`);
    }
  });

  it("unreachable: silent, and no HA view declares anything", () => {
    const l = nodeLiveness(
      config("none"),
      state(node("ics1", true, null), node("ics2", false, null)),
      "ics2",
      {},
    );
    expect(l).toMatchObject({ kind: "unreachable", proof: null });
    expect(provenOff(l)).toBe(false);
    expect(notProvenOff(l)).toBe(
      "ics2 is not proven off (ics2 does not answer over SSH (ssh_connect_failed)): fence it with `/xen fence ics2`, or `/xen attest-off ics2` once someone has checked it is powered off",
    );
  });

  it("declared-dead: heartbeat's offline verdict alone is not a proof", () => {
    const l = nodeLiveness(config("heartbeat"), hbSees("offline"), "ics2", {});
    expect(l.kind).toBe("declared-dead");
    expect(l.detail).toContain("heartbeat on ics1 declares it dead, which only says it went silent");
    expect(provenOff(l)).toBe(false);
  });

  it("fenced and attested-off: from the stored proof, and they count as off", () => {
    const f = nodeLiveness(config("heartbeat"), hbSees("offline"), "ics2", { ics2: fenced });
    expect(f).toMatchObject({ kind: "fenced", proof: fenced });
    expect(f.detail).toBe(
      "ics2 fenced at 2030-01-01T11:58:00.000Z (approved by <@UAPPROVER1>, <@UAPPROVER2>) (evidence: fence_ipmilan reports ics2 powered off)",
    );
    expect(provenOff(f)).toBe(true);
    const a = nodeLiveness(
      config("none"),
      state(node("ics1", true, null), node("ics2", false, null)),
      "ics2",
      {
        ics2: attested,
      },
    );
    expect(a).toMatchObject({ kind: "attested-off", proof: attested });
    expect(a.detail).toMatch(
      /^ics2 attested off by <@UAPPROVER1>, <@UAPPROVER2> at 2030-01-01T11:59:00.000Z/,
    );
    expect(provenOff(a)).toBe(true);
  });

  it("a proof is void as soon as the node is seen alive (SSH or HA)", () => {
    const viaSsh = state(node("ics1", true, null), node("ics2", true, null));
    const l1 = nodeLiveness(config("heartbeat"), viaSsh, "ics2", { ics2: attested });
    expect(l1).toMatchObject({ kind: "alive", proof: null });
    expect(l1.detail).toBe(
      "ics2 answers over SSH; its attested-off proof of 2030-01-01T11:59:00.000Z is void",
    );
    const viaHa = hbSees("online");
    expect(nodeLiveness(config("heartbeat"), viaHa, "ics2", { ics2: fenced }).kind).toBe("alive");
    expect(voidedProofs(viaSsh, { ics2: attested, ics1: null })).toEqual(["ics2"]);
    expect(voidedProofs(hbSees("offline"), { ics2: attested })).toEqual([]);
  });

  it("Pacemaker's recorded fence of an offline, unreachable node is `fenced` evidence; UNCLEAN is not", () => {
    const success: FenceEvent = {
      target: "hv2",
      action: "reboot",
      status: "success",
      delegate: "hv1",
      completed: "2030-01-01T11:57:00Z",
    };
    const pcmk = (status: HaNodeStatus, fences: FenceEvent[]) =>
      state(
        node("hv1", true, { stack: "pacemaker", sees: { hv1: "online", hv2: status }, fences }),
        node("hv2", false, null),
      );
    const l = nodeLiveness(config("pacemaker"), pcmk("offline", [success]), "hv2", {});
    expect(l.kind).toBe("fenced");
    expect(l.proof).toMatchObject({ kind: "fenced", by: ["pacemaker"], approvalId: null });
    expect(provenOff(l)).toBe(true);
    // UNCLEAN: Pacemaker itself says it still needs fencing.
    expect(nodeLiveness(config("pacemaker"), pcmk("unclean", [success]), "hv2", {}).kind).toBe(
      "declared-dead",
    );
    // The latest fence of the node failed: not fenced.
    const failed = { ...success, status: "failed", completed: "2030-01-01T11:58:00Z" };
    expect(nodeLiveness(config("pacemaker"), pcmk("offline", [success, failed]), "hv2", {}).kind).toBe(
      "declared-dead",
    );
    // No history at all: only declared dead.
    expect(nodeLiveness(config("pacemaker"), pcmk("offline", []), "hv2", {}).kind).toBe("declared-dead");
  });
});

describe("fence verification (judgeFence)", () => {
  const silentBefore = beforeFence(hbSees("offline"), "ics2", "ics1");
  const aliveBefore = beforeFence(
    state(
      node("ics1", true, { stack: "heartbeat", sees: { ics1: "online", ics2: "online" } }),
      node("ics2", true, null),
    ),
    "ics2",
    "ics1",
  );
  const sshDown = "SSH to ics2 fails (ssh_connect_failed)";

  it("reads what held before the fence", () => {
    expect(silentBefore).toEqual({ aliveBefore: null, historyBefore: 0 });
    expect(aliveBefore.aliveBefore).toBe("ics2 answers over SSH");
  });

  it("an already-silent node and a device without power status (apcsmart): not verified", () => {
    const v = judgeFence({ before: silentBefore, offNow: true, sshDown, historyNew: null, powerOff: null });
    expect(v).toEqual({ verified: false, evidence: [] });
  });

  it("alive right before the fence, off after it: verified", () => {
    const v = judgeFence({ before: aliveBefore, offNow: true, sshDown, historyNew: null, powerOff: null });
    expect(v.verified).toBe(true);
    expect(v.evidence).toEqual([
      `seen alive right before the fence (ics2 answers over SSH); ${sshDown} after it`,
    ]);
  });

  it("alive before, but still seen alive (an HA view says online): not verified yet", () => {
    const v = judgeFence({ before: aliveBefore, offNow: false, sshDown, historyNew: null, powerOff: null });
    expect(v.verified).toBe(false);
  });

  it("the device reads the power back as off: verified even for a node silent before", () => {
    const powerOff = "fence agent fence_ipmilan reports ics2 powered off";
    const v = judgeFence({ before: silentBefore, offNow: true, sshDown, historyNew: null, powerOff });
    expect(v).toEqual({ verified: true, evidence: [powerOff, sshDown] });
  });

  it("Pacemaker's fencer records a new success: verified", () => {
    const historyNew = "the fence history on hv1 records the fence of hv2";
    const v = judgeFence({ before: silentBefore, offNow: true, sshDown, historyNew, powerOff: null });
    expect(v.verified).toBe(true);
    expect(v.evidence).toContain(historyNew);
  });

  it("an ineffective fence (the device still reads the power on, the node silent): not verified", () => {
    const v = judgeFence({ before: silentBefore, offNow: true, sshDown, historyNew: null, powerOff: null });
    expect(v.verified).toBe(false);
  });
});
