import { describe, expect, it } from "vitest";
import type { Block, OutboundMessage } from "../../src/chat/types";
import { BLOCK_KIT_LIMITS, renderStatusCard, statusCardDocuments } from "../../src/cluster/status-card";
import { renderConsole } from "../../src/console/render";
import { renderPlain } from "../../src/message/plain";
import { renderPlainText } from "../../src/slack/render/text";
import { cluster, domain, drbd, ha, node, warning } from "../slack/fixtures";
import { expectNoSlackMarkup } from "../support/markup";

function texts(b: Block): string[] {
  switch (b.type) {
    case "header":
      return [b.text.text];
    case "section":
      return [...(b.text ? [b.text.text] : []), ...(b.fields ?? []).map((f) => f.text)];
    case "context":
      return b.elements.map((e) => e.text);
    case "actions":
      return b.elements.map((e) => e.text.text);
    case "divider":
      return [];
  }
}

/** Asserts Slack's per-message limits and returns the message's mrkdwn, for content checks. */
function withinLimits(m: OutboundMessage): string {
  const blocks = m.blocks ?? [];
  expect(m.text.length).toBeGreaterThan(0);
  expect(blocks.length).toBeGreaterThan(0);
  expect(blocks.length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.maxBlocks);
  let total = 0;
  for (const b of blocks) {
    for (const t of texts(b)) {
      expect(t.length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.maxTextChars);
      total += t.length;
    }
    if (b.type === "header") expect(b.text.text.length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.maxHeaderChars);
    if (b.type === "section") expect((b.fields ?? []).length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.maxFields);
    if (b.type === "section" && b.text) {
      // Code fences stay balanced inside each block (a block cut mid-table would break the layout).
      expect((b.text.text.match(/```/g) ?? []).length % 2).toBe(0);
    }
  }
  expect(total).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.maxMessageChars);
  return blocks.flatMap(texts).join("\n");
}

describe("renderStatusCard", () => {
  it("renders a healthy two-node cluster in one message", () => {
    const state = cluster([
      node("ics1"),
      node("ics2", { drbd: [drbd("r0", { role: "Secondary" }, { role: "Primary" })] }),
    ]);
    const card = renderStatusCard(state);
    expect(card.detail).toBeNull();
    expect(card.detailText).toBeNull();
    const all = withinLimits(card.main);
    const header = card.main.blocks?.[0];
    expect(header?.type).toBe("header");
    expect(header && texts(header)[0]).toBe("lab · 2024-05-01 12:34:56 UTC");
    expect(all).toContain("<!date^1714566896^");
    expect(all).toContain(":white_check_mark: *No warnings*");
    expect(all).toContain(
      "*ics1* :large_green_circle: reachable · Xen 3.0.3 · 8 CPUs · 2048 of 16384 MiB free",
    );
    expect(all).toContain("HA (heartbeat, seen from ics1): running · DC ics1 · members 2/2 online");

    const plain = renderPlainText(card.main);
    expect(plain).toMatch(/NAME\s+ID\s+MEM MiB\s+VCPUS\s+STATE/);
    expect(plain).toMatch(/Domain-0\s+0\s+1024\s+2\s+r-----/);
    expect(plain).toMatch(/web-ics2\s+3\s+512\s+1\s+-b----/);
    expect(plain).toMatch(/r0\s+peer\s+Connected\s+Primary\/Secondary\s+UpToDate\/UpToDate/);
    expect(plain).toMatch(/r0\s+peer\s+Connected\s+Secondary\/Primary\s+UpToDate\/UpToDate/);
    expect(plain).not.toContain("```");
  });

  it("lists warnings first, critical before warning before info, with emoji and resync percent", () => {
    const state = cluster(
      [
        node("ics1", {
          drbd: [
            drbd(
              "r1",
              { role: "Secondary", diskState: "Inconsistent" },
              {
                replicationState: "SyncTarget",
                role: "Primary",
                sync: { percent: 42.5, etaSec: 754, speedKiBps: 10240 },
              },
            ),
          ],
        }),
        node("ics2"),
      ],
      [
        warning({
          kind: "resync_running",
          severity: "info",
          message: "r1: resync SyncTarget on ics1",
          percent: 42.5,
        }),
        warning({
          kind: "disk_degraded",
          severity: "warning",
          message: "r2 on ics2: local disk Outdated",
          node: "ics2",
        }),
        warning({
          kind: "split_brain_suspected",
          severity: "critical",
          message: "r3: split-brain suspected",
        }),
        warning({
          kind: "guest_on_two_nodes",
          severity: "critical",
          message: "web1 runs on ics1 and ics2",
          guest: "web1",
        }),
        warning({
          kind: "node_dead",
          severity: "critical",
          message: "ics3 is dead according to heartbeat on ics1",
        }),
      ],
    );
    const card = renderStatusCard(state);
    const all = withinLimits(card.main);
    const lines = all.split("\n").filter((l) => /^:(rotating_light|warning|information_source):/.test(l));
    expect(lines).toEqual([
      ":rotating_light: r3: split-brain suspected",
      ":rotating_light: web1 runs on ics1 and ics2",
      ":rotating_light: ics3 is dead according to heartbeat on ics1",
      ":warning: r2 on ics2: local disk Outdated",
      ":information_source: r1: resync SyncTarget on ics1 (42.5%)",
    ]);
    expect(all).toContain("*Warnings* (3 critical, 1 warning, 1 info)");
    // Warnings come before the first node.
    expect(all.indexOf("split-brain")).toBeLessThan(all.indexOf("*ics1*"));
    expect(renderPlainText(card.main)).toMatch(
      /r1\s+peer\s+SyncTarget\s+Secondary\/Primary\s+Inconsistent\/UpToDate\s+42\.5% eta 12m34s/,
    );
  });

  it("says 'unknown: <error>' for parts that could not be read, never 'none'", () => {
    const state = cluster([
      node("ics1", {
        domains: null,
        domainsError: { code: "ssh_timeout", message: "xm list timed out after 15 s" },
        drbd: null,
        drbdError: null,
        ha: null,
        haError: { code: "exec_failed", message: "cl_status: <not running> & no pid" },
        xenInfo: null,
        xenInfoError: { code: "parse_error", message: "xm info: line 3: bad" },
      }),
      node("ics2", {
        reachable: false,
        error: { code: "ssh_connect_failed", message: "connect ECONNREFUSED 10.0.0.2:22" },
        domains: null,
        drbd: null,
        ha: null,
        xenInfo: null,
      }),
    ]);
    const card = renderStatusCard(state);
    const all = withinLimits(card.main);
    expect(all).toContain("*Domains*: unknown: ssh_timeout: xm list timed out after 15 s");
    expect(all).toContain("*DRBD*: unknown (not reported)");
    expect(all).toContain("HA: unknown: exec_failed: cl_status: &lt;not running&gt; &amp; no pid");
    expect(all).toContain("Xen: unknown (unreadable output): xm info: line 3: bad");
    expect(all).toContain(
      "*ics2* :red_circle: unreachable: ssh_connect_failed: connect ECONNREFUSED 10.0.0.2:22",
    );
    expect(all).toContain("unknown (node unreachable)");
    expect(all).toContain("domains unknown on 2 nodes");
    const plain = renderPlainText(card.main);
    expect(plain).toContain("HA: unknown: exec_failed: cl_status: <not running> & no pid");
    expect(plain).not.toMatch(/\bnone\b/i);
  });

  it("marks migration domains and renders DRBD 9 peers by name", () => {
    const state = cluster([
      node("ics1", {
        domains: [
          domain("Domain-0"),
          domain("migrating-web1", { migration: "migrating", guest: "web1", id: 7 }),
        ],
        drbd: [
          {
            name: "r9",
            minor: 9,
            role: "Primary",
            diskState: "UpToDate",
            unconfigured: false,
            peers: [
              {
                node: "ics2",
                connectionState: "Connected",
                replicationState: "SyncSource",
                role: "Secondary",
                diskState: "Inconsistent",
                outOfSyncKiB: 1024,
                sync: { percent: null, etaSec: null, speedKiBps: null },
              },
              {
                node: "ics3",
                connectionState: "Connecting",
                replicationState: null,
                role: "Unknown",
                diskState: "DUnknown",
                outOfSyncKiB: null,
                sync: null,
              },
            ],
          },
          drbd("r5", { unconfigured: true, role: "Unknown", diskState: "Unconfigured", peers: [] }),
        ],
      }),
    ]);
    const plain = renderPlainText(renderStatusCard(state).main);
    expect(plain).toMatch(/migrating-web1 \[migrating\]\s+7\s+512/);
    expect(plain).toMatch(/r9\s+ics2\s+SyncSource\s+Primary\/Secondary\s+UpToDate\/Inconsistent\s+\?%/);
    expect(plain).toMatch(/r9\s+ics3\s+Connecting\s+Primary\/Unknown\s+UpToDate\/DUnknown/);
    expect(plain).toMatch(/r5\s+-\s+Unconfigured/);
  });

  it("focuses on one node or one guest", () => {
    const state = cluster(
      [
        node("ics1"),
        node("ics2", { domains: [domain("Domain-0"), domain("web1")] }),
        node("ics3", { domains: null, domainsError: { code: "ssh_timeout", message: "slow" } }),
      ],
      [
        warning({
          kind: "disk_degraded",
          severity: "warning",
          message: "r0 on ics1: local disk Outdated",
          node: "ics1",
        }),
        warning({
          kind: "disk_degraded",
          severity: "warning",
          message: "r0 on ics2: local disk Outdated",
          node: "ics2",
        }),
      ],
    );
    const byNode = withinLimits(renderStatusCard(state, { focus: { node: "ics2" } }).main);
    expect(byNode).toContain("*ics2*");
    expect(byNode).not.toContain("*ics1*");
    expect(byNode).toContain("r0 on ics2");
    expect(byNode).not.toContain("r0 on ics1");

    const byGuest = withinLimits(renderStatusCard(state, { focus: { guest: "web1" } }).main);
    expect(byGuest).toContain("Guest web1 runs on ics2; domains unknown on ics3");
    expect(byGuest).toContain("*ics2*");
    expect(byGuest).toContain("*ics3*"); // cannot tell: shown, with its unknown domains
    expect(byGuest).not.toContain("*ics1*");
    expect(byGuest).not.toContain("web-ics2");

    const missing = withinLimits(renderStatusCard(state, { focus: { node: "nope" } }).main);
    expect(missing).toContain("node *nope* is not part of this snapshot");
  });

  it("splits a 100-node cluster into a summary card, thread messages and a text file, all within limits", () => {
    const names = Array.from({ length: 100 }, (_, i) => `node${String(i + 1).padStart(3, "0")}`);
    const nodes = names.map((n, i) =>
      i === 41
        ? node(n, {
            reachable: false,
            error: { code: "ssh_timeout", message: "no answer in 15 s" },
            domains: null,
            drbd: null,
            ha: null,
            xenInfo: null,
          })
        : node(n, {
            domains: [domain("Domain-0"), ...Array.from({ length: 6 }, (_, j) => domain(`guest-${n}-${j}`))],
            drbd: Array.from({ length: 4 }, (_, j) => drbd(`r${j}`)),
            ha: ha(n, names),
          }),
    );
    const warnings = Array.from({ length: 120 }, (_, i) =>
      warning({
        kind: "disk_degraded",
        severity: i % 3 === 0 ? "critical" : "warning",
        message: `r${i % 4} on ${names[i % 100]}: local disk Outdated (${"x".repeat(30)})`,
        node: names[i % 100] ?? null,
      }),
    );
    const card = renderStatusCard(cluster(nodes, warnings, "big"));

    const main = withinLimits(card.main);
    expect(main).toContain("*Nodes*\n99/100 reachable\nunreachable: node042");
    expect(main).toContain("Per-node detail is in the thread");
    expect(card.main.blocks?.filter((b) => b.type === "section" && b.fields).length).toBe(1);

    expect(card.detail).not.toBeNull();
    const detail = card.detail ?? [];
    expect(detail.length).toBeGreaterThan(1);
    const detailAll = detail.map(withinLimits).join("\n");
    for (const n of names) expect(detailAll).toContain(`*${n}*`);
    expect(detail[0]?.text).toBe(`big status detail 1/${detail.length}`);
    // Every warning is somewhere: on the card or in the thread.
    for (const w of warnings) expect(`${main}\n${detailAll}`).toContain(w.message);

    expect(card.detailText).not.toBeNull();
    const text = card.detailText ?? "";
    for (const n of names) expect(text).toContain(n);
    expect(text).toContain("guest-node100-5");
    expect(text).not.toContain("```");
  });

  it("keeps a node with a huge domain list within the text limit by splitting its table", () => {
    const doms = [
      domain("Domain-0"),
      ...Array.from({ length: 150 }, (_, i) => domain(`guest-with-a-long-name-${i}`)),
    ];
    const card = renderStatusCard(cluster([node("ics1", { domains: doms })]));
    const messages = [card.main, ...(card.detail ?? [])];
    const all = messages.map(withinLimits).join("\n");
    expect(all).toContain("*Domains* (cont.)");
    for (let i = 0; i < 150; i++) expect(all).toContain(`guest-with-a-long-name-${i} `);
  });
});

describe("status card documents", () => {
  const twoNodes = () =>
    cluster([node("ics1"), node("ics2", { drbd: [drbd("r0", { role: "Secondary" }, { role: "Primary" })] })]);
  const oneUnreachable = () =>
    cluster([
      node("ics1", { domains: null, domainsError: { code: "ssh_timeout", message: "xm list <timed> out" } }),
      node("ics2", {
        reachable: false,
        error: { code: "ssh_connect_failed", message: "connect ECONNREFUSED 10.0.0.2:22" },
        domains: null,
        drbd: null,
        ha: null,
        xenInfo: null,
      }),
    ]);
  const mrkdwn = (text: string) => ({ type: "mrkdwn", text });

  it("renders the same Slack blocks as when it was written as Block Kit", () => {
    const card = renderStatusCard(oneUnreachable());
    expect(card.main.text).toBe("lab status (2024-05-01 12:34:56 UTC): 0 warnings");
    expect(card.main.blocks).toEqual([
      { type: "header", text: { type: "plain_text", text: "lab · 2024-05-01 12:34:56 UTC", emoji: true } },
      {
        type: "context",
        elements: [
          mrkdwn(
            "Snapshot <!date^1714566896^{date_short_pretty} {time_secs}|2024-05-01 12:34:56 UTC> · 1/2 nodes reachable · 0 guests seen (domains unknown on 2 nodes)",
          ),
        ],
      },
      { type: "section", text: mrkdwn(":white_check_mark: *No warnings*") },
      { type: "divider" },
      {
        type: "section",
        text: mrkdwn(
          [
            "*ics1* :large_green_circle: reachable · Xen 3.0.3 · 8 CPUs · 2048 of 16384 MiB free",
            "HA (heartbeat, seen from ics1): running · DC ics1 · members 2/2 online · resources 1/1 running · local resources: all",
            "*Domains*: unknown: ssh_timeout: xm list &lt;timed&gt; out",
            "*DRBD*",
            "```",
            "RESOURCE  PEER  CONNECTION  ROLE L/P           DISK L/P           SYNC",
            "r0        peer  Connected   Primary/Secondary  UpToDate/UpToDate",
            "```",
          ].join("\n"),
        ),
      },
      { type: "divider" },
      {
        type: "section",
        text: mrkdwn(
          "*ics2* :red_circle: unreachable: ssh_connect_failed: connect ECONNREFUSED 10.0.0.2:22\n_Domains, DRBD and HA on this node: unknown (node unreachable)_",
        ),
      },
    ]);
    expect(card.main.document).toEqual(statusCardDocuments(oneUnreachable()).main);
  });

  it("shows two nodes in the console and as plain text, without Slack markup", () => {
    const doc = statusCardDocuments(twoNodes()).main;
    const text = renderConsole(doc);
    expect(text).toContain("lab · 2024-05-01 12:34:56 UTC\n=====");
    expect(text).toContain("Snapshot 2024-05-01 12:34:56 UTC · 2/2 nodes reachable · 2 guests seen");
    expect(text).toContain(":white_check_mark: No warnings");
    expect(text).toContain(
      "ics1 :large_green_circle: reachable · Xen 3.0.3 · 8 CPUs · 2048 of 16384 MiB free",
    );
    expect(text).toMatch(/Domains\nNAME\s+ID\s+MEM MiB\s+VCPUS\s+STATE\nDomain-0\s+0\s+1024/);
    expect(text).toMatch(/r0\s+peer\s+Connected\s+Secondary\/Primary\s+UpToDate\/UpToDate/);
    expectNoSlackMarkup(text);
    const plain = renderPlain(doc);
    expect(plain).toContain("✅ No warnings");
    expect(plain).toContain("ics1 🟢 reachable · Xen 3.0.3");
    expect(plain).toMatch(/\n {4}web-ics2\s+3\s+512\s+1\s+-b----\n/);
    expectNoSlackMarkup(plain);
  });

  it("shows an unreachable node in the console and as plain text, without Slack markup", () => {
    const doc = statusCardDocuments(oneUnreachable()).main;
    for (const text of [renderConsole(doc), renderPlain(doc)]) {
      expect(text).toContain("unreachable: ssh_connect_failed: connect ECONNREFUSED 10.0.0.2:22");
      expect(text).toContain("Domains, DRBD and HA on this node: unknown (node unreachable)");
      expect(text).toContain("Domains: unknown: ssh_timeout: xm list <timed> out");
      expect(text).toContain("1/2 nodes reachable");
      expectNoSlackMarkup(text);
    }
    expect(renderPlain(doc)).toContain("ics2 🔴 unreachable");
  });

  it("gives a split card's thread messages and file the same content as the console", () => {
    const names = Array.from({ length: 60 }, (_, i) => `node${String(i + 1).padStart(2, "0")}`);
    const state = cluster(
      names.map((n) =>
        node(n, {
          domains: [domain("Domain-0"), ...Array.from({ length: 6 }, (_, j) => domain(`g-${n}-${j}`))],
        }),
      ),
    );
    const docs = statusCardDocuments(state);
    expect(docs.detail).not.toBeNull();
    const card = renderStatusCard(state);
    expect(card.detail?.map((m) => m.document)).toEqual(docs.detail);
    expect(card.detailText).toBe(docs.full ? renderConsole(docs.full) : null);
    const thread = (docs.detail ?? []).map((d) => renderConsole(d)).join("\n");
    for (const n of names) expect(thread).toContain(`${n} :large_green_circle: reachable`);
    expectNoSlackMarkup(thread);
    expectNoSlackMarkup(card.detailText ?? "");
  });
});
