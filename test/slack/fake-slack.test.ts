import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeSlack } from "../support/fake-slack";

describe("fake Slack", () => {
  let slack: FakeSlack;
  beforeEach(async () => {
    slack = await FakeSlack.start();
  });
  afterEach(async () => {
    await slack.close();
  });

  const call = (method: string, body: unknown, token = "xoxb-t") =>
    fetch(`${slack.apiUrl}${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });

  it("records JSON calls and answers unknown methods with unknown_method", async () => {
    const res = await call("pins.add", { channel: "C1" });
    expect(await res.json()).toEqual({ ok: false, error: "unknown_method" });
    expect(slack.calls[0]).toMatchObject({ method: "pins.add", args: { channel: "C1" }, token: "xoxb-t" });
  });

  it("answers forced 429s with Retry-After, then normally", async () => {
    slack.rateLimit("chat.postMessage", 2, 7);
    const first = await call("chat.postMessage", { channel: "C1", text: "a" });
    expect(first.status).toBe(429);
    expect(first.headers.get("retry-after")).toBe("7");
    expect((await call("chat.postMessage", { channel: "C1", text: "a" })).status).toBe(429);
    const ok = (await (await call("chat.postMessage", { channel: "C1", text: "a" })).json()) as {
      ts: string;
    };
    const next = (await (await call("chat.postMessage", { channel: "C1", text: "b" })).json()) as {
      ts: string;
    };
    expect(Number(next.ts)).toBeGreaterThan(Number(ok.ts));
  });

  it("waits for a matching call and times out when none arrives", async () => {
    const waiting = slack.waitForCall((c) => c.method === "users.info");
    await call("users.info", { user: "U1" });
    expect((await waiting).args).toEqual({ user: "U1" });
    await expect(slack.waitForCall((c) => c.method === "never", 50)).rejects.toThrow(/no matching call/);
  });

  it("only hands out Socket Mode URLs for app tokens", async () => {
    expect(await (await call("apps.connections.open", {}, "xoxb-t")).json()).toMatchObject({ ok: false });
    expect(await (await call("apps.connections.open", {}, "xapp-1")).json()).toMatchObject({
      ok: true,
      url: expect.stringMatching(/^ws:\/\/127\.0\.0\.1:\d+\/socket/),
    });
  });
});
