/**
 * The local paging service tests run against (PagerDuty Events API v2 and Opsgenie Alert API, each
 * request checked as the services document it, failures and delays on purpose). It lives with the
 * lab, which runs it too and prints what it receives (`npm run lab -- --oncall`).
 */
export * from "../../src/lab/fake-pager";
