/** Each simulated node has a kernel boot id, served like /proc does and drawn anew at every power-on. */
import { describe, expect, it } from "vitest";
import { parseBootId } from "../../src/drivers/boot-id";
import { referenceLab } from "../../src/sim";
import { lab, out, run } from "./helpers";

const CAT = "cat /proc/sys/kernel/random/boot_id";
const UUID_LINE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$/;

describe("boot id", () => {
  it("is a lowercase version-4 UUID with a newline, different per node, stable while up", async () => {
    const sim = lab(referenceLab());
    const a = await out(sim, "ics1", CAT);
    const b = await out(sim, "ics2", CAT);
    expect(a).toMatch(UUID_LINE);
    expect(b).toMatch(UUID_LINE);
    expect(a).not.toBe(b);
    expect(parseBootId(a)).toBe(a.trim());
    sim.tick(60_000);
    expect(await out(sim, "ics1", CAT)).toBe(a);
    expect((await run(sim, "ics1", "test -f /proc/sys/kernel/random/boot_id")).exitCode).toBe(0);
  });

  it("is the same for the same seed (reproducible runs)", async () => {
    expect(await out(lab(referenceLab()), "ics1", CAT)).toBe(await out(lab(referenceLab()), "ics1", CAT));
  });

  it("changes on every power-on: nodeDown/nodeUp, a fence reset, off then on", async () => {
    const sim = lab(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    const seen = new Set<string>([await out(sim, "ics1", CAT)]);
    const expectNew = async () => {
      const id = await out(sim, "ics1", CAT);
      expect(id).toMatch(UUID_LINE);
      expect(seen.has(id)).toBe(false);
      seen.add(id);
    };

    sim.nodeDown("ics1");
    sim.nodeUp("ics1");
    await expectNew();

    // A reset through the fence device (UPS output off, then on after the reboot time).
    expect(sim.fence("ics1", "reset", { client: "test", origin: "ics2" }).ok).toBe(true);
    expect(sim.node("ics1")?.up).toBe(false);
    sim.tick(sim.state.timing.rebootMs);
    expect(sim.node("ics1")?.up).toBe(true);
    await expectNew();

    expect(sim.fence("ics1", "off", { client: "test", origin: "ics2" }).ok).toBe(true);
    sim.tick(sim.state.timing.rebootMs * 2);
    expect(sim.node("ics1")?.up).toBe(false);
    expect(sim.fence("ics1", "on", { client: "test", origin: "ics2" }).ok).toBe(true);
    sim.tick(sim.state.timing.rebootMs);
    await expectNew();

    // A power cut that boots by itself after a while (a crash with automatic restart).
    sim.nodeDown("ics1", 1000);
    sim.tick(1000);
    await expectNew();
    // The peer's never changed.
    expect(sim.node("ics2")?.boots).toBe(0);
  });
});
