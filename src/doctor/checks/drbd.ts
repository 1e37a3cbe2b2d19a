/**
 * DRBD: the configuration as drbdadm reads it (`drbdadm dump`) on every node, compared between the
 * nodes and against the inventory and the safety rules (no policy that throws data away by itself).
 */
import { createHash } from "node:crypto";
import { compareText } from "../../compare-text";
import { type DrbdConf, type DrbdConfResource, parseDrbdDump, sizeToKiB } from "../../drivers/drbd-conf";
import { errorMessage } from "../../errors";
import { drbdModuleVersion, drbdUtilsVersion, parseIpAddr, versionParts } from "../parse";
import type { DoctorFacts } from "../types";
import { type CheckResult, type Evidence, type NodeFacts, READ } from "../types";
import {
  failedLines,
  grep,
  ok,
  plural,
  reachable,
  readOf,
  resourceNodes,
  result,
  unreachableEvidence,
} from "./util";

interface Dumps {
  ok: Map<string, DrbdConf>;
  bad: Map<string, string[]>;
}

function dumps(f: DoctorFacts): Dumps {
  const out: Dumps = { ok: new Map(), bad: new Map() };
  for (const n of reachable(f)) {
    const text = ok(n, READ.drbdDump);
    if (text === null) {
      out.bad.set(n.node, failedLines(readOf(n, READ.drbdDump)));
      continue;
    }
    try {
      out.ok.set(n.node, parseDrbdDump(text));
    } catch (err) {
      out.bad.set(n.node, [`$ drbdadm dump`, `(unreadable: ${errorMessage(err)})`]);
    }
  }
  return out;
}

/** The dump's lines about one resource's option, for evidence (`net { after-sb-0pri ... }`). */
function optionLines(n: NodeFacts, resource: string, re: RegExp): string[] {
  const text = ok(n, READ.drbdDump) ?? "";
  const start = text.search(new RegExp(`^resource\\s+"?${resource}"?\\s*\\{`, "m"));
  const common = text.slice(0, Math.max(0, start));
  const body = start >= 0 ? text.slice(start, text.indexOf("\n}", start) + 2) : "";
  return [...grep(common, re).map((l) => `common: ${l.trim()}`), ...grep(body, re).map((l) => l.trim())];
}

function flagOn(value: string | undefined): boolean {
  return value !== undefined && (value === "" || /^(yes|on|true)$/i.test(value));
}

export function checkDrbd(f: DoctorFacts): CheckResult[] {
  const out: CheckResult[] = [];
  const d = dumps(f);
  const cfgEvidence: Evidence[] = [
    ...[...d.bad].map(([node, lines]) => ({ node, lines })),
    ...unreachableEvidence(f),
  ];
  out.push(
    d.bad.size > 0
      ? result(
          "drbd.config",
          "drbd",
          null,
          "fail",
          `drbdadm cannot read its configuration on ${[...d.bad.keys()].join(", ")}`,
          cfgEvidence,
          "fix the syntax error drbdadm reports in /etc/drbd.conf (or /etc/drbd.d/*.res), then run `drbdadm dump` again",
        )
      : result(
          "drbd.config",
          "drbd",
          null,
          "pass",
          `drbdadm dump reads on ${plural(d.ok.size, "node")}`,
          cfgEvidence,
        ),
  );

  const names = new Set<string>(f.cluster.drbd.map((r) => r.name));
  for (const conf of d.ok.values()) for (const r of conf.resources) names.add(r.name);

  for (const name of names) {
    const holders = resourceNodes(f, name);
    const confs = new Map<string, DrbdConfResource>();
    const missing: Evidence[] = [];
    for (const [node, conf] of d.ok) {
      const r = conf.resources.find((x) => x.name === name);
      if (r) confs.set(node, r);
      else if (holders.includes(node))
        missing.push({ node, lines: [`$ drbdadm dump`, `(no resource ${name})`] });
    }
    const inInventory = f.cluster.drbd.some((r) => r.name === name);
    // 1. Same resource, hosts, minors, disks and addresses everywhere.
    out.push(peersCheck(f, name, confs, missing, inInventory));
    if (confs.size > 1) out.push(identicalCheck(name, confs));
    if (confs.size === 0) continue;
    out.push(...policyChecks(f, name, confs));
    out.push(sizeCheck(f, name, confs));
  }
  out.push(versionCheck(f));
  return out;
}

function hostLine(h: DrbdConfResource["hosts"][number]): string {
  return `on ${h.name} { device ${h.device ?? "?"}; disk ${h.disk ?? "?"}; address ${h.address ?? "?"}; meta-disk ${h.metaDisk ?? "?"}; }`;
}

function peersCheck(
  f: DoctorFacts,
  name: string,
  confs: Map<string, DrbdConfResource>,
  missing: Evidence[],
  inInventory: boolean,
): CheckResult {
  const evidence: Evidence[] = [...missing];
  const problems: string[] = [];
  if (missing.length > 0) problems.push(`not configured on ${missing.map((m) => m.node).join(", ")}`);
  if (!inInventory) problems.push("not in the inventory");
  const inv = f.cluster.drbd.find((r) => r.name === name);
  const shapes = new Map<string, string>();
  for (const [node, r] of confs) {
    const lines = r.hosts.map(hostLine);
    const shape = lines.join("\n");
    shapes.set(node, shape);
    evidence.push({ node, lines: [`resource ${name}`, ...lines] });
    const self = r.hosts.find((h) => h.name === node);
    if (!self)
      problems.push(
        `${node}'s configuration has no \`on ${node}\` section (drbdadm ignores the resource there)`,
      );
    if (inv?.minor !== undefined && self && self.minor !== inv.minor)
      problems.push(`${node} uses minor ${self.minor ?? "?"}, the inventory says ${inv.minor}`);
    // The node's own replication address must be configured on one of its interfaces.
    const n = f.nodes.find((x) => x.node === node);
    const addrs = n ? ok(n, READ.ipAddr) : null;
    const own = self?.address?.replace(/:\d+$/, "");
    if (n && addrs !== null && own && !parseIpAddr(addrs).some((a) => a.address === own))
      problems.push(`${node} has no interface with its DRBD address ${own}`);
  }
  if (new Set(shapes.values()).size > 1) problems.push("the `on` sections differ between the nodes");
  const status = problems.length > 0 ? "fail" : "pass";
  return result(
    "drbd.peers",
    "drbd",
    name,
    status,
    status === "pass"
      ? `${name}: same hosts, minors, disks and addresses on ${plural(confs.size, "node")}`
      : `${name}: ${problems.join("; ")}`,
    [...evidence, ...unreachableEvidence(f)],
    !inInventory
      ? `add \`{ name: ${name} }\` under drbd: in the inventory, or remove the resource from drbd.conf`
      : "make /etc/drbd.conf identical on every node (copy it from the node that is right) and `drbdadm adjust " +
          name +
          "`",
  );
}

/** A short, non-reversible tag telling two secrets apart without showing them. */
function fingerprint(value: string): string {
  return createHash("sha256").update(value).digest("hex").slice(0, 6);
}

/**
 * The option sections must agree: DRBD refuses to connect peers whose net options differ (after-sb-*,
 * allow-two-primaries, protocol), and differing disk, syncer or startup options behave differently
 * after a failover. Handlers are local scripts and may differ.
 */
function identicalCheck(name: string, confs: Map<string, DrbdConfResource>): CheckResult {
  const lines = (r: DrbdConfResource, section: string): string[] =>
    Object.entries(r.sections[section] ?? {})
      .sort(([a], [b]) => compareText(a, b))
      // shared-secret is compared, never shown.
      .map(
        ([k, v]) =>
          `${section} ${k}${v ? ` ${/secret|pass/i.test(k) ? `[redacted ${fingerprint(v)}]` : v}` : ""}`,
      );
  const differing: string[] = [];
  const sections = new Set([...confs.values()].flatMap((r) => Object.keys(r.sections)));
  sections.delete("handlers");
  const evidence: Evidence[] = [...confs].map(([node]) => ({ node, lines: [] as string[] }));
  for (const section of ["net", ...[...sections].filter((x) => x !== "net").sort()]) {
    const per = [...confs].map(
      ([node, r]) =>
        [
          node,
          [...(section === "net" ? [`protocol ${r.protocol ?? "C"}`] : []), ...lines(r, section)],
        ] as const,
    );
    const all = new Set(per.map(([, l]) => l.join("\n")));
    if (all.size <= 1) continue;
    differing.push(section);
    for (const [node, l] of per) {
      const others = per.filter(([n]) => n !== node).flatMap(([, x]) => x);
      const mine = l.filter((x) => !others.includes(x));
      evidence
        .find((e) => e.node === node)
        ?.lines.push(...(mine.length ? mine : [`(${section}: only the settings the others have)`]));
    }
  }
  const status = differing.includes("net") ? "fail" : differing.length ? "warn" : "pass";
  return result(
    "drbd.identical",
    "drbd",
    name,
    status,
    differing.length
      ? `${name}: the ${differing.join(", ")} options differ between the nodes${differing.includes("net") ? " (DRBD refuses to connect peers with incompatible net options)" : ""}`
      : `${name}: the same options on every node`,
    evidence.filter((e) => e.lines.length > 0),
    `make resource ${name}'s option sections identical on every node (copy /etc/drbd.conf from one node), then \`drbdadm adjust ${name}\` on each`,
  );
}

const DISCARDING = new Set([
  "discard-least-changes",
  "discard-younger-primary",
  "discard-older-primary",
  "discard-secondary",
  "discard-local",
  "discard-remote",
  "violently-as0p",
  "consensus",
]);

function policyChecks(f: DoctorFacts, name: string, confs: Map<string, DrbdConfResource>): CheckResult[] {
  const out: CheckResult[] = [];
  const nodes = f.nodes.filter((n) => confs.has(n.node));
  const inv = f.cluster.drbd.find((r) => r.name === name);

  // after-sb-*: automatic split-brain "recovery" that throws one side's writes away.
  {
    const bad: string[] = [];
    const evidence: Evidence[] = [];
    let fixKey = "after-sb-0pri";
    for (const n of nodes) {
      const r = confs.get(n.node) as DrbdConfResource;
      const net = r.sections.net ?? {};
      const handlers = r.sections.handlers ?? {};
      for (const key of ["after-sb-0pri", "after-sb-1pri", "after-sb-2pri"]) {
        const v = net[key];
        if (v === undefined) continue;
        const lost = v === "call-pri-lost-after-sb" && !handlers["pri-lost-after-sb"];
        if (DISCARDING.has(v) || lost) {
          if (!bad.length) fixKey = key;
          bad.push(`${n.node}: ${key} ${v}${lost ? " (no pri-lost-after-sb handler)" : ""}`);
        }
      }
      evidence.push({ node: n.node, lines: optionLines(n, name, /after-sb-|pri-lost-after-sb/) });
    }
    out.push(
      result(
        "drbd.after-sb",
        "drbd",
        name,
        bad.length ? "fail" : "pass",
        bad.length
          ? `${name}: after a split brain DRBD discards one side's data by itself (${bad.join("; ")})`
          : `${name}: no after-sb policy discards data by itself`,
        evidence,
        `in resource ${name} { net { ... } } on every node: \`${fixKey} disconnect;\` (and every other after-sb-* policy that discards: \`disconnect\`), then \`drbdadm adjust ${name}\``,
      ),
    );
  }

  // allow-two-primaries where live migration is expected; fencing when two primaries are allowed.
  {
    const evidence: Evidence[] = [];
    const problems: string[] = [];
    let status: CheckResult["status"] = "pass";
    let fix: string | null = null;
    for (const n of nodes) {
      const r = confs.get(n.node) as DrbdConfResource;
      const net = r.sections.net ?? {};
      const dual = flagOn(net["allow-two-primaries"]);
      const fencing = net.fencing ?? r.sections.disk?.fencing;
      const handlers = r.sections.handlers ?? {};
      const handler = handlers["fence-peer"] ?? handlers["outdate-peer"];
      evidence.push({
        node: n.node,
        lines: optionLines(n, name, /allow-two-primaries|fencing|fence-peer|outdate-peer/),
      });
      if (inv?.allowTwoPrimaries && !dual) {
        status = "fail";
        problems.push(`${n.node}: allow-two-primaries is not set, but the inventory expects live migration`);
        fix = `in resource ${name} { net { ... } } on every node: \`allow-two-primaries;\` (DRBD 9: \`allow-two-primaries yes;\`)`;
      } else if (inv && !inv.allowTwoPrimaries && dual) {
        if (status === "pass") status = "warn";
        problems.push(
          `${n.node}: allow-two-primaries is on, but the inventory does not expect live migration`,
        );
        fix ??= `set \`allowTwoPrimaries: true\` for ${name} in the inventory, or remove \`allow-two-primaries;\` from its net section`;
      }
      if (dual && (fencing !== "resource-and-stonith" || !handler)) {
        if (status === "pass") status = "warn";
        problems.push(
          `${n.node}: two primaries allowed without ${fencing !== "resource-and-stonith" ? "`fencing resource-and-stonith`" : "a fence-peer handler"}`,
        );
        fix ??= `in resource ${name}: \`fencing resource-and-stonith;\` (net section on DRBD 9, disk section on 8.x) and \`handlers { fence-peer "/usr/lib/drbd/crm-fence-peer.sh"; }\` (8.2: outdate-peer)`;
      }
    }
    out.push(
      result(
        "drbd.dual-primary",
        "drbd",
        name,
        status,
        problems.length
          ? `${name}: ${problems.join("; ")}`
          : `${name}: dual-primary as the inventory expects, with fencing`,
        evidence,
        fix,
      ),
    );
  }

  // rr-conflict: anything but disconnect lets a resync run against the wrong side.
  {
    const bad: string[] = [];
    const evidence: Evidence[] = [];
    for (const n of nodes) {
      const v = (confs.get(n.node) as DrbdConfResource).sections.net?.["rr-conflict"];
      evidence.push({
        node: n.node,
        lines: v === undefined ? ["(rr-conflict not set: disconnect)"] : optionLines(n, name, /rr-conflict/),
      });
      if (v !== undefined && v !== "disconnect") bad.push(`${n.node}: rr-conflict ${v}`);
    }
    out.push(
      result(
        "drbd.rr-conflict",
        "drbd",
        name,
        bad.length ? "warn" : "pass",
        bad.length ? `${name}: ${bad.join("; ")}` : `${name}: rr-conflict disconnect`,
        evidence,
        `in resource ${name} { net { ... } }: \`rr-conflict disconnect;\``,
      ),
    );
  }

  // Resync rate against the replication link: above ~30% the resync starves the guests' writes.
  {
    const bad: string[] = [];
    const evidence: Evidence[] = [];
    for (const n of nodes) {
      const r = confs.get(n.node) as DrbdConfResource;
      const raw =
        r.sections.syncer?.rate ?? r.sections.disk?.["c-max-rate"] ?? r.sections.disk?.["resync-rate"];
      const speed = Number.parseInt(ok(n, READ.linkSpeed)?.trim() ?? "", 10);
      const mbit = Number.isFinite(speed) && speed > 0 ? speed : 1000;
      const kib = raw ? sizeToKiB(raw) : null;
      const used = kib !== null ? (kib * 8 * 1.024) / 1000 : null;
      evidence.push({
        node: n.node,
        lines: [
          ...optionLines(n, name, /\brate\b|c-max-rate|resync-rate/),
          `link ${mbit} Mbit/s${Number.isFinite(speed) && speed > 0 ? "" : " (assumed)"}`,
        ],
      });
      if (used !== null && used > mbit * 0.3)
        bad.push(
          `${n.node}: ${raw} ≈ ${Math.round(used)} Mbit/s, ${Math.round((100 * used) / mbit)}% of the ${mbit} Mbit/s link`,
        );
    }
    const budget = Math.floor((1000 * 0.3) / 8);
    out.push(
      result(
        "drbd.sync-rate",
        "drbd",
        name,
        bad.length ? "warn" : "pass",
        bad.length
          ? `${name}: resync rate above 30% of the link (${bad.join("; ")})`
          : `${name}: resync rate within 30% of the link`,
        evidence,
        `in resource ${name}: \`syncer { rate ${budget}M; }\` (DRBD 9: \`disk { c-max-rate ${budget}M; }\`) for a 1 Gbit/s link`,
      ),
    );
  }
  return out;
}

function sizeCheck(f: DoctorFacts, name: string, confs: Map<string, DrbdConfResource>): CheckResult {
  const evidence: Evidence[] = [];
  const sizes = new Map<string, number>();
  for (const n of f.nodes.filter((x) => confs.has(x.node))) {
    const text = ok(n, READ.backingSize(name));
    const disk = confs.get(n.node)?.hosts.find((h) => h.name === n.node)?.disk ?? "?";
    if (text === null) {
      evidence.push({ node: n.node, lines: failedLines(readOf(n, READ.backingSize(name))) });
      continue;
    }
    sizes.set(n.node, Number(text.trim()));
    evidence.push({ node: n.node, lines: [`$ blockdev --getsize64 ${disk}`, text.trim()] });
  }
  const values = [...sizes.values()];
  const differ = values.length > 1 && Math.max(...values) !== Math.min(...values);
  const unread = evidence.length > sizes.size;
  return result(
    "drbd.disk-size",
    "drbd",
    name,
    differ || unread ? "warn" : "pass",
    differ
      ? `${name}: the backing disks differ in size (DRBD uses the smaller; the rest is wasted, and a grown disk is not replicated)`
      : unread
        ? `${name}: the backing disk size could not be read on every node`
        : `${name}: backing disks of the same size`,
    evidence,
    `resize the smaller backing disk (lvextend) to the size of the larger one, then \`drbdadm resize ${name}\``,
  );
}

function versionCheck(f: DoctorFacts): CheckResult {
  const evidence: Evidence[] = [];
  const problems: string[] = [];
  let status: CheckResult["status"] = "pass";
  const nine = f.cluster.toolstack.drbd === 9;
  for (const n of reachable(f)) {
    const proc = ok(n, READ.procDrbd);
    const tools = ok(n, READ.drbdVersion);
    const kernel = proc ? drbdModuleVersion(proc) : null;
    const utils = tools ? drbdUtilsVersion(tools) : null;
    evidence.push({
      node: n.node,
      lines: [
        proc ? (proc.split("\n")[0] ?? "") : failedLines(readOf(n, READ.procDrbd)).join(" "),
        tools
          ? (grep(tools, /^DRBDADM_VERSION=|Version:/)[0] ?? "(no version line)")
          : failedLines(readOf(n, READ.drbdVersion)).join(" "),
      ],
    });
    if (!kernel || !utils) {
      if (status === "pass") status = "warn";
      problems.push(`${n.node}: ${!kernel ? "module" : "drbd-utils"} version unknown`);
      continue;
    }
    const [km = 0, kn = 0] = versionParts(kernel);
    const [um = 0, un = 0] = versionParts(utils);
    // drbd-utils 9 drives 8.4 and 9 modules; otherwise the tools must match the module's major.minor.
    const compatible =
      nine || um >= 9 ? um >= 9 && (km >= 9 || (km === 8 && kn >= 4)) : km === um && kn === un;
    if (!compatible) {
      status = "fail";
      problems.push(`${n.node}: module ${kernel}, drbd-utils ${utils}`);
    } else if (!nine && um < 9 && kernel !== utils) {
      if (status === "pass") status = "warn";
      problems.push(`${n.node}: module ${kernel}, drbd-utils ${utils} (same series, different release)`);
    }
  }
  const kernels = new Set(evidence.map((e) => e.lines[0]));
  if (kernels.size > 1 && status === "pass") {
    status = "warn";
    problems.push("the nodes run different DRBD module versions");
  }
  return result(
    "drbd.version",
    "drbd",
    null,
    status,
    problems.length ? problems.join("; ") : "the DRBD module and drbd-utils match on every node",
    [...evidence, ...unreachableEvidence(f)],
    "install the drbd-utils release that matches the loaded module (or reboot into the module the tools belong to) on every node",
  );
}
