/**
 * `xm list`, `xl list`, `xm info`, `xl info` in the exact layouts of the real tools:
 *   xm (Xen 3.0.3, tools/python/xen/xm/main.py xm_brief_list / xm_info):
 *     header '%-40s %3s %8s %5s %5s %9s' % ('Name','ID','Mem(MiB)','VCPUs','State','Time(s)')
 *     row    "%(name)-40s %(domid)3d %(mem)8d %(vcpus)5d %(state)5s %(cpu_time)8.1f", sorted by name
 *     info   "%-23s:" % key, value  (print's comma adds the space)
 *   xl (Xen 4.17, tools/xl/xl_info.c list_domains / print_info):
 *     header "Name                                        ID   Mem VCPUs\tState\tTime(s)"
 *     row    "%-40s %5d %5lu %5d     %c%c%c%c%c%c  %8.1f", by domain ID; the fifth flag is the
 *            shutdown reason letter from "-rscwS"
 */
import { freeMemoryMiB, type SimDomain, type SimNode } from "../model";
import type { Simulation } from "../simulation";
import { fixed, left, right } from "./format";

const SHUTDOWN_LETTERS: Record<string, string> = {
  poweroff: "-",
  reboot: "r",
  suspend: "s",
  crash: "c",
  watchdog: "w",
};

/** xend's stateChar over running, blocked, paused, shutdown, crashed, dying. */
export function xmState(d: SimDomain): string {
  const f = d.flags;
  return `${f.running ? "r" : "-"}${f.blocked ? "b" : "-"}${f.paused ? "p" : "-"}${f.shutdown ? "s" : "-"}${
    f.crashed ? "c" : "-"
  }${f.dying ? "d" : "-"}`;
}

/** libxl's flags: the fifth character is the shutdown reason, not "crashed". */
export function xlState(d: SimDomain): string {
  const f = d.flags;
  const reason = f.shutdown ? (SHUTDOWN_LETTERS[f.shutdownReason ?? "poweroff"] ?? "?") : "-";
  return `${f.running ? "r" : "-"}${f.blocked ? "b" : "-"}${f.paused ? "p" : "-"}${f.shutdown ? "s" : "-"}${reason}${
    f.dying ? "d" : "-"
  }`;
}

/** Python 2 sorts str by byte value; so does this. */
function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function renderXmList(node: SimNode): string {
  const lines = [
    `${left("Name", 40)} ${right("ID", 3)} ${right("Mem(MiB)", 8)} ${right("VCPUs", 5)} ${right("State", 5)} ${right("Time(s)", 9)}`,
  ];
  for (const d of [...node.domains].sort((a, b) => byteOrder(a.name, b.name))) {
    lines.push(
      `${left(d.name, 40)} ${right(d.id, 3)} ${right(d.memMiB, 8)} ${right(d.vcpus, 5)} ${right(xmState(d), 5)} ${fixed(
        d.cpuTimeSec,
        1,
        8,
      )}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

export function renderXlList(node: SimNode): string {
  const lines = ["Name                                        ID   Mem VCPUs\tState\tTime(s)"];
  for (const d of [...node.domains].sort((a, b) => a.id - b.id)) {
    lines.push(
      `${left(d.name, 40)} ${right(d.id, 5)} ${right(d.memMiB, 5)} ${right(d.vcpus, 5)}     ${xlState(d)}  ${fixed(d.cpuTimeSec, 1, 8)}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

function info(pairs: [string, string | number][], width: number): string {
  return pairs.map(([k, v]) => `${left(k, width)}: ${v}\n`).join("");
}

/** Xen 3.0.3 XendNode.info(): nodeinfo + physinfo + xeninfo + xendinfo, in ITEM_ORDER. */
export function renderXmInfo(sim: Simulation, node: SimNode): string {
  const ts = sim.state.toolstack;
  return info(
    [
      ["system", "Linux"],
      ["host", node.name],
      ["release", ts.kernelRelease],
      ["version", ts.kernelVersion],
      ["machine", ts.machine],
      ["nr_cpus", node.cpus],
      ["nr_nodes", 1],
      ["sockets_per_node", 1],
      ["cores_per_socket", node.cpus],
      ["threads_per_core", 1],
      ["cpu_mhz", node.cpuMhz],
      ["hw_caps", "bfebfbff:20100000:00000000:00000180:0000e41d:00000000:00000001"],
      ["total_memory", node.memoryMiB],
      ["free_memory", freeMemoryMiB(node)],
      ["xen_major", ts.xen.major],
      ["xen_minor", ts.xen.minor],
      ["xen_extra", ts.xen.extra],
      ["xen_caps", "xen-3.0-x86_32p"],
      ["xen_pagesize", 4096],
      ["platform_params", "virt_start=0xf5800000"],
      ["xen_changeset", "unavailable"],
      ["cc_compiler", "gcc version 4.1.2 20061115 (prerelease) (Debian 4.1.1-21)"],
      ["cc_compile_by", "ultrotter"],
      ["cc_compile_domain", "debian.org"],
      ["cc_compile_date", "Thu Jun 12 17:52:35 UTC 2008"],
      ["xend_config_format", 2],
    ],
    23,
  );
}

/** Xen 4.17 xl info: output_nodeinfo, output_physinfo, output_xeninfo, xend_config_format. */
export function renderXlInfo(sim: Simulation, node: SimNode): string {
  const ts = sim.state.toolstack;
  return info(
    [
      ["host", node.name],
      ["release", ts.kernelRelease],
      ["version", ts.kernelVersion],
      ["machine", ts.machine],
      ["nr_cpus", node.cpus],
      ["max_cpu_id", node.cpus - 1],
      ["nr_nodes", 1],
      ["cores_per_socket", node.cpus],
      ["threads_per_core", 1],
      ["cpu_mhz", `${node.cpuMhz}.${String((node.cpuMhz * 7) % 1000).padStart(3, "0")}`],
      ["hw_caps", "bfebfbff:77faf3ff:2c100800:00000121:0000000f:009c6fbf:00000000:00000100"],
      ["virt_caps", " pv hvm hvm_directio pv_directio hap shadow iommu_hap_pt_share gnttab-v1 gnttab-v2"],
      ["total_memory", node.memoryMiB],
      ["free_memory", freeMemoryMiB(node)],
      ["sharing_freed_memory", 0],
      ["sharing_used_memory", 0],
      ["outstanding_claims", 0],
      // CPUs outside every cpupool; all belong to Pool-0.
      ["free_cpus", 0],
      ["xen_major", ts.xen.major],
      ["xen_minor", ts.xen.minor],
      ["xen_extra", ts.xen.extra],
      ["xen_version", `${ts.xen.major}.${ts.xen.minor}${ts.xen.extra}`],
      ["xen_caps", "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64"],
      ["xen_scheduler", "credit2"],
      ["xen_pagesize", 4096],
      ["platform_params", "virt_start=0xffff800000000000"],
      ["xen_changeset", ""],
      ["xen_commandline", "placeholder dom0_mem=2G,max:2G dom0_max_vcpus=2 no-real-mode edd=off"],
      ["cc_compiler", "x86_64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0"],
      ["cc_compile_by", "pkg-xen-devel"],
      ["cc_compile_domain", "lists.alioth.debian.org"],
      ["cc_compile_date", "Mon Jan 29 09:18:46 UTC 2024"],
      ["build_id", "2a6b9d7e5c0f2d8c9f5b2e4f1c3a7d6e8b9c0a1f"],
      ["xend_config_format", 4],
    ],
    23,
  );
}
