/** xendomains (boot-time start of guests): driver, parsers and their registry entries. */
import type { ParserEntry } from "../types";
import { LS_KIND, parseLsLong, parseXendomainsDefaults, XENDOMAINS_KIND } from "./parse";

export { xendomainsDriver } from "./driver";
export {
  DEFAULT_AUTO_DIR,
  LS_KIND,
  type LsEntry,
  parseLsLong,
  parseXendomainsDefaults,
  startupConfig,
  XENDOMAINS_FILES,
  XENDOMAINS_KIND,
} from "./parse";

export const parsers: ParserEntry[] = [
  {
    kind: XENDOMAINS_KIND,
    description: "`/etc/default/xendomains` or `/etc/sysconfig/xendomains`: the NAME=value settings",
    parse: (text) => parseXendomainsDefaults(text),
  },
  {
    kind: LS_KIND,
    description: "`ls -l DIR` (e.g. /etc/xen/auto): entries with their symlink targets",
    parse: (text) => parseLsLong(text),
  },
];
