/**
 * Start-up and HA: xendomains must not start a guest the cluster manager manages, nor one guest on two
 * nodes; heartbeat's ha.cf, haresources and authkeys; Pacemaker's crm_verify, fencing and two-node
 * quorum. The configuration files are parsed with the drivers' own parsers.
 */
import { fenceDoctorFor } from "../../drivers/fence";
import type { GuestRef } from "../../drivers/guest-match";
import { haresourcesToHaConfig, parseHaresources } from "../../drivers/heartbeat/haresources";
import { cibToHaConfig, parseCib } from "../../drivers/pacemaker/cib";
import { child, childrenNamed, parseXml } from "../../drivers/pacemaker/xml";
import { parseLsLong, parseXendomainsDefaults, startupConfig } from "../../drivers/xendomains/parse";
import { errorMessage } from "../../errors";
import type { HaConfig, StartupConfig } from "../../model";
import { haSeconds, parseCorosyncConf, parseHaCf } from "../parse";
import { type CheckResult, type DoctorFacts, type Evidence, type NodeFacts, READ } from "../types";
import { failedLines, grep, ok, reachable, readOf, result, unreachableEvidence } from "./util";

function guestRefs(f: DoctorFacts): GuestRef[] {
  return f.cluster.guests.map((g) => ({ name: g.name, configFile: g.configFile }));
}

/** The cluster manager's guests, from any node that could be read (haresources or the CIB). */
function managed(f: DoctorFacts): { config: HaConfig | null; from: string | null } {
  for (const n of reachable(f)) {
    try {
      if (f.cluster.toolstack.ha === "heartbeat") {
        const text = ok(n, READ.haresources);
        if (text !== null)
          return { config: haresourcesToHaConfig(parseHaresources(text), guestRefs(f)), from: n.node };
      } else if (f.cluster.toolstack.ha === "pacemaker") {
        const text = ok(n, READ.cib);
        if (text !== null)
          return { config: cibToHaConfig(parseCib(text), guestRefs(f), "cibadmin --query"), from: n.node };
      }
    } catch {
      // Unreadable here: another node's copy may do; the heartbeat/pacemaker checks report it.
    }
  }
  return { config: null, from: null };
}

function startupOf(f: DoctorFacts, n: NodeFacts): StartupConfig | null {
  const settings = readOf(n, READ.xendomains);
  const ls = readOf(n, READ.autoDir);
  if (!settings || !ls) return null;
  try {
    const values = settings.exitCode === 0 ? parseXendomainsDefaults(settings.stdout) : {};
    const entries = ls.exitCode === 0 ? parseLsLong(ls.stdout) : [];
    return startupConfig(
      settings.exitCode === 0 ? (settings.argv.at(-1) ?? null) : null,
      values,
      entries,
      guestRefs(f),
    );
  } catch {
    return null;
  }
}

export function checkStartup(f: DoctorFacts): CheckResult[] {
  const ha = managed(f);
  const managedGuests = new Set((ha.config?.guests ?? []).map((g) => g.guest));
  const evidence: Evidence[] = [];
  const problems: string[] = [];
  const fixes: string[] = [];
  const autoOn = new Map<string, string[]>();
  for (const n of reachable(f)) {
    const s = startupOf(f, n);
    if (!s) {
      problems.push(`${n.node}: xendomains' settings cannot be read`);
      evidence.push({
        node: n.node,
        lines: [...failedLines(readOf(n, READ.xendomains)), ...failedLines(readOf(n, READ.autoDir))],
      });
      continue;
    }
    const lines = [
      ...grep(readOf(n, READ.xendomains)?.stdout ?? "", /^\s*XENDOMAINS_(AUTO|RESTORE|SAVE)=/),
      ...s.auto.map((e) => `${s.autoDir}/${e.name}${e.target ? ` -> ${e.target}` : ""}`),
    ];
    evidence.push({ node: n.node, lines: lines.length ? lines : ["(nothing in /etc/xen/auto)"] });
    for (const e of s.auto) {
      if (!e.guest) continue;
      autoOn.set(e.guest, [...(autoOn.get(e.guest) ?? []), n.node]);
      if (managedGuests.has(e.guest)) {
        problems.push(
          `${n.node}: xendomains starts ${e.guest} at boot, behind ${f.cluster.toolstack.ha}'s back`,
        );
        fixes.push(`on ${n.node}: \`rm ${s.autoDir}/${e.name}\``);
      }
    }
    if (s.restore === true && (s.save ?? "") !== "" && managedGuests.size > 0) {
      problems.push(`${n.node}: XENDOMAINS_RESTORE=true brings saved guests back at boot, managed ones too`);
      fixes.push(
        `in ${s.configFile ?? "/etc/default/xendomains"} on ${n.node}: \`XENDOMAINS_RESTORE=false\` and \`XENDOMAINS_SAVE=""\``,
      );
    }
  }
  for (const [guest, nodes] of autoOn)
    if (nodes.length > 1) {
      problems.push(
        `${guest} is auto-started on ${nodes.join(" and ")}: two writers on one disk after a reboot`,
      );
      fixes.push(`remove ${guest} from /etc/xen/auto on every node but one`);
    }
  return [
    result(
      "startup.xendomains",
      "startup",
      null,
      problems.length ? "fail" : "pass",
      problems.length
        ? problems.join("; ")
        : `xendomains starts no managed guest${managedGuests.size ? ` (${[...managedGuests].join(", ")} managed by ${f.cluster.toolstack.ha})` : ""} and no guest on two nodes`,
      [...evidence, ...unreachableEvidence(f)],
      [...new Set(fixes)].join("; "),
    ),
  ];
}

export function checkHeartbeat(f: DoctorFacts): CheckResult[] {
  if (f.cluster.toolstack.ha !== "heartbeat") return [];
  const out: CheckResult[] = [];
  const nodes = reachable(f);
  const names = f.cluster.nodes.map((n) => n.name);

  // ha.cf: node lines vs uname -n, timings, auto_failback; stonith_host covering every node.
  {
    const evidence: Evidence[] = [];
    const problems: string[] = [];
    let status: CheckResult["status"] = "pass";
    let fix: string | null = null;
    const bump = (s: "warn" | "fail") => {
      if (s === "fail" || status === "pass") status = s;
    };
    const stonithEvidence: Evidence[] = [];
    const uncovered = new Set<string>();
    for (const n of nodes) {
      const text = ok(n, READ.haCf);
      if (text === null) {
        bump("fail");
        problems.push(`${n.node}: /etc/ha.d/ha.cf cannot be read`);
        evidence.push({ node: n.node, lines: failedLines(readOf(n, READ.haCf)) });
        continue;
      }
      const d = parseHaCf(text);
      const get = (k: string) => d.find((x) => x.key === k)?.value;
      const declared = d.filter((x) => x.key === "node").flatMap((x) => x.value.split(/\s+/));
      const uname = ok(n, READ.uname)?.trim();
      evidence.push({
        node: n.node,
        lines: [
          ...grep(text, /^\s*(node|deadtime|warntime|initdead|keepalive|auto_failback)\b/),
          `uname -n: ${uname ?? "?"}`,
        ],
      });
      if (uname && !declared.includes(uname)) {
        bump("fail");
        problems.push(`${n.node}: its name (uname -n: ${uname}) is not a \`node\` line`);
        fix ??= `in /etc/ha.d/ha.cf on every node: \`node ${uname}\``;
      }
      for (const name of names)
        if (!declared.includes(name)) {
          bump("fail");
          problems.push(`${n.node}: ha.cf has no \`node ${name}\``);
          fix ??= `in /etc/ha.d/ha.cf on ${n.node}: \`node ${name}\``;
        }
      const dead = haSeconds(get("deadtime") ?? "30");
      const warn = haSeconds(get("warntime") ?? "") ?? null;
      const init = haSeconds(get("initdead") ?? "") ?? null;
      const keep = haSeconds(get("keepalive") ?? "2") ?? 2;
      if (dead !== null && dead < keep * 2) {
        bump("fail");
        problems.push(
          `${n.node}: deadtime ${dead}s is less than twice keepalive ${keep}s (false deaths, STONITH of a healthy peer)`,
        );
        fix ??= `in /etc/ha.d/ha.cf: \`deadtime ${Math.max(30, keep * 10)}\``;
      }
      if (warn !== null && dead !== null && warn >= dead) {
        bump("warn");
        problems.push(`${n.node}: warntime ${warn}s is not below deadtime ${dead}s`);
        fix ??= `in /etc/ha.d/ha.cf: \`warntime ${Math.max(1, Math.floor(dead / 2))}\``;
      }
      if (dead !== null && (init === null || init < dead * 2)) {
        bump("warn");
        problems.push(
          `${n.node}: initdead ${init ?? "unset"} is under twice deadtime (a peer still booting is declared dead)`,
        );
        fix ??= `in /etc/ha.d/ha.cf: \`initdead ${dead * 4}\``;
      }
      if (get("auto_failback") === undefined) {
        bump("warn");
        problems.push(`${n.node}: auto_failback not set (heartbeat's default is legacy)`);
        fix ??= "in /etc/ha.d/ha.cf: `auto_failback off` (or on, as intended)";
      }
      // stonith_host FROM TYPE PARAMS...: FROM (or *) can reset the nodes its parameters name.
      const lines = d.filter((x) => x.key === "stonith_host" || x.key === "stonith");
      stonithEvidence.push({
        node: n.node,
        lines: lines.length
          ? lines.map((x) => `${x.key} ${shownStonithParams(x.key, x.value, names)}`)
          : ["(no stonith_host line)"],
      });
      for (const target of names) {
        const covered = lines.some((x) => {
          const [from, , ...params] = x.value.split(/\s+/);
          return x.key === "stonith" || ((from === "*" || from !== target) && params.includes(target));
        });
        if (!covered) uncovered.add(`${target} (per ${n.node}'s ha.cf)`);
      }
    }
    out.push(
      result(
        "heartbeat.ha-cf",
        "heartbeat",
        null,
        status,
        problems.length
          ? problems.join("; ")
          : "ha.cf names every node as uname -n does; deadtime, warntime, initdead sane",
        [...evidence, ...unreachableEvidence(f)],
        fix,
      ),
    );
    const device = fenceDoctorFor(f.cluster.toolstack.fence)?.haCfDevice ?? "TYPE";
    out.push(
      result(
        "heartbeat.stonith-hosts",
        "heartbeat",
        null,
        uncovered.size ? "fail" : "pass",
        uncovered.size
          ? `no stonith_host line can reset ${[...uncovered].join(", ")}: heartbeat would take over without fencing`
          : "stonith_host lines cover every node",
        stonithEvidence,
        `in /etc/ha.d/ha.cf on every node, one line per fencing node: \`stonith_host ${names[0] ?? "NODE"} ${device} ${names.slice(1).join(" ") || "PEER"}\``,
      ),
    );
  }

  // haresources identical and readable.
  {
    const evidence: Evidence[] = [];
    const problems: string[] = [];
    const shapes = new Set<string>();
    for (const n of nodes) {
      const text = ok(n, READ.haresources);
      if (text === null) {
        problems.push(`${n.node}: /etc/ha.d/haresources cannot be read`);
        evidence.push({ node: n.node, lines: failedLines(readOf(n, READ.haresources)) });
        continue;
      }
      try {
        const groups = parseHaresources(text);
        const shape = groups.map((g) => `${g.node} ${g.resources.map((r) => r.text).join(" ")}`);
        shapes.add(shape.join("\n"));
        evidence.push({ node: n.node, lines: shape.length ? shape : ["(no resource groups)"] });
      } catch (err) {
        problems.push(`${n.node}: haresources unreadable (${errorMessage(err)})`);
        evidence.push({ node: n.node, lines: [`(${errorMessage(err)})`] });
      }
    }
    if (shapes.size > 1)
      problems.push("haresources differs between the nodes (heartbeat requires them identical)");
    out.push(
      result(
        "heartbeat.haresources",
        "heartbeat",
        null,
        problems.length ? "fail" : "pass",
        problems.length ? problems.join("; ") : "haresources identical on every node",
        [...evidence, ...unreachableEvidence(f)],
        "copy /etc/ha.d/haresources from the node that is right to the others (it must be identical everywhere)",
      ),
    );
  }

  // authkeys mode 600 (heartbeat refuses to start otherwise).
  {
    const evidence: Evidence[] = [];
    const bad: string[] = [];
    for (const n of nodes) {
      const mode = ok(n, READ.authkeysMode)?.trim();
      evidence.push({
        node: n.node,
        lines: mode ? [`$ stat -c %a /etc/ha.d/authkeys`, mode] : failedLines(readOf(n, READ.authkeysMode)),
      });
      if (mode !== "600") bad.push(`${n.node}: ${mode ?? "unreadable"}`);
    }
    out.push(
      result(
        "heartbeat.authkeys",
        "heartbeat",
        null,
        bad.length ? "fail" : "pass",
        bad.length
          ? `/etc/ha.d/authkeys is not mode 600 (${bad.join("; ")}): heartbeat will not start`
          : "authkeys mode 600 on every node",
        evidence,
        "`chmod 600 /etc/ha.d/authkeys` on every node",
      ),
    );
  }
  return out;
}

/**
 * A stonith_host / stonith line as the report shows it: heartbeat takes the device's login and password
 * as plain parameters there (`stonith_host * baytech 10.0.0.3 mylogin mysecretpassword`), and the
 * report goes to Slack. Kept: the fencing host and type, node names and absolute paths (a serial
 * device, a `stonith` config file); every other parameter is replaced.
 */
function shownStonithParams(key: string, value: string, nodes: readonly string[]): string {
  const words = value.split(/\s+/).filter((w) => w !== "");
  const head = key === "stonith_host" ? 2 : 1;
  return words
    .map((w, i) => (i < head || nodes.includes(w) || /^\/[\w./-]*$/.test(w) ? w : "[redacted]"))
    .join(" ");
}

function cibProperties(text: string): Record<string, string> {
  const root = parseXml("cib-xml", text);
  const config = root.name === "cib" ? child(root, "configuration") : root;
  const out: Record<string, string> = {};
  for (const set of childrenNamed(config ? child(config, "crm_config") : undefined, "cluster_property_set"))
    for (const nv of childrenNamed(set, "nvpair"))
      if (nv.attrs.name && !(nv.attrs.name in out)) out[nv.attrs.name] = nv.attrs.value ?? "";
  return out;
}

export function checkPacemaker(f: DoctorFacts): CheckResult[] {
  if (f.cluster.toolstack.ha !== "pacemaker") return [];
  const out: CheckResult[] = [];
  const nodes = reachable(f);
  const names = f.cluster.nodes.map((n) => n.name);
  {
    const evidence: Evidence[] = [];
    const bad: string[] = [];
    for (const n of nodes) {
      const r = readOf(n, READ.crmVerify);
      const text = `${r?.stdout ?? ""}${r?.stderr ?? ""}`.trim();
      evidence.push({
        node: n.node,
        lines: [
          "$ crm_verify -L",
          ...(text ? text.split("\n").slice(0, 10) : ["(no output)"]),
          `(exit ${r?.exitCode ?? "none"})`,
        ],
      });
      if (r?.exitCode !== 0) bad.push(n.node);
    }
    out.push(
      result(
        "pacemaker.crm-verify",
        "pacemaker",
        null,
        bad.length ? "fail" : "pass",
        bad.length ? `crm_verify -L reports errors on ${bad.join(", ")}` : "crm_verify -L finds no error",
        evidence,
        "fix what `crm_verify -L -V` lists (it names the resource or property)",
      ),
    );
  }
  {
    const evidence: Evidence[] = [];
    const problems: string[] = [];
    let done = false;
    for (const n of nodes) {
      const text = ok(n, READ.cib);
      if (text === null || done) continue;
      done = true;
      try {
        const props = cibProperties(text);
        const cib = parseCib(text);
        const devices = cib.primitives.filter((p) => p.agent.startsWith("stonith:"));
        evidence.push({
          node: n.node,
          lines: [
            `stonith-enabled=${props["stonith-enabled"] ?? "(default true)"}`,
            ...devices.map((d) =>
              `${d.id} (${d.agent}) ${d.params.pcmk_host_list ?? d.params.pcmk_host_map ?? d.params.hostlist ?? ""}`.trim(),
            ),
          ],
        });
        if (/^(false|no|0|off)$/i.test(props["stonith-enabled"] ?? "true"))
          problems.push("stonith-enabled is false: Pacemaker recovers without fencing");
        for (const name of names) {
          const covers = devices.some((d) => {
            const list = `${d.params.pcmk_host_list ?? ""} ${d.params.pcmk_host_map ?? ""} ${d.params.hostlist ?? ""} ${d.params.plug ?? ""}`;
            return (
              list.split(/[\s,;:]+/).includes(name) ||
              (!d.params.pcmk_host_list &&
                !d.params.pcmk_host_map &&
                d.params.pcmk_host_check === "dynamic-list")
            );
          });
          if (!covers) problems.push(`no fence device covers ${name}`);
        }
      } catch (err) {
        problems.push(`${n.node}: the CIB cannot be read (${errorMessage(err)})`);
      }
    }
    if (!done) problems.push("the CIB could not be read on any node");
    out.push(
      result(
        "pacemaker.stonith",
        "pacemaker",
        null,
        problems.length ? "fail" : "pass",
        problems.length ? problems.join("; ") : "stonith enabled, a fence device for every node",
        evidence,
        `\`crm_attribute --type crm_config --name stonith-enabled --update true\` and one stonith primitive per node with \`pcmk_host_list=NODE\``,
      ),
    );
  }
  {
    const evidence: Evidence[] = [];
    const problems: string[] = [];
    let status: CheckResult["status"] = "pass";
    for (const n of nodes) {
      const text = ok(n, READ.corosync);
      if (text === null) {
        evidence.push({ node: n.node, lines: failedLines(readOf(n, READ.corosync)) });
        problems.push(`${n.node}: corosync.conf cannot be read`);
        status = "fail";
        continue;
      }
      const c = parseCorosyncConf(text);
      evidence.push({
        node: n.node,
        lines: grep(text, /^\s*(two_node|wait_for_all|expected_votes|provider)\s*:/),
      });
      if (names.length === 2 && c["quorum.two_node"] !== "1") {
        status = "fail";
        problems.push(`${n.node}: two_node is not set: losing one node loses quorum`);
      }
      if (c["quorum.wait_for_all"] === "0") {
        if (status === "pass") status = "warn";
        problems.push(
          `${n.node}: wait_for_all: 0 (a node booting alone may fence its peer and start everything)`,
        );
      }
    }
    out.push(
      result(
        "pacemaker.quorum",
        "pacemaker",
        null,
        status,
        problems.length ? problems.join("; ") : "two-node quorum with wait_for_all",
        evidence,
        "in /etc/corosync/corosync.conf, quorum { ... }: `two_node: 1` (wait_for_all follows; do not set `wait_for_all: 0`), then `corosync-cfgtool -R`",
      ),
    );
  }
  return out;
}
