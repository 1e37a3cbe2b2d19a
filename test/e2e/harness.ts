// The Slack end-to-end helpers live in support/ (shared with bench/, which never imports test/).
export * from "../../support/slack-harness";
