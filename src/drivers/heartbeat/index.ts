/** heartbeat (cl_status): driver, parsers and their registry entry. */
import type { ParserEntry } from "../types";
import { CL_STATUS_KIND, parseClStatusTranscript } from "./cl-status";

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
export { heartbeatDriver } from "./driver";

export const parsers: ParserEntry[] = [
  {
    kind: CL_STATUS_KIND,
    description:
      "heartbeat `cl_status` transcript: `$ cl_status hbstatus|listnodes|nodestatus NODE|rscstatus` lines, each followed by its output (observer shown as -)",
    parse: (text) => parseClStatusTranscript(text),
  },
];
