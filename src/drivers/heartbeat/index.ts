/** heartbeat (cl_status): driver, parsers and their registry entry. */
import type { ParserEntry } from "../types";
import { CL_STATUS_KIND, parseClStatusTranscript } from "./cl-status";
import { HARESOURCES_KIND, parseHaresources } from "./haresources";

export {
  CL_STATUS_KIND,
  type HbStatus,
  type HeartbeatFacts,
  heartbeatNodeStatus,
  heartbeatView,
  parseClStatusTranscript,
  parseHbStatus,
  parseListNodes,
  parseNodeStatus,
  parseRscStatus,
  RSC_STATUSES,
  type RscStatus,
} from "./cl-status";
export { haresourcesDriver } from "./config-driver";
export { heartbeatDriver } from "./driver";
export {
  classifyHaLog,
  HA_LOG_PATH,
  HA_LOG_TAIL_LINES,
  type HaLogEvent,
  type HaLogLine,
  linesAfter,
  parseAutoFailback,
  parseHaLogLine,
  readAutoFailback,
  readHaLogTail,
} from "./ha-log";
export {
  guestOfResource,
  HARESOURCES_KIND,
  HARESOURCES_PATH,
  type HaResource,
  type HaResourceGroup,
  haresourcesToHaConfig,
  parseHaresources,
} from "./haresources";

export const parsers: ParserEntry[] = [
  {
    kind: CL_STATUS_KIND,
    description:
      "heartbeat `cl_status` transcript: `$ cl_status hbstatus|listnodes|nodestatus NODE|rscstatus` lines, each followed by its output (observer shown as -)",
    parse: (text) => parseClStatusTranscript(text),
  },
  {
    kind: HARESOURCES_KIND,
    description:
      "heartbeat v1 `/etc/ha.d/haresources`: resource groups (node, resources with `::` arguments)",
    parse: (text) => parseHaresources(text),
  },
];
