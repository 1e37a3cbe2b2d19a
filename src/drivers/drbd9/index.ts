/** DRBD 9: driver, parsers of drbdsetup/drbdadm outputs, and their registry entries. */
import type { ParserEntry } from "../types";
import { DRBD_EVENTS2_KIND, parseEvents2Stream } from "./events2";
import { toDrbdResourceStates } from "./normalize";
import { DRBD_STATUS_JSON_KIND, parseDrbdStatusJson } from "./status-json";
import { DRBD_STATUS_KIND, parseDrbdStatusText } from "./status-text";

export { DRBDADM_STATUS, DRBDSETUP_STATUS_JSON, drbd9Driver } from "./driver";
export {
  DRBD_EVENTS2_KIND,
  EVENTS2_ACTIONS,
  EVENTS2_OBJECTS,
  type Events2Action,
  type Events2Event,
  type Events2Object,
  Events2State,
  type Events2StreamResult,
  parseEvents2Line,
  parseEvents2Stream,
} from "./events2";
export type {
  Drbd9Connection,
  Drbd9Device,
  Drbd9Path,
  Drbd9PeerDevice,
  Drbd9Resource,
} from "./model";
export { DISK_STATE_ORDER, diskRank, toDrbdResourceState, toDrbdResourceStates } from "./normalize";
export { DRBD_STATUS_JSON_KIND, parseDrbdStatusJson } from "./status-json";
export { DRBD_STATUS_KIND, parseDrbdStatusText } from "./status-text";

export const parsers: ParserEntry[] = [
  {
    kind: DRBD_STATUS_KIND,
    description: "DRBD 9 `drbdadm status` / `drbdsetup status [--verbose] [--statistics]` text",
    parse(text) {
      const resources = parseDrbdStatusText(text);
      return { resources, state: toDrbdResourceStates(resources) };
    },
  },
  {
    kind: DRBD_STATUS_JSON_KIND,
    description: "DRBD 9 `drbdsetup status --json`",
    parse(text) {
      const resources = parseDrbdStatusJson(text);
      return { resources, state: toDrbdResourceStates(resources) };
    },
  },
  {
    kind: DRBD_EVENTS2_KIND,
    description: "DRBD 9 `drbdsetup events2` stream (events and the state after the last one)",
    parse: parseEvents2Stream,
  },
];
