/**
 * Xen: the relocation server (xm), the network script, every guest's domain config (present and
 * identical wherever the guest may run, its disks on the inventory's DRBD resources, its bridges
 * present), and compatible Xen versions.
 */
import { parseXenInfo } from "../../drivers/xen/parse-info";
import { errorMessage } from "../../errors";
import {
  diskTarget,
  parseBridges,
  parseDomainConfig,
  parseHosts,
  parseIpAddr,
  parseSxpConfig,
  vifBridges,
} from "../parse";
import { type CheckResult, type DoctorFacts, type Evidence, READ } from "../types";
import {
  failedLines,
  grep,
  guestNodes,
  nodeFacts,
  ok,
  reachable,
  readOf,
  result,
  unreachableEvidence,
} from "./util";

const STOCK_SCRIPTS = new Set(["network-bridge", "network-route", "network-nat", "/bin/true", "true"]);

export function checkXen(f: DoctorFacts): CheckResult[] {
  const out: CheckResult[] = [];
  if (f.cluster.toolstack.hypervisor === "xm") out.push(relocationCheck(f), networkScriptCheck(f));
  else out.push(xlConfCheck(f));
  for (const g of f.cluster.guests) out.push(...guestChecks(f, g.name));
  out.push(versionCheck(f));
  return out;
}

function sxp(f: DoctorFacts, node: string) {
  const n = nodeFacts(f, node);
  const text = n ? ok(n, READ.xenConfig) : null;
  return text === null ? null : parseSxpConfig(text);
}

function relocationCheck(f: DoctorFacts): CheckResult {
  const evidence: Evidence[] = [];
  const problems: string[] = [];
  let fix: string | null = null;
  const ports = new Set<string>();
  for (const n of reachable(f)) {
    const text = ok(n, READ.xenConfig);
    if (text === null) {
      problems.push(`${n.node}: /etc/xen/xend-config.sxp cannot be read`);
      evidence.push({ node: n.node, lines: failedLines(readOf(n, READ.xenConfig)) });
      continue;
    }
    const c = parseSxpConfig(text);
    evidence.push({ node: n.node, lines: grep(text, /^\s*\(xend-relocation-/) });
    if (c["xend-relocation-server"]?.value !== "yes") {
      problems.push(`${n.node}: relocation server off`);
      fix ??= "in /etc/xen/xend-config.sxp on every node: `(xend-relocation-server yes)`, then restart xend";
    }
    const port = c["xend-relocation-port"]?.value ?? "8002";
    ports.add(port);
    // '' listens everywhere; otherwise it must be one of this node's addresses or interfaces.
    const address = (c["xend-relocation-address"]?.value ?? "").trim();
    const addrs = ok(n, READ.ipAddr);
    if (address && addrs !== null) {
      const local = parseIpAddr(addrs);
      if (!local.some((a) => a.address === address || a.iface === address)) {
        problems.push(
          `${n.node}: xend-relocation-address ${address} is not one of its addresses (xend cannot listen there)`,
        );
        fix ??= `in /etc/xen/xend-config.sxp on ${n.node}: \`(xend-relocation-address '')\` (or one of its own addresses)`;
      }
    }
    const allow = (c["xend-relocation-hosts-allow"]?.value ?? "").trim();
    const patterns = allow.split(/\s+/).filter(Boolean);
    if (patterns.length === 0) {
      problems.push(`${n.node}: xend-relocation-hosts-allow is empty (any host may send it a domain)`);
      fix ??= `in /etc/xen/xend-config.sxp: \`(xend-relocation-hosts-allow '^localhost$ ${f.cluster.nodes.map((x) => `^${x.name}$`).join(" ")}')\``;
      continue;
    }
    const regexes = patterns.flatMap((p) => {
      try {
        return [new RegExp(p)];
      } catch {
        problems.push(`${n.node}: "${p}" in xend-relocation-hosts-allow is not a regular expression`);
        return [];
      }
    });
    // A peer is accepted when its name or one of its addresses matches (xend checks both).
    const hosts = parseHosts(ok(n, READ.hosts) ?? "");
    for (const peer of f.cluster.nodes.filter((x) => x.name !== n.node)) {
      const names = [peer.name, ...(hosts.get(peer.name.toLowerCase()) ?? []), peer.host];
      if (!names.some((name) => regexes.some((re) => re.test(name)))) {
        problems.push(`${n.node} does not accept migrations from ${peer.name}`);
        fix ??= `in /etc/xen/xend-config.sxp on ${n.node}: add \`^${peer.name}$\` to (xend-relocation-hosts-allow '...')`;
      }
    }
  }
  if (ports.size > 1) {
    problems.push(`the relocation ports differ (${[...ports].join(", ")})`);
    fix ??= "use the same `(xend-relocation-port 8002)` on every node";
  }
  return result(
    "xen.relocation",
    "xen",
    null,
    problems.length ? "fail" : "pass",
    problems.length ? problems.join("; ") : "relocation server on, same port, every peer allowed",
    [...evidence, ...unreachableEvidence(f)],
    fix,
  );
}

function networkScriptCheck(f: DoctorFacts): CheckResult {
  const evidence: Evidence[] = [];
  const problems: string[] = [];
  const scripts = new Set<string>();
  for (const n of reachable(f)) {
    const c = sxp(f, n.node);
    if (!c) continue;
    const script = (c["network-script"]?.value ?? "network-bridge").split(/\s+/)[0] as string;
    scripts.add(script);
    const lines = grep(ok(n, READ.xenConfig) ?? "", /^\s*\(network-script/);
    const test = readOf(n, READ.networkScript);
    if (!STOCK_SCRIPTS.has(script)) {
      lines.push(`$ ${test?.argv.join(" ") ?? "test -e"} → ${test?.exitCode === 0 ? "present" : "missing"}`);
      if (test?.exitCode !== 0) problems.push(`${n.node}: network script ${script} is missing`);
    }
    evidence.push({ node: n.node, lines });
  }
  if (scripts.size > 1) problems.push(`the nodes use different network scripts (${[...scripts].join(", ")})`);
  return result(
    "xen.network-script",
    "xen",
    null,
    problems.length ? "fail" : "pass",
    problems.length
      ? problems.join("; ")
      : `network script ${[...scripts].join(", ") || "network-bridge"} on every node`,
    evidence,
    `copy the same network script to /etc/xen/scripts/ on every node and name it in \`(network-script ${[...scripts][0] ?? "network-bridge"})\``,
  );
}

/** xl.conf's settings (comments and blanks dropped). */
function xlSettings(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.replace(/#.*$/, "").trim())
    .filter(Boolean)
    .sort();
}

/** The default bridge a vif without `bridge=` joins: xl.conf's vif.default.bridge, else xenbr0. */
function defaultBridge(f: DoctorFacts, node: string): string {
  if (f.cluster.toolstack.hypervisor !== "xl") return "xenbr0";
  const n = nodeFacts(f, node);
  const text = n ? ok(n, READ.xenConfig) : null;
  const m = text ? /^\s*vif\.default\.bridge\s*=\s*"?([^"\s#]+)"?/m.exec(text) : null;
  return m?.[1] ?? "xenbr0";
}

/** xl migrates over SSH (no relocation server); its global settings should match on every node. */
function xlConfCheck(f: DoctorFacts): CheckResult {
  const evidence: Evidence[] = [];
  const shapes = new Set<string>();
  for (const n of reachable(f)) {
    const text = ok(n, READ.xenConfig);
    if (text === null) {
      // A missing xl.conf is allowed: xl's built-in defaults apply.
      const r = readOf(n, READ.xenConfig);
      const missing = r?.exitCode === 1 && /No such file/.test(r.stderr);
      evidence.push({ node: n.node, lines: missing ? ["(no /etc/xen/xl.conf: defaults)"] : failedLines(r) });
      shapes.add(missing ? "" : `unreadable ${n.node}`);
      continue;
    }
    const settings = xlSettings(text);
    shapes.add(settings.join("\n"));
    evidence.push({ node: n.node, lines: settings.length ? settings : ["(only comments: defaults)"] });
  }
  return result(
    "xen.xl-conf",
    "xen",
    null,
    shapes.size > 1 ? "warn" : "pass",
    shapes.size > 1
      ? "/etc/xen/xl.conf differs between the nodes (a guest may get another default bridge or ballooning after a failover)"
      : "/etc/xen/xl.conf alike on every node (xl migrates over SSH: no relocation server)",
    evidence,
    "copy /etc/xen/xl.conf from one node to the others",
  );
}

function guestChecks(f: DoctorFacts, guest: string): CheckResult[] {
  const g = f.cluster.guests.find((x) => x.name === guest);
  const path = g?.configFile ?? `/etc/xen/${guest}${f.cluster.toolstack.hypervisor === "xl" ? ".cfg" : ""}`;
  const nodes = guestNodes(f, guest)
    .map((n) => nodeFacts(f, n))
    .filter((n) => n?.reachable) as NonNullable<ReturnType<typeof nodeFacts>>[];
  const out: CheckResult[] = [];

  // Present and identical on every node that may run it.
  {
    const evidence: Evidence[] = [];
    const missing: string[] = [];
    const sums = new Map<string, string>();
    for (const n of nodes) {
      const sha = ok(n, READ.guestSha(guest));
      if (sha === null) {
        missing.push(n.node);
        evidence.push({ node: n.node, lines: failedLines(readOf(n, READ.guestSha(guest))) });
      } else {
        sums.set(n.node, sha.split(/\s+/)[0] ?? "");
        evidence.push({ node: n.node, lines: [sha.trim()] });
      }
    }
    const differ = new Set(sums.values()).size > 1;
    out.push(
      result(
        "xen.guest-config",
        "xen",
        guest,
        missing.length || differ ? "fail" : "pass",
        missing.length
          ? `${guest}: ${path} is missing on ${missing.join(", ")} (the guest cannot start there after a failover)`
          : differ
            ? `${guest}: ${path} differs between the nodes (a failover starts a different guest)`
            : `${guest}: ${path} identical on ${nodes.length} node(s)`,
        evidence,
        `copy ${path} from the node it is right on to ${missing.length ? missing.join(", ") : "the others"} (e.g. \`scp ${path} ${missing[0] ?? "PEER"}:${path}\`)`,
      ),
    );
  }

  // Disks on the inventory's DRBD resources; bridges present.
  const diskEvidence: Evidence[] = [];
  const diskProblems: string[] = [];
  const bridgeEvidence: Evidence[] = [];
  const bridgeProblems: string[] = [];
  for (const n of nodes) {
    const text = ok(n, READ.guestConfig(guest));
    if (text === null) continue;
    let cfg: Record<string, string | string[]>;
    try {
      cfg = parseDomainConfig(text);
    } catch (err) {
      diskProblems.push(`${n.node}: ${path} unreadable (${errorMessage(err)})`);
      continue;
    }
    const disks = Array.isArray(cfg.disk) ? cfg.disk : [];
    diskEvidence.push({ node: n.node, lines: grep(text, /^\s*disk\s*=/) });
    const wanted = new Set(g?.drbd ?? []);
    const named = new Set<string>();
    for (const spec of disks) {
      const target = diskTarget(spec);
      const drbdName = /^drbd:(.+)$/.exec(target)?.[1] ?? /^\/dev\/drbd\/by-res\/([^/]+)/.exec(target)?.[1];
      const minor = /^(?:phy:)?\/dev\/drbd(\d+)$/.exec(target)?.[1];
      const res =
        drbdName ??
        (minor !== undefined
          ? f.cluster.drbd.find((r) => r.minor === Number(minor) || r.device === `/dev/drbd${minor}`)?.name
          : undefined);
      if (res) named.add(res);
      else if (!/^(file:|tap:|iso|.*cdrom)/.test(target) && (g?.drbd.length ?? 0) > 0)
        diskProblems.push(`${n.node}: disk '${spec}' is not on DRBD (its writes are not replicated)`);
    }
    for (const r of wanted)
      if (!named.has(r)) diskProblems.push(`${n.node}: no disk names DRBD resource ${r}`);
    for (const r of named)
      if (!wanted.has(r))
        diskProblems.push(
          `${n.node}: disk on DRBD resource ${r}, which the inventory does not give ${guest}`,
        );

    const vifs = Array.isArray(cfg.vif) ? cfg.vif : [];
    const bridgesText = ok(n, READ.bridges);
    const present = bridgesText !== null ? parseBridges(bridgesText) : null;
    const used = vifBridges(vifs, defaultBridge(f, n.node));
    bridgeEvidence.push({
      node: n.node,
      lines: [...grep(text, /^\s*vif\s*=/), `bridges: ${present ? present.join(" ") : "(unreadable)"}`],
    });
    for (const b of used) {
      if (present === null) bridgeProblems.push(`${n.node}: bridges cannot be read`);
      else if (!present.includes(b)) bridgeProblems.push(`${n.node}: bridge ${b} does not exist`);
    }
  }
  out.push(
    result(
      "xen.guest-disks",
      "xen",
      guest,
      diskProblems.length ? "fail" : "pass",
      diskProblems.length
        ? `${guest}: ${diskProblems.join("; ")}`
        : `${guest}: disks on DRBD ${(g?.drbd ?? []).join(", ") || "(none declared)"}`,
      diskEvidence,
      `in ${path}: \`disk = [ ${(g?.drbd ?? ["RESOURCE"]).map((r, k) => `'drbd:${r},xvd${String.fromCharCode(97 + k)},w'`).join(", ")} ]\` (or phy:/dev/drbdN with the resource's minor)`,
    ),
  );
  out.push(
    result(
      "xen.bridges",
      "xen",
      guest,
      bridgeProblems.length ? "fail" : "pass",
      bridgeProblems.length
        ? `${guest}: ${[...new Set(bridgeProblems)].join("; ")}`
        : `${guest}: its bridges exist on every node that may run it`,
      bridgeEvidence,
      `create the bridge on that node with the network script (xend-config.sxp network-script) or change \`bridge=\` in ${path} to an existing one`,
    ),
  );
  return out;
}

function versionCheck(f: DoctorFacts): CheckResult {
  const evidence: Evidence[] = [];
  const versions = new Map<string, string>();
  for (const n of reachable(f)) {
    const text = ok(n, READ.xenInfo);
    if (text === null) {
      evidence.push({ node: n.node, lines: failedLines(readOf(n, READ.xenInfo)) });
      continue;
    }
    try {
      const info = parseXenInfo(text);
      const v = `${info.raw.xen_major ?? "?"}.${info.raw.xen_minor ?? "?"}${info.raw.xen_extra ?? ""}`;
      versions.set(n.node, v);
      evidence.push({ node: n.node, lines: grep(text, /^xen_(major|minor|extra)\s*:/) });
    } catch (err) {
      evidence.push({ node: n.node, lines: [`(unreadable: ${errorMessage(err)})`] });
    }
  }
  const majors = new Set([...versions.values()].map((v) => v.split(".").slice(0, 2).join(".")));
  const all = new Set(versions.values());
  const status =
    majors.size > 1 ? "fail" : all.size > 1 || versions.size < reachable(f).length ? "warn" : "pass";
  return result(
    "xen.version",
    "xen",
    null,
    status,
    majors.size > 1
      ? `different Xen versions (${[...versions].map(([n, v]) => `${n} ${v}`).join(", ")}): live migration between them is not supported`
      : all.size > 1
        ? `Xen releases differ (${[...versions].map(([n, v]) => `${n} ${v}`).join(", ")})`
        : versions.size < reachable(f).length
          ? "the Xen version could not be read on every node"
          : `Xen ${[...all][0] ?? "?"} on every node`,
    [...evidence, ...unreachableEvidence(f)],
    "install the same Xen release on every node",
  );
}
