/**
 * What the maintenance job posts: the same Slack text as before it was a document, and the same
 * content in the console and as plain text without Slack markup.
 */
import { describe, expect, it } from "vitest";
import { renderConsole } from "../../src/console/render";
import {
  maintenanceEndedDocument,
  maintenanceStartedDocument,
  renderMaintenanceEnded,
  renderMaintenanceStarted,
} from "../../src/events/maintenance-render";
import { renderPlain } from "../../src/message/plain";
import { expectNoSlackMarkup } from "../support/markup";

const started = {
  cluster: "lab",
  node: "ics1",
  durationMs: 90 * 60_000,
  until: "2024-05-01T14:00:00Z",
  requestedBy: "U0ALICE",
  reason: "disk <swap> & more",
};

describe("maintenance posts", () => {
  it("are the same Slack text messages as before, without blocks", () => {
    const m = renderMaintenanceStarted(started);
    expect(m.text).toBe(
      ":wrench: ics1 (lab) is in maintenance for 1h30m, until <!date^1714572000^{date_short_pretty} {time_secs}|2024-05-01 14:00:00 UTC>, set by <@U0ALICE>: disk &lt;swap&gt; &amp; more. Its events are silenced and risky actions on it are blocked. End it early with `/xen maintenance ics1 off`.",
    );
    expect(m.blocks).toBeUndefined();
    expect(renderMaintenanceStarted({ ...started, reason: "" }).text).toContain(
      "set by <@U0ALICE>. Its events",
    );
    const ended = renderMaintenanceEnded({
      cluster: "lab",
      node: "ics1",
      requestedBy: "U0ALICE",
      ended: true,
    });
    expect(ended).toEqual({
      text: ":wrench: Maintenance of ics1 (lab) ended early by <@U0ALICE>. Its events are reported again.",
      document: maintenanceEndedDocument({
        cluster: "lab",
        node: "ics1",
        requestedBy: "U0ALICE",
        ended: true,
      }),
    });
    expect(
      renderMaintenanceEnded({ cluster: "lab", node: "ics1", requestedBy: "U0ALICE", ended: false }).text,
    ).toBe(":wrench: ics1 (lab) was not in maintenance.");
  });

  it("read the same in the console and as plain text, without Slack markup", () => {
    const doc = maintenanceStartedDocument(started);
    const text = renderConsole(doc);
    expect(text).toBe(
      ":wrench: ics1 (lab) is in maintenance for 1h30m, until 2024-05-01 14:00:00 UTC, set by @U0ALICE: disk <swap> & more. Its events are silenced and risky actions on it are blocked. End it early with `/xen maintenance ics1 off`.",
    );
    expectNoSlackMarkup(text);
    const plain = renderPlain(doc);
    expect(plain).toMatch(
      /^🔧 ics1 \(lab\) is in maintenance for 1h30m, until 2024-05-01 14:00:00 UTC, set by @U0ALICE/,
    );
    expectNoSlackMarkup(plain);
    const ended = renderConsole(
      maintenanceEndedDocument({ cluster: "lab", node: "ics1", requestedBy: "U0ALICE", ended: true }),
    );
    expect(ended).toBe(
      ":wrench: Maintenance of ics1 (lab) ended early by @U0ALICE. Its events are reported again.",
    );
  });
});
