// The fake Slack lives in support/ (shared with bench/, which never imports test/).
export * from "../../support/fake-slack";
