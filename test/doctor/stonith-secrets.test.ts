/**
 * The doctor's stonith_host evidence goes to Slack: heartbeat's ha.cf carries the fence device's
 * login and password as plain parameters (`stonith_host * baytech 10.0.0.3 mylogin mysecretpassword`),
 * so the report shows the host, the type, the nodes it resets and device paths, never the rest.
 */
import { expect, it } from "vitest";
import { READ } from "../../src/doctor/types";
import { referenceLab } from "../../src/sim";
import { find, labFacts, readOf, withRead } from "./helpers";

it("heartbeat.stonith-hosts: the evidence never shows the device's login or password", async () => {
  const f = await labFacts(referenceLab());
  for (const node of ["ics1", "ics2"])
    withRead(
      f,
      node,
      READ.haCf,
      readOf(f, node, READ.haCf).replace(
        /^stonith_host (ics[12]) apcsmart \/dev\/ttyS0 (ics[12])$/gm,
        "stonith_host $1 apcmaster 192.0.2.10 apc S3cr3t-Pw $2",
      ),
    );
  const r = find(f, "heartbeat.stonith-hosts");
  expect(r.status).toBe("pass");
  const shown = JSON.stringify(r);
  expect(shown).not.toContain("S3cr3t-Pw");
  expect(shown).not.toMatch(/\bapc\b(?! ?master)/);
  // What the check decides on stays visible: who fences, with what, which node.
  const lines = r.evidence.flatMap((e) => e.lines);
  expect(lines.some((l) => l.startsWith("stonith_host ics1 apcmaster") && l.endsWith(" ics2"))).toBe(true);

  // The reference lab's own line (a serial device path) keeps its path.
  const ref = await labFacts(referenceLab());
  expect(find(ref, "heartbeat.stonith-hosts").evidence.flatMap((e) => e.lines)).toContain(
    "stonith_host ics2 apcsmart /dev/ttyS0 ics1",
  );
});
