/**
 * `xm` (Xen 3.0.3 xend toolstack) and `xl` (Xen 4.17 libxl): list, info, create, shutdown, destroy,
 * migrate. Messages and exit codes follow tools/python/xen/xm/main.py, create.py, opts.py and
 * xend's XendDomain/XendCheckpoint (3.0.3), and tools/xl/*.c (4.17).
 */
import type { SimDomain } from "../model";
import { renderXlInfo, renderXlList, renderXmInfo, renderXmList } from "../render/xen";
import type { CommandContext, Program } from "./context";
import { waitUntil } from "./context";

const XM_HELP: Record<string, [string, string]> = {
  create: ["<ConfigFile> [options] [vars]", "Create a domain based on <ConfigFile>."],
  destroy: ["<Domain>", "Terminate a domain immediately."],
  list: ["[options] [Domain, ...]", "List information about all/some domains."],
  migrate: ["<Domain> <Host>", "Migrate a domain to another machine."],
  shutdown: ["<Domain> [-waRH]", "Shutdown a domain."],
  info: ["", "Get information about Xen host."],
};

/** xm's err() then usage(cmd): the message on stderr, the subcommand help on stdout, exit 1. */
function xmFail(ctx: CommandContext, cmd: string, message: string): number {
  ctx.io.stderr(`Error: ${message}\n`);
  const help = XM_HELP[cmd];
  if (help) ctx.io.stdout(`Usage: xm ${cmd} ${help[0]}\n\n${help[1]}\n\n`);
  return 1;
}

/** Finds a guest by config path the way xm/xl do: the path itself, or a name under /etc/xen. */
function guestByConfig(ctx: CommandContext, arg: string): { name: string; path: string } | null {
  for (const g of ctx.sim.state.guests) {
    const base = g.configFile.slice(g.configFile.lastIndexOf("/") + 1);
    if (arg === g.configFile || arg === base || `/etc/xen/${arg}` === g.configFile)
      return { name: g.name, path: g.configFile };
  }
  return null;
}

function domainArg(ctx: CommandContext, arg: string): SimDomain | undefined {
  return ctx.sim.findDomain(ctx.node.name, arg);
}

export const xm: Program = async (ctx) => {
  const [cmd, ...rest] = ctx.args;
  const sim = ctx.sim;
  switch (cmd) {
    case undefined:
    case "help":
      ctx.io.stdout("Usage: xm <subcommand> [args]\n\nControl, list, and manipulate Xen guest instances.\n");
      return cmd === undefined ? 1 : 0;
    case "list": {
      if (rest.some((a) => a.startsWith("-")))
        return xmFail(ctx, "list", `option ${rest.find((a) => a.startsWith("-"))} is not simulated`);
      for (const name of rest)
        if (!domainArg(ctx, name)) return xmFail(ctx, "list", `Domain '${name}' does not exist.`);
      const node = rest.length
        ? {
            ...ctx.node,
            domains: ctx.node.domains.filter((d) => rest.includes(d.name) || rest.includes(String(d.id))),
          }
        : ctx.node;
      ctx.io.stdout(renderXmList(node));
      return 0;
    }
    case "info":
      if (rest.length) {
        ctx.io.stderr("Error: 'xm info' requires 0 arguments.\n\n");
        return 1;
      }
      ctx.io.stdout(renderXmInfo(sim, ctx.node));
      return 0;
    case "create": {
      const cfg = rest.find((a) => !a.startsWith("-") && !a.includes("="));
      const found = cfg ? guestByConfig(ctx, cfg) : null;
      if (!cfg || !found) return xmFail(ctx, "create", `Unable to open config file: ${cfg ?? "xmdefconfig"}`);
      ctx.io.stdout(`Using config file "${found.path}".\n`);
      const result = sim.createGuest(ctx.node.name, found.name);
      if (result.ok) {
        ctx.io.stdout(`Started domain ${found.name}\n`);
        return 0;
      }
      const f = result.failure;
      if (f.code === "already_running")
        ctx.io.stderr(`Error: VM name '${found.name}' already in use by domain ${f.domId}\n`);
      else if (f.code === "drbd_not_primary")
        ctx.io.stderr(`Error: Device ${f.vbd} (vbd) could not be connected. Backend device not found.\n`);
      else if (f.code === "no_memory")
        ctx.io.stderr(
          `Error: Not enough free memory and dom0_min_mem is 0, so I cannot release any more.  I need ${f.needMiB * 1024} KiB but only have ${f.freeMiB * 1024}.\n`,
        );
      else ctx.io.stderr(`Error: Unable to open config file: ${cfg}\n`);
      return 1;
    }
    case "shutdown": {
      const wait = rest.some((a) => /^-[a-zA-Z]*w/.test(a) || a === "--wait");
      const names = rest.filter((a) => !a.startsWith("-"));
      if (names.length !== 1) {
        ctx.io.stderr(
          names.length
            ? "Error: No multiple domain parameters allowed\n"
            : "Error: No domain parameter given\n",
        );
        return 1;
      }
      const name = names[0] as string;
      const dom = domainArg(ctx, name);
      if (!dom) return xmFail(ctx, "shutdown", `Domain '${name}' does not exist.`);
      if (dom.id === 0) return xmFail(ctx, "shutdown", `Cannot shutdown privileged domain ${name}`);
      sim.shutdownDomain(ctx.node.name, dom);
      if (wait) {
        if (!(await waitUntil(ctx, () => !ctx.node.domains.includes(dom)))) return 1;
        ctx.io.stdout(`Domain ${dom.name} terminated\nAll domains terminated\n`);
      }
      return 0;
    }
    case "destroy": {
      if (rest.length !== 1) {
        ctx.io.stderr("Error: 'xm destroy' requires 1 argument.\n\n");
        return 1;
      }
      const name = rest[0] as string;
      const dom = domainArg(ctx, name);
      if (!dom) return xmFail(ctx, "destroy", `Domain '${name}' does not exist.`);
      if (dom.id === 0) return xmFail(ctx, "destroy", `Cannot destroy privileged domain ${name}`);
      sim.destroyDomain(ctx.node.name, dom);
      return 0;
    }
    case "migrate": {
      let live = false;
      const params: string[] = [];
      for (let i = 0; i < rest.length; i++) {
        const a = rest[i] as string;
        if (a === "-l" || a === "--live") live = true;
        else if (a === "-p" || a === "--port" || a === "-r" || a === "--resource") i++;
        else if (a.startsWith("--port=") || a.startsWith("--resource=")) continue;
        else if (a.startsWith("-")) return xmFail(ctx, "migrate", `option ${a} not recognized`);
        else params.push(a);
      }
      if (params.length !== 2) {
        ctx.io.stderr("Error: 'xm migrate' requires 2 arguments.\n\n");
        return 1;
      }
      const [name, host] = params as [string, string];
      const started = sim.startMigration(ctx.node.name, name, host, live);
      if (!started.ok) {
        const f = started.failure;
        switch (f.code) {
          case "unknown_domain":
            return xmFail(ctx, "migrate", `Domain '${name}' does not exist.`);
          case "dom0":
            return xmFail(ctx, "migrate", `Cannot migrate privileged domain ${name}`);
          case "unknown_host":
            return xmFail(ctx, "migrate", "can't connect: Name or service not known");
          case "host_down":
            return xmFail(ctx, "migrate", "can't connect: No route to host");
          case "same_host":
          case "busy":
          case "no_memory":
          case "target_drbd":
            // The receiving xend fails to restore; the sender only sees xc_save fail.
            return xmFail(
              ctx,
              "migrate",
              `/usr/lib/xen/bin/xc_save 22 ${domainArg(ctx, name)?.id ?? 0} 0 0 ${live ? 1 : 0} failed`,
            );
        }
      }
      const m = started.migration;
      // xm migrate returns when the domain has left this host.
      if (!(await waitUntil(ctx, () => !sim.state.migrations.includes(m)))) return 1;
      if (m.failed)
        return xmFail(
          ctx,
          "migrate",
          `/usr/lib/xen/bin/xc_save 22 ${domainArg(ctx, name)?.id ?? 0} 0 0 ${live ? 1 : 0} failed`,
        );
      // The guest was handed over, but the relocation connection broke before xend said so.
      if (m.reportsFailure) return xmFail(ctx, "migrate", "(104, 'Connection reset by peer')");
      return 0;
    }
    default:
      ctx.io.stderr(`Error: Sub Command ${cmd} not found!\n`);
      ctx.io.stdout("Usage: xm <subcommand> [args]\n\nControl, list, and manipulate Xen guest instances.\n");
      return 1;
  }
};

function xlInvalidDomain(ctx: CommandContext, name: string): number {
  ctx.io.stderr(`${name} is an invalid domain identifier (rc=-6)\n`);
  return 1;
}

export const xl: Program = async (ctx) => {
  const [cmd, ...rest] = ctx.args;
  const sim = ctx.sim;
  const err = (s: string): void => ctx.io.stderr(s);
  switch (cmd) {
    case undefined:
      err("Usage xl [-vfNtT] <subcommand> [args]\n");
      return 1;
    case "list": {
      const names = rest.filter((a) => !a.startsWith("-"));
      if (rest.some((a) => a.startsWith("-"))) {
        err(`xl list: option ${rest.find((a) => a.startsWith("-"))} is not simulated\n`);
        return 1;
      }
      for (const n of names) if (!domainArg(ctx, n)) return xlInvalidDomain(ctx, n);
      const node = names.length
        ? {
            ...ctx.node,
            domains: ctx.node.domains.filter((d) => names.includes(d.name) || names.includes(String(d.id))),
          }
        : ctx.node;
      ctx.io.stdout(renderXlList(node));
      return 0;
    }
    case "info":
      ctx.io.stdout(renderXlInfo(sim, ctx.node));
      return 0;
    case "create": {
      const cfg = rest.find((a) => !a.startsWith("-") && !a.includes("="));
      if (!cfg) {
        err("Usage: xl [-v] create <ConfigFile> [options] [vars]\n");
        return 1;
      }
      const found = guestByConfig(ctx, cfg);
      if (!found) {
        err(`Failed to read config file: ${cfg}: No such file or directory\n`);
        return 1;
      }
      err(`Parsing config from ${found.path}\n`);
      const result = sim.createGuest(ctx.node.name, found.name);
      if (result.ok) return 0;
      const f = result.failure;
      const next = ctx.node.nextDomId;
      if (f.code === "already_running")
        err(
          `libxl: error: libxl_domain.c:81:libxl__domain_rename: Domain ${next}:Domain with name "${found.name}" already exists.\n`,
        );
      else if (f.code === "drbd_not_primary")
        err(
          "libxl: error: libxl_device.c:1265:device_hotplug_child_death_cb: script: /etc/xen/scripts/block failed; error detected.\n" +
            `libxl: error: libxl_create.c:1670:domcreate_launch_dm: Domain ${next}:unable to add disk devices\n`,
        );
      else if (f.code === "no_memory") err("failed to free memory for the domain\n");
      return 1;
    }
    case "shutdown": {
      const wait = rest.some((a) => a === "-w" || a === "--wait");
      const names = rest.filter((a) => !a.startsWith("-"));
      if (names.length !== 1) {
        err("'xl shutdown' requires at least 1 argument.\n\n");
        return 1;
      }
      const dom = domainArg(ctx, names[0] as string);
      if (!dom) return xlInvalidDomain(ctx, names[0] as string);
      err(`Shutting down domain ${dom.id}\n`);
      sim.shutdownDomain(ctx.node.name, dom);
      if (wait) {
        err(`Waiting for 1 domains\n`);
        if (!(await waitUntil(ctx, () => !ctx.node.domains.includes(dom)))) return 1;
        err(`Domain ${dom.id} has been shut down, reason code 0\n`);
      }
      return 0;
    }
    case "destroy": {
      if (rest.length !== 1) {
        err("'xl destroy' requires at least 1 argument.\n\n");
        return 1;
      }
      const dom = domainArg(ctx, rest[0] as string);
      if (!dom) return xlInvalidDomain(ctx, rest[0] as string);
      if (dom.id === 0) {
        err("Cannot destroy privileged domain 0.\n\n");
        return 1;
      }
      sim.destroyDomain(ctx.node.name, dom);
      return 0;
    }
    case "migrate": {
      const params: string[] = [];
      for (let i = 0; i < rest.length; i++) {
        const a = rest[i] as string;
        // xl migrates live by default; --live is accepted for xm compatibility.
        if (a === "--live" || a === "-e" || a === "-p" || a === "-D" || a === "--debug") continue;
        if (a === "-s" || a === "-C") i++;
        else if (a.startsWith("-")) {
          err(`xl migrate: unrecognized option '${a}'\n`);
          return 2;
        } else params.push(a);
      }
      if (params.length !== 2) {
        err("'xl migrate' requires at least 2 arguments.\n\n");
        return 1;
      }
      const [name, host] = params as [string, string];
      const dom = domainArg(ctx, name);
      if (!dom) return xlInvalidDomain(ctx, name);
      const started = sim.startMigration(ctx.node.name, name, host, true);
      if (!started.ok) {
        const f = started.failure;
        if (f.code === "unknown_host")
          err(`ssh: Could not resolve hostname ${host}: Name or service not known\n`);
        else if (f.code === "host_down") err(`ssh: connect to host ${host} port 22: No route to host\n`);
        else if (f.code === "dom0") err("unable to migrate domain 0\n");
        else {
          err("migration target: Ready to receive domain.\n");
          err(`Saving to migration stream new xl format (info 0x3/0x0/1284)\n`);
          err("migration target: Domain creation failed (code -3).\n");
          err("Migration failed, resuming at sender.\n");
        }
        return 1;
      }
      const m = started.migration;
      err("migration target: Ready to receive domain.\n");
      err("Saving to migration stream new xl format (info 0x3/0x0/1284)\n");
      err("Loading new save file <incoming migration stream> (new xl fmt info 0x3/0x0/1284)\n");
      err(" Savefile contains xl domain config in JSON format\n");
      err("Parsing config from <saved>\n");
      if (!(await waitUntil(ctx, () => m.handoverAt === 0 || !sim.state.migrations.includes(m)))) return 1;
      if (m.failed) {
        err("xc: error: Failed to write page data: Broken pipe\n");
        err("migration sender: libxl_domain_suspend failed (rc=-3)\n");
        err("Migration failed, resuming at sender.\n");
        return 1;
      }
      err("migration target: Transfer complete, requesting permission to start domain.\n");
      err("migration sender: Target has acknowledged transfer.\n");
      err("migration sender: Giving target permission to start.\n");
      if (!(await waitUntil(ctx, () => !sim.state.migrations.includes(m)))) return 1;
      if (m.reportsFailure) {
        // xl_migrate.c's failed_badly: the final report never came back; the target did start it.
        err(
          "migration sender: failed to read success/failure report message (from migration target): Connection reset by peer\n",
        );
        err(" ** Migration failed during final handshake **\n");
        err("Domain state is now undefined !\n");
        err("Please CHECK AT BOTH ENDS for running instances, before renaming and\n");
        err(" resuming at most one instance.  Two simultaneous instances of the domain\n");
        err(" would probably result in SEVERE DISK CORRUPTION.\n");
        return 1;
      }
      err("migration target: Got permission, starting domain.\n");
      err("migration target: Domain started successsfully.\n");
      err("migration sender: Target reports successful startup.\n");
      err("Migration successful.\n");
      return 0;
    }
    default:
      err(`command not implemented\n`);
      return 1;
  }
};
