/** Pacemaker (crm_mon XML): driver, parser and its registry entry. */
import type { ParserEntry } from "../types";
import { CIB_KIND, parseCib } from "./cib";
import { CRM_MON_XML_KIND, crmMonToHaView, parseCrmMonXml } from "./crm-mon";

export {
  CIB_KIND,
  CIBADMIN_QUERY,
  type Cib,
  type CibPrimitive,
  cibToHaConfig,
  crmMonResourcesToHaConfig,
  parseCib,
} from "./cib";
export { cibDriver } from "./config-driver";
export {
  CRM_EX_DISCONNECT,
  CRM_MON_XML_KIND,
  type CrmMon,
  type CrmMonDc,
  type CrmMonFailure,
  type CrmMonNode,
  type CrmMonParent,
  type CrmMonResource,
  type CrmMonStatus,
  crmMonToHaView,
  nodeStatus,
  normalizeAgent,
  normalizeRole,
  parseCrmMonXml,
} from "./crm-mon";
export { CRM_MON_AS_XML, CRM_MON_XML, pacemakerDriver } from "./driver";

export const parsers: ParserEntry[] = [
  {
    kind: CRM_MON_XML_KIND,
    description:
      "Pacemaker `crm_mon -1 --output-as=xml` (also `--as-xml` <crm_mon> and <pacemaker-result> shapes); view null when crm_mon reported an error (observer shown as -)",
    parse(text) {
      const crmMon = parseCrmMonXml(text);
      return { crmMon, view: crmMonToHaView(crmMon, "-") };
    },
  },
  {
    kind: CIB_KIND,
    description:
      "Pacemaker CIB (`cibadmin --query [--scope configuration]`): primitives with their parameters and meta attributes, location constraints",
    parse: (text) => parseCib(text),
  },
];
