// The Slack end-to-end helpers live in support/ (shared with bench/, which never imports test/).
export * from "../../support/slack-harness";
// The worker-process helpers of the crash and lease tests are in ./worker-harness.ts.
