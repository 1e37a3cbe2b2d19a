/**
 * Argv of the Xen toolstacks' mutations. `xm migrate --live DOMAIN HOST` asks the local xend to send
 * the domain to the xend relocation server on HOST; `xl migrate DOMAIN HOST` runs `ssh HOST xl
 * migrate-receive` and is live by default. HOST is the target's node name (the nodes resolve it).
 */
import { absolutePath, plainWord } from "../argv";
import type { HypervisorCommands } from "../types";

function commands(tool: "xm" | "xl"): HypervisorCommands {
  return {
    id: tool,
    migrateLive(domain, host) {
      const d = plainWord(domain, "domain");
      const h = plainWord(host, "migration host");
      return tool === "xm" ? ["xm", "migrate", "--live", d, h] : ["xl", "migrate", d, h];
    },
    create(configFile) {
      return [tool, "create", absolutePath(configFile, "config file")];
    },
    shutdown(domain) {
      return [tool, "shutdown", plainWord(domain, "domain")];
    },
    destroy(domain) {
      return [tool, "destroy", plainWord(domain, "domain")];
    },
  };
}

export const xmCommands: HypervisorCommands = commands("xm");
export const xlCommands: HypervisorCommands = commands("xl");
