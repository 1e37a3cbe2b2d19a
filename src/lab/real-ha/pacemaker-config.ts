/**
 * corosync 3 and Pacemaker 2.1 configuration for the real-HA lab's modern preset: a two-node knet
 * cluster over the replication link (two_node: quorum with one node, wait_for_all at start), and a
 * CIB in the simulator's shape: per node a fence device (cluster-glue's apcsmart: the UPS that powers
 * the node, on its peer's serial port), per DRBD resource a dual-primary clone, per guest an
 * ocf:xenops:Xen primitive (allow-migrate) placed after its disks and preferring its home node.
 */
import type { SimHaGroup } from "../../sim/model";
import { xmlAttr } from "../../sim/render/format";

export interface CorosyncTiming {
  /** corosync's token timeout: how long a silent node takes to be declared lost. */
  tokenMs: number;
}

/** corosync's own default for two nodes. */
export const DEFAULT_COROSYNC_TIMING: CorosyncTiming = { tokenMs: 3000 };

export function renderCorosyncConf(
  clusterName: string,
  nodes: readonly { name: string; address: string }[],
  timing: CorosyncTiming,
): string {
  return `# /etc/corosync/corosync.conf - identical on both nodes
totem {
	version: 2
	cluster_name: ${clusterName}
	transport: knet
	token: ${timing.tokenMs}
	crypto_cipher: none
	crypto_hash: none
}

nodelist {
${nodes
  .map(
    (n, i) => `	node {
		name: ${n.name}
		nodeid: ${i + 1}
		ring0_addr: ${n.address}
	}
`,
  )
  .join("")}}

quorum {
	provider: corosync_votequorum
	two_node: 1
}

logging {
	to_logfile: yes
	logfile: /var/log/corosync/corosync.log
	to_stderr: no
	to_syslog: no
	timestamp: on
}
`;
}

export interface CibGuest {
  group: SimHaGroup;
  configFile: string;
}

const nv = (id: string, name: string, value: string): string =>
  `<nvpair id="${xmlAttr(`${id}-${name}`)}" name="${xmlAttr(name)}" value="${xmlAttr(value)}"/>`;

/**
 * The whole CIB as written to /var/lib/pacemaker/cib/cib.xml before the first start (no digest file:
 * Pacemaker accepts it and writes its own). Each node's fence device is the UPS that powers it, on
 * the PEER's serial port: it may run anywhere but on its own target.
 */
export function renderCib(
  clusterName: string,
  nodes: readonly string[],
  guests: readonly CibGuest[],
  /** stonith-timeout; dc-deadtime (how long a starting node waits to hear from a DC). */
  opts: { stonithTimeout: string; dcDeadtime: string },
): string {
  const props = "cib-bootstrap-options";
  const fences = nodes
    .map((n) => {
      const id = `fence-${n}`;
      const ia = `${id}-instance_attributes`;
      return `      <primitive id="${xmlAttr(id)}" class="stonith" type="apcsmart">
        <instance_attributes id="${xmlAttr(ia)}">
          ${nv(ia, "ttydev", "/dev/ttyS0")}
          ${nv(ia, "hostlist", n)}
          ${nv(ia, "pcmk_host_list", n)}
          ${nv(ia, "pcmk_host_check", "static-list")}
        </instance_attributes>
        <operations>
          <op id="${xmlAttr(id)}-monitor-interval-60s" interval="60s" name="monitor"/>
        </operations>
      </primitive>
`;
    })
    .join("");
  const drbd = [...new Set(guests.flatMap((g) => g.group.drbd))]
    .map((r) => {
      const clone = `drbd-${r}-clone`;
      const prim = `drbd-${r}`;
      return `      <clone id="${xmlAttr(clone)}">
        <meta_attributes id="${xmlAttr(clone)}-meta_attributes">
          ${nv(`${clone}-meta_attributes`, "clone-max", String(nodes.length))}
          ${nv(`${clone}-meta_attributes`, "interleave", "true")}
        </meta_attributes>
        <primitive id="${xmlAttr(prim)}" class="ocf" provider="xenops" type="drbd-primary">
          <instance_attributes id="${xmlAttr(prim)}-instance_attributes">
            ${nv(`${prim}-instance_attributes`, "drbd_resource", r)}
          </instance_attributes>
          <operations>
            <op id="${xmlAttr(prim)}-monitor-interval-20s" interval="20s" name="monitor" timeout="20s"/>
            <op id="${xmlAttr(prim)}-start-interval-0s" interval="0s" name="start" timeout="60s"/>
          </operations>
        </primitive>
      </clone>
`;
    })
    .join("");
  const vms = guests
    .map(({ group: g, configFile }) => {
      const id = `vm-${g.guest}`;
      const ia = `${id}-instance_attributes`;
      const ops = [
        ["monitor", "10s", "30s"],
        ["start", "0s", "60s"],
        ["stop", "0s", "60s"],
        ["migrate_to", "0s", "120s"],
        ["migrate_from", "0s", "60s"],
      ]
        .map(
          ([name, interval, timeout]) =>
            `          <op id="${xmlAttr(`${id}-${name}-interval-${interval}`)}" interval="${interval}" name="${name}" timeout="${timeout}"/>\n`,
        )
        .join("");
      return `      <primitive id="${xmlAttr(id)}" class="ocf" provider="xenops" type="Xen">
        <instance_attributes id="${xmlAttr(ia)}">
          ${nv(ia, "xmfile", configFile)}
          ${nv(ia, "name", g.guest)}
        </instance_attributes>
        <meta_attributes id="${xmlAttr(id)}-meta_attributes">
          ${nv(`${id}-meta_attributes`, "allow-migrate", "true")}
        </meta_attributes>
        <operations>
${ops}        </operations>
      </primitive>
`;
    })
    .join("");
  const constraints = [
    ...nodes.map(
      (n) =>
        `      <rsc_location id="location-fence-${xmlAttr(n)}" rsc="fence-${xmlAttr(n)}" node="${xmlAttr(n)}" score="-INFINITY"/>\n`,
    ),
    ...guests.flatMap(({ group: g }) => [
      `      <rsc_location id="location-vm-${xmlAttr(g.guest)}" rsc="vm-${xmlAttr(g.guest)}" node="${xmlAttr(g.home)}" score="100"/>\n`,
      ...g.drbd.flatMap((r) => [
        `      <rsc_order id="order-drbd-${xmlAttr(r)}-vm-${xmlAttr(g.guest)}" first="drbd-${xmlAttr(r)}-clone" then="vm-${xmlAttr(g.guest)}" kind="Mandatory"/>\n`,
        `      <rsc_colocation id="colocation-vm-${xmlAttr(g.guest)}-drbd-${xmlAttr(r)}" rsc="vm-${xmlAttr(g.guest)}" with-rsc="drbd-${xmlAttr(r)}-clone" score="INFINITY"/>\n`,
      ]),
    ]),
  ].join("");
  return `<cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="${props}">
        ${nv(props, "cluster-name", clusterName)}
        ${nv(props, "stonith-enabled", "true")}
        ${nv(props, "stonith-timeout", opts.stonithTimeout)}
        ${nv(props, "have-watchdog", "false")}
        ${nv(props, "dc-deadtime", opts.dcDeadtime)}
      </cluster_property_set>
    </crm_config>
    <nodes>
${nodes.map((n, i) => `      <node id="${i + 1}" uname="${xmlAttr(n)}"/>\n`).join("")}    </nodes>
    <resources>
${fences}${drbd}${vms}    </resources>
    <constraints>
${constraints}    </constraints>
    <rsc_defaults>
      <meta_attributes id="rsc-options">
        ${nv("rsc-options", "resource-stickiness", "200")}
      </meta_attributes>
    </rsc_defaults>
  </configuration>
  <status/>
</cib>
`;
}
