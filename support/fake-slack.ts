/**
 * A local fake of the Slack platform for tests: the Web API over HTTP (point a WebClient at `apiUrl`)
 * and a Socket Mode WebSocket endpoint on the same loopback port. It records every call, answers the
 * methods xenops uses, and has hooks to force rate limiting and errors and to wait for calls/acks.
 */
import { createHmac } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parse as parseQuery } from "node:querystring";
import { type WebSocket, WebSocketServer } from "ws";

export interface RecordedCall {
  method: string;
  /** Parsed arguments: form fields (JSON-looking values decoded), JSON body, or multipart text fields. */
  args: Record<string, unknown>;
  /** Token from `Authorization: Bearer` or the `token` argument; null when none was sent. */
  token: string | null;
  /** HTTP status the fake answered with. */
  status: number;
  at: number;
}

export interface RecordedUpload {
  fileId: string;
  filename: string;
  content: string;
  token: string | null;
}

export interface PostedMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: unknown;
  threadTs: string | null;
  updates: number;
}

export interface EnvelopeAck {
  envelopeId: string;
  /** The `payload` the app sent with its ack (`{}` when it acked without one). */
  payload: Record<string, unknown>;
  sentAt: number;
  ackedAt: number;
}

export interface FakeSlackOptions {
  teamId?: string;
  botUserId?: string;
  botId?: string;
  /** When set, only these bot tokens pass `auth.test` and Web API calls; others get `invalid_auth`. */
  validTokens?: readonly string[];
  /** User-group id → member user ids, for `usergroups.users.list`. */
  usergroups?: Record<string, readonly string[]>;
  /**
   * The bot token's scopes, sent in `x-oauth-scopes` on every answer to a bot token. When given, a method
   * needing a scope the list lacks answers `missing_scope` with `needed`, as Slack does. Default: the
   * manifest's scopes, not enforced.
   */
  scopes?: readonly string[];
  /** The app-level token's scopes (default connections:write). */
  appScopes?: readonly string[];
  /** Channels `conversations.info` knows; unset: every channel exists and has the bot as a member. */
  channels?: Record<string, FakeChannel>;
}

export interface FakeChannel {
  name?: string;
  /** The bot is in the channel (default true). */
  member?: boolean;
  private?: boolean;
  archived?: boolean;
}

/** manifest.yml's bot scopes. */
export const MANIFEST_BOT_SCOPES = [
  "commands",
  "chat:write",
  "files:write",
  "usergroups:read",
  "channels:read",
  "groups:read",
] as const;

/** The scope each method needs (for the fake's `missing_scope` answers). */
const METHOD_SCOPES: Record<string, string> = {
  "chat.postMessage": "chat:write",
  "chat.update": "chat:write",
  "chat.postEphemeral": "chat:write",
  "usergroups.users.list": "usergroups:read",
  "files.getUploadURLExternal": "files:write",
  "files.completeUploadExternal": "files:write",
};

type Answer = { status: number; body: unknown; headers?: Record<string, string> };

interface Forced {
  remaining: number;
  answer: Answer;
}

export class FakeSlack {
  readonly calls: RecordedCall[] = [];
  readonly uploads: RecordedUpload[] = [];
  readonly messages = new Map<string, PostedMessage>();
  readonly acks: EnvelopeAck[] = [];
  readonly usergroups = new Map<string, string[]>();
  /** See FakeSlackOptions.channels; null: every channel exists with the bot in it. */
  channels: Map<string, FakeChannel> | null = null;
  /** Bot token scopes; `enforceScopes` when they were given explicitly. */
  scopes: string[] = [...MANIFEST_BOT_SCOPES];
  appScopes: string[] = ["connections:write"];
  enforceScopes = false;
  /**
   * Refuse messages as Slack does (see messageLimitError): `invalid_blocks` for a block over its documented
   * limit, `msg_blocks_too_long` for blocks over SLACK_BLOCKS_JSON_LIMIT in total. On by default.
   */
  enforceMessageLimits = true;

  /** Modals opened with views.open (by view id), as last updated. */
  readonly views = new Map<string, FakeView>();
  /** Home tabs published with views.publish, by user id. */
  readonly homeTabs = new Map<string, Record<string, unknown>>();

  private readonly forced = new Map<string, Forced[]>();
  private readonly callWaiters: {
    predicate: (c: RecordedCall) => boolean;
    resolve: (c: RecordedCall) => void;
  }[] = [];
  private readonly pendingAcks = new Map<string, { sentAt: number; resolve: (a: EnvelopeAck) => void }>();
  private readonly sockets = new Set<WebSocket>();
  private readonly connectionWaiters: (() => void)[] = [];
  private readonly pendingUploads = new Map<string, { filename: string }>();
  private tsCounter = 0;
  private idCounter = 0;

  private constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    readonly port: number,
    private readonly options: Required<
      Omit<FakeSlackOptions, "validTokens" | "usergroups" | "scopes" | "appScopes" | "channels">
    > &
      Pick<FakeSlackOptions, "validTokens">,
  ) {}

  static async start(options: FakeSlackOptions = {}): Promise<FakeSlack> {
    const server = createServer();
    const wss = new WebSocketServer({ server, path: "/socket" });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const fake = new FakeSlack(server, wss, port, {
      teamId: options.teamId ?? "T0FAKE",
      botUserId: options.botUserId ?? "UBOT",
      botId: options.botId ?? "BBOT",
      ...(options.validTokens ? { validTokens: options.validTokens } : {}),
    });
    for (const [id, users] of Object.entries(options.usergroups ?? {})) fake.usergroups.set(id, [...users]);
    if (options.channels) fake.channels = new Map(Object.entries(options.channels));
    if (options.scopes) {
      fake.scopes = [...options.scopes];
      fake.enforceScopes = true;
    }
    if (options.appScopes) fake.appScopes = [...options.appScopes];
    server.on("request", (req, res) => {
      fake.handleHttp(req, res).catch((err: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(err));
      });
    });
    wss.on("connection", (ws) => fake.handleSocket(ws));
    return fake;
  }

  /** Base URL for `WebClient({ slackApiUrl })`. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api/`;
  }

  /**
   * A response_url served by this fake: what is POSTed there is recorded as a call of method
   * "response_url" (args: the JSON body, plus `path`).
   */
  responseUrl(id: string | number = ++this.idCounter): string {
    return `http://127.0.0.1:${this.port}/response/${id}`;
  }

  get socketConnections(): number {
    return this.sockets.size;
  }

  callsTo(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** The next `count` calls of `method` answer HTTP 429 with `Retry-After: retryAfterSec`. */
  rateLimit(method: string, count: number, retryAfterSec: number): void {
    this.force(method, count, {
      status: 429,
      body: { ok: false, error: "ratelimited" },
      headers: { "retry-after": String(retryAfterSec) },
    });
  }

  /** The next `count` calls of `method` answer `{ ok: false, error }`. */
  failWith(method: string, error: string, count = 1): void {
    this.force(method, count, { status: 200, body: { ok: false, error } });
  }

  /** The next `count` calls of `method` answer a bare HTTP error status (e.g. 503). */
  failHttp(method: string, status: number, count = 1): void {
    this.force(method, count, { status, body: "upstream error" });
  }

  /**
   * Resolves with the first call matching `predicate`, including calls already recorded (so a test can
   * not miss one that arrived before it started waiting).
   */
  waitForCall(predicate: (c: RecordedCall) => boolean, timeoutMs = 5_000): Promise<RecordedCall> {
    const seen = this.calls.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (c: RecordedCall) => {
          clearTimeout(timer);
          resolve(c);
        },
      };
      const timer = setTimeout(() => {
        const i = this.callWaiters.indexOf(waiter);
        if (i >= 0) this.callWaiters.splice(i, 1);
        reject(new Error(`fake-slack: no matching call within ${timeoutMs} ms`));
      }, timeoutMs);
      this.callWaiters.push(waiter);
    });
  }

  /** Resolves once at least one Socket Mode client is connected (and has been sent `hello`). */
  waitForSocketConnection(timeoutMs = 5_000): Promise<void> {
    if (this.sockets.size > 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`fake-slack: no socket connection within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.connectionWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Sends a Socket Mode envelope to the connected app and resolves when the app acks it (the ack's
   * payload and time are recorded in `acks`).
   */
  sendEnvelope(
    type: "slash_commands" | "interactive" | "events_api",
    payload: Record<string, unknown>,
    opts: { envelopeId?: string; retryAttempt?: number; timeoutMs?: number } = {},
  ): Promise<EnvelopeAck> {
    const socket = [...this.sockets].at(-1);
    if (!socket) return Promise.reject(new Error("fake-slack: no Socket Mode client connected"));
    const envelopeId = opts.envelopeId ?? `env-${++this.idCounter}`;
    const timeoutMs = opts.timeoutMs ?? 5_000;
    const promise = new Promise<EnvelopeAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingAcks.delete(envelopeId);
        reject(new Error(`fake-slack: envelope ${envelopeId} not acked within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingAcks.set(envelopeId, {
        sentAt: Date.now(),
        resolve: (a) => {
          clearTimeout(timer);
          resolve(a);
        },
      });
    });
    socket.send(
      JSON.stringify({
        envelope_id: envelopeId,
        type,
        payload,
        accepts_response_payload: type !== "events_api",
        ...(opts.retryAttempt !== undefined
          ? { retry_attempt: opts.retryAttempt, retry_reason: "timeout" }
          : {}),
      }),
    );
    return promise;
  }

  sendSlashCommand(overrides: Partial<SlashCommandPayload> = {}): Promise<EnvelopeAck> {
    return this.sendEnvelope("slash_commands", { ...slashCommandPayload(overrides) });
  }

  sendBlockAction(overrides: BlockActionOverrides = {}): Promise<EnvelopeAck> {
    return this.sendEnvelope("interactive", blockActionsPayload(overrides));
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- internals ----

  private force(method: string, count: number, answer: Answer): void {
    const list = this.forced.get(method) ?? [];
    list.push({ remaining: count, answer });
    this.forced.set(method, list);
  }

  private takeForced(method: string): Answer | null {
    const list = this.forced.get(method);
    const head = list?.[0];
    if (!list || !head) return null;
    head.remaining -= 1;
    if (head.remaining <= 0) list.shift();
    return head.answer;
  }

  private nextTs(): string {
    this.tsCounter += 1;
    return `1700000000.${String(this.tsCounter).padStart(6, "0")}`;
  }

  private record(call: RecordedCall): void {
    this.calls.push(call);
    for (const w of [...this.callWaiters]) {
      if (w.predicate(call)) {
        this.callWaiters.splice(this.callWaiters.indexOf(w), 1);
        w.resolve(call);
      }
    }
  }

  private async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const raw = await readBody(req);
    const contentType = req.headers["content-type"] ?? "";
    const auth = req.headers.authorization;
    const headerToken = typeof auth === "string" && auth.startsWith("Bearer ") ? auth.slice(7) : null;

    if (url.pathname.startsWith("/upload/")) {
      const fileId = url.pathname.slice("/upload/".length);
      const pending = this.pendingUploads.get(fileId);
      const fields = await parseMultipart(raw, contentType);
      const file = fields.files.values().next().value;
      this.uploads.push({
        fileId,
        filename: pending?.filename ?? "unknown",
        content: file ?? raw.toString("utf8"),
        token: headerToken,
      });
      this.record({ method: "upload", args: { fileId }, token: headerToken, status: 200, at: Date.now() });
      res.writeHead(pending ? 200 : 404, { "content-type": "text/plain" });
      res.end(pending ? `OK - ${raw.length}` : "unknown upload");
      return;
    }

    if (url.pathname.startsWith("/response/")) {
      const args = { ...(await parseArgs(raw, contentType)), path: url.pathname };
      this.record({ method: "response_url", args, token: headerToken, status: 200, at: Date.now() });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
      return;
    }

    if (!url.pathname.startsWith("/api/")) {
      res.writeHead(404);
      res.end();
      return;
    }
    const method = url.pathname.slice("/api/".length);
    const args = await parseArgs(raw, contentType);
    const token = headerToken ?? (typeof args.token === "string" ? args.token : null);
    const answer = this.takeForced(method) ?? this.answer(method, args, token);
    this.record({ method, args, token, status: answer.status, at: Date.now() });
    const isJson = typeof answer.body !== "string";
    // Slack names the token's scopes on every Web API answer.
    const scopes = token?.startsWith("xapp-") ? this.appScopes : token ? this.scopes : null;
    res.writeHead(answer.status, {
      "content-type": isJson ? "application/json; charset=utf-8" : "text/plain",
      ...(scopes ? { "x-oauth-scopes": scopes.join(",") } : {}),
      ...answer.headers,
    });
    res.end(isJson ? JSON.stringify(answer.body) : answer.body);
  }

  private answer(method: string, args: Record<string, unknown>, token: string | null): Answer {
    const ok = (body: Record<string, unknown>): Answer => ({ status: 200, body: { ok: true, ...body } });
    const err = (error: string): Answer => ({ status: 200, body: { ok: false, error } });
    if (method === "apps.connections.open") {
      if (!token?.startsWith("xapp-")) return err("not_allowed_token_type");
      return ok({ url: `ws://127.0.0.1:${this.port}/socket?ticket=${++this.idCounter}` });
    }
    if (!token) return err("not_authed");
    if (this.options.validTokens && !this.options.validTokens.includes(token)) return err("invalid_auth");
    const str = (k: string): string | null => (typeof args[k] === "string" ? (args[k] as string) : null);
    const needed = METHOD_SCOPES[method];
    if (this.enforceScopes && needed && !this.scopes.includes(needed)) {
      return {
        status: 200,
        body: { ok: false, error: "missing_scope", needed, provided: this.scopes.join(",") },
      };
    }
    switch (method) {
      case "auth.test":
        return ok({
          url: "https://fake.slack.test/",
          team: "Fake",
          user: "xenops",
          team_id: this.options.teamId,
          user_id: this.options.botUserId,
          bot_id: this.options.botId,
        });
      case "chat.postMessage": {
        const channel = str("channel");
        if (!channel) return err("channel_not_found");
        if (this.channels?.get(channel)?.member === false) return err("not_in_channel");
        const refused = this.enforceMessageLimits ? messageLimitError(args) : null;
        if (refused) return err(refused);
        const ts = this.nextTs();
        const message: PostedMessage = {
          channel,
          ts,
          text: str("text") ?? "",
          blocks: args.blocks ?? null,
          threadTs: str("thread_ts"),
          updates: 0,
        };
        this.messages.set(`${channel}/${ts}`, message);
        return ok({
          channel,
          ts,
          message: { type: "message", text: message.text, ts, bot_id: this.options.botId },
        });
      }
      case "chat.update": {
        const channel = str("channel");
        const ts = str("ts");
        const message = channel && ts ? this.messages.get(`${channel}/${ts}`) : undefined;
        if (!message) return err("message_not_found");
        const refusedEdit = this.enforceMessageLimits ? messageLimitError(args) : null;
        if (refusedEdit) return err(refusedEdit);
        message.text = str("text") ?? message.text;
        message.blocks = args.blocks ?? message.blocks;
        message.updates += 1;
        return ok({ channel, ts, text: message.text });
      }
      case "chat.postEphemeral":
        if (!str("channel") || !str("user")) return err("channel_not_found");
        if (this.enforceMessageLimits && messageLimitError(args))
          return err(messageLimitError(args) as string);
        return ok({ message_ts: this.nextTs() });
      case "usergroups.users.list": {
        const id = str("usergroup");
        const users = id ? this.usergroups.get(id) : undefined;
        return users ? ok({ users }) : err("no_such_subteam");
      }
      case "users.info": {
        const user = str("user");
        if (!user) return err("user_not_found");
        return ok({
          user: {
            id: user,
            name: user.toLowerCase(),
            real_name: `User ${user}`,
            deleted: false,
            is_bot: false,
          },
        });
      }
      case "conversations.info": {
        const channel = str("channel");
        if (!channel) return err("channel_not_found");
        const known = this.channels ? this.channels.get(channel) : {};
        if (!known) return err("channel_not_found");
        const scope = known.private ? "groups:read" : "channels:read";
        if (this.enforceScopes && !this.scopes.includes(scope)) {
          return { status: 200, body: { ok: false, error: "missing_scope", needed: scope } };
        }
        // Slack hides private channels the bot is not in.
        if (known.private && known.member === false) return err("channel_not_found");
        return ok({
          channel: {
            id: channel,
            name: known.name ?? `chan-${channel.toLowerCase()}`,
            is_channel: !known.private,
            is_private: known.private === true,
            is_archived: known.archived === true,
            is_member: known.member !== false,
          },
        });
      }
      case "files.getUploadURLExternal": {
        const fileId = `F${String(++this.idCounter).padStart(6, "0")}`;
        this.pendingUploads.set(fileId, { filename: str("filename") ?? "untitled" });
        return ok({ upload_url: `http://127.0.0.1:${this.port}/upload/${fileId}`, file_id: fileId });
      }
      case "files.completeUploadExternal": {
        const files = Array.isArray(args.files) ? (args.files as { id?: string; title?: string }[]) : [];
        if (files.length === 0 || files.some((f) => !f.id || !this.pendingUploads.has(f.id)))
          return err("invalid_arguments");
        return ok({ files: files.map((f) => ({ id: f.id, title: f.title ?? null })) });
      }
      case "views.open":
      case "views.update":
      case "views.publish":
        return this.handleViews(method, args);
      default:
        return err("unknown_method");
    }
  }

  /** views.open / views.update / views.publish as Slack answers them (ids, hashes, hash conflicts). */
  private handleViews(method: string, args: Record<string, unknown>): Answer {
    const ok = (body: Record<string, unknown>): Answer => ({ status: 200, body: { ok: true, ...body } });
    const err = (error: string): Answer => ({ status: 200, body: { ok: false, error } });
    const view = typeof args.view === "string" ? safeJson(args.view) : args.view;
    if (typeof view !== "object" || view === null) return err("invalid_arguments");
    const v = view as Record<string, unknown>;
    if (method === "views.publish") {
      const user = typeof args.user_id === "string" ? args.user_id : null;
      if (!user || v.type !== "home") return err("invalid_arguments");
      this.homeTabs.set(user, v);
      return ok({ view: { ...v, id: `VH${user}` } });
    }
    if (v.type !== "modal") return err("invalid_arguments");
    const hash = `h${++this.idCounter}`;
    if (method === "views.open") {
      if (typeof args.trigger_id !== "string") return err("invalid_trigger_id");
      const id = `V${String(++this.idCounter).padStart(8, "0")}`;
      this.views.set(id, { id, hash, view: v, updates: 0 });
      return ok({ view: { ...v, id, hash } });
    }
    const id = typeof args.view_id === "string" ? args.view_id : "";
    const known = this.views.get(id);
    if (!known) return err("not_found");
    if (typeof args.hash === "string" && args.hash !== known.hash) return err("hash_conflict");
    known.view = v;
    known.hash = hash;
    known.updates += 1;
    return ok({ view: { ...v, id, hash } });
  }

  /** The `view` of an interactive payload: the stored view with its inputs' current values. */
  private viewPayload(viewId: string, chosen: Record<string, string | string[]>): Record<string, unknown> {
    const known = this.views.get(viewId);
    if (!known) throw new Error(`fake-slack: no view ${viewId}`);
    return {
      id: viewId,
      hash: known.hash,
      ...known.view,
      state: { values: inputValues(known.view, chosen) },
    };
  }

  /**
   * A user changes the modal's input `field` (select, checkboxes, text): a block_actions payload from the
   * view, as Slack sends it for `dispatch_action` inputs. `chosen` are the inputs' values (by field, the
   * block id before its first dot); the others keep their initial values. A button is named by action id.
   */
  sendViewAction(
    viewId: string,
    o: { field?: string; actionId?: string; userId: string; chosen?: Record<string, string | string[]> },
  ): Promise<EnvelopeAck> {
    const chosen = o.chosen ?? {};
    const view = this.viewPayload(viewId, chosen);
    const blocks = (view.blocks as { block_id?: string; type?: string }[] | undefined) ?? [];
    const block = o.field ? blocks.find((b) => b.block_id?.split(".")[0] === o.field) : undefined;
    const actionId = o.actionId ?? `xenops-form:${o.field ?? ""}`;
    return this.sendEnvelope("interactive", {
      type: "block_actions",
      user: {
        id: o.userId,
        username: o.userId.toLowerCase(),
        name: o.userId.toLowerCase(),
        team_id: "T0FAKE",
      },
      api_app_id: "AFAKE",
      token: "legacy-verification-token",
      container: { type: "view", view_id: viewId },
      trigger_id: nextTriggerId(),
      team: { id: "T0FAKE", domain: "fake" },
      is_enterprise_install: false,
      view,
      actions: [
        {
          type: o.field ? "static_select" : "button",
          action_id: actionId,
          block_id: block?.block_id ?? "b1",
          action_ts: "1700000001.000000",
          ...(o.field ? {} : { value: "preflight" }),
        },
      ],
    });
  }

  /** The user presses the modal's submit button: a view_submission payload. */
  sendViewSubmission(
    viewId: string,
    o: { userId: string; chosen?: Record<string, string | string[]> },
  ): Promise<EnvelopeAck> {
    return this.sendEnvelope("interactive", {
      type: "view_submission",
      team: { id: "T0FAKE", domain: "fake" },
      user: {
        id: o.userId,
        username: o.userId.toLowerCase(),
        name: o.userId.toLowerCase(),
        team_id: "T0FAKE",
      },
      api_app_id: "AFAKE",
      token: "legacy-verification-token",
      trigger_id: nextTriggerId(),
      view: this.viewPayload(viewId, o.chosen ?? {}),
      is_enterprise_install: false,
    });
  }

  /** An Events API event (e.g. `app_home_opened`) over Socket Mode. */
  sendEvent(event: Record<string, unknown>): Promise<EnvelopeAck> {
    return this.sendEnvelope("events_api", {
      token: "legacy-verification-token",
      team_id: "T0FAKE",
      api_app_id: "AFAKE",
      type: "event_callback",
      event_id: `Ev${++this.idCounter}`,
      event_time: Math.floor(Date.now() / 1000),
      event,
    });
  }

  private handleSocket(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on("close", () => this.sockets.delete(ws));
    ws.on("message", (data) => {
      let msg: { envelope_id?: unknown; payload?: unknown };
      try {
        msg = JSON.parse(String(data)) as typeof msg;
      } catch {
        return;
      }
      if (typeof msg.envelope_id !== "string") return;
      const pending = this.pendingAcks.get(msg.envelope_id);
      const ack: EnvelopeAck = {
        envelopeId: msg.envelope_id,
        payload: (msg.payload as Record<string, unknown> | undefined) ?? {},
        sentAt: pending?.sentAt ?? Number.NaN,
        ackedAt: Date.now(),
      };
      this.acks.push(ack);
      if (pending) {
        this.pendingAcks.delete(msg.envelope_id);
        pending.resolve(ack);
      }
    });
    ws.send(
      JSON.stringify({
        type: "hello",
        num_connections: this.sockets.size,
        debug_info: { host: "fake-slack", approximate_connection_time: 3600 },
        connection_info: { app_id: "AFAKE" },
      }),
    );
    for (const w of this.connectionWaiters.splice(0)) w();
  }
}

// ---- payload builders (shared by Socket Mode and HTTP tests) ----

export interface SlashCommandPayload {
  token: string;
  team_id: string;
  team_domain: string;
  channel_id: string;
  channel_name: string;
  user_id: string;
  user_name: string;
  command: string;
  text: string;
  api_app_id: string;
  is_enterprise_install: string;
  response_url: string;
  trigger_id: string;
}

let triggerCounter = 0;
function nextTriggerId(): string {
  triggerCounter += 1;
  return `${1000 + triggerCounter}.4242.abcdef${triggerCounter}`;
}

export function slashCommandPayload(overrides: Partial<SlashCommandPayload> = {}): SlashCommandPayload {
  return {
    token: "legacy-verification-token",
    team_id: "T0FAKE",
    team_domain: "fake",
    channel_id: "C0OPS",
    channel_name: "ops",
    user_id: "U0ALICE",
    user_name: "alice",
    command: "/xen",
    text: "status",
    api_app_id: "AFAKE",
    is_enterprise_install: "false",
    response_url: "https://hooks.slack.test/commands/T0FAKE/1/abc",
    trigger_id: nextTriggerId(),
    ...overrides,
  };
}

export interface BlockActionOverrides {
  actionId?: string;
  value?: string;
  userId?: string;
  channelId?: string;
  messageTs?: string;
  triggerId?: string;
}

export function blockActionsPayload(o: BlockActionOverrides = {}): Record<string, unknown> {
  const channelId = o.channelId ?? "C0OPS";
  const messageTs = o.messageTs ?? "1700000000.000001";
  const actionId = o.actionId ?? "xenops:approve";
  return {
    type: "block_actions",
    user: { id: o.userId ?? "U0ALICE", username: "alice", name: "alice", team_id: "T0FAKE" },
    api_app_id: "AFAKE",
    token: "legacy-verification-token",
    container: { type: "message", message_ts: messageTs, channel_id: channelId, is_ephemeral: false },
    trigger_id: o.triggerId ?? nextTriggerId(),
    team: { id: "T0FAKE", domain: "fake" },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: channelId, name: "ops" },
    message: { type: "message", ts: messageTs, text: "approval needed", user: "UBOT", bot_id: "BBOT" },
    state: { values: {} },
    response_url: "https://hooks.slack.test/actions/T0FAKE/1/abc",
    actions: [
      {
        type: "button",
        action_id: actionId,
        block_id: "b1",
        text: { type: "plain_text", text: "Approve", emoji: true },
        value: o.value ?? "job-1",
        action_ts: "1700000001.000000",
      },
    ],
  };
}

/** Slack's request signature: `v0=` + HMAC-SHA256(secret, `v0:${timestamp}:${body}`). */
export function signSlackRequest(signingSecret: string, body: string, timestampSec: number): string {
  return `v0=${createHmac("sha256", signingSecret).update(`v0:${timestampSec}:${body}`).digest("hex")}`;
}

// ---- Slack's message limits, as the real platform enforces them ----

/**
 * Where Slack refused a card whose blocks were all within their documented limits: 14.0k characters of
 * blocks JSON was refused, about 12k is the observed edge.
 */
export const SLACK_BLOCKS_JSON_LIMIT = 12_000;

type TextLike = { type?: unknown; text?: unknown };
const textLength = (t: unknown): number =>
  typeof t === "object" && t !== null && typeof (t as TextLike).text === "string"
    ? ((t as TextLike).text as string).length
    : 0;

/** The error Slack answers for these chat.* arguments, or null when it accepts them. */
export function messageLimitError(args: Record<string, unknown>): string | null {
  const text = typeof args.text === "string" ? args.text : "";
  if (text.length > 40_000) return "msg_too_long";
  const blocks = args.blocks;
  if (blocks === undefined || blocks === null || blocks === "") return null;
  if (!Array.isArray(blocks)) return "invalid_blocks_format";
  if (blocks.length > 50) return "invalid_blocks";
  for (const raw of blocks) {
    const b = raw as Record<string, unknown>;
    if (typeof b.block_id === "string" && b.block_id.length > 255) return "invalid_blocks";
    switch (b.type) {
      case "header":
        if (textLength(b.text) > 150) return "invalid_blocks";
        break;
      case "section": {
        if (textLength(b.text) > 3_000) return "invalid_blocks";
        const fields = Array.isArray(b.fields) ? b.fields : [];
        if (fields.length > 10 || fields.some((f) => textLength(f) > 2_000)) return "invalid_blocks";
        if (b.text === undefined && fields.length === 0) return "invalid_blocks";
        break;
      }
      case "context": {
        const elements = Array.isArray(b.elements) ? b.elements : [];
        if (elements.length === 0 || elements.length > 10 || elements.some((e) => textLength(e) > 3_000))
          return "invalid_blocks";
        break;
      }
      case "actions": {
        const elements = Array.isArray(b.elements) ? (b.elements as Record<string, unknown>[]) : [];
        if (elements.length === 0 || elements.length > 25) return "invalid_blocks";
        for (const e of elements) {
          if (textLength(e.text) > 75) return "invalid_blocks";
          if (typeof e.value === "string" && e.value.length > 2_000) return "invalid_blocks";
          if (typeof e.action_id === "string" && e.action_id.length > 255) return "invalid_blocks";
        }
        break;
      }
      case "divider":
        break;
      default:
        return "invalid_blocks";
    }
  }
  if (JSON.stringify(blocks).length > SLACK_BLOCKS_JSON_LIMIT) return "msg_blocks_too_long";
  return null;
}

// ---- body parsing ----

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Decodes values that WebClient JSON-encoded into form fields (blocks, files, ...). */
function decodeField(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const t = value.trim();
  if ((t.startsWith("[") && t.endsWith("]")) || (t.startsWith("{") && t.endsWith("}"))) {
    try {
      return JSON.parse(t);
    } catch {
      return value;
    }
  }
  return value;
}

async function parseArgs(raw: Buffer, contentType: string): Promise<Record<string, unknown>> {
  const text = raw.toString("utf8");
  if (contentType.startsWith("application/json")) {
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }
  if (contentType.startsWith("multipart/form-data")) {
    return (await parseMultipart(raw, contentType)).fields;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parseQuery(text))) out[k] = decodeField(Array.isArray(v) ? v[0] : v);
  return out;
}

async function parseMultipart(
  raw: Buffer,
  contentType: string,
): Promise<{ fields: Record<string, unknown>; files: Map<string, string> }> {
  const fields: Record<string, unknown> = {};
  const files = new Map<string, string>();
  if (!contentType.startsWith("multipart/form-data")) return { fields, files };
  // Node's fetch Response can parse multipart bodies: no extra dependency needed.
  const form = await new Response(raw, { headers: { "content-type": contentType } }).formData();
  for (const [k, v] of form.entries()) {
    if (typeof v === "string") fields[k] = decodeField(v);
    else files.set(k, await v.text());
  }
  return { fields, files };
}

// ---- modals (views.open / views.update / view_submission) ----

export interface FakeView {
  id: string;
  hash: string;
  view: Record<string, unknown>;
  updates: number;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

type InputBlock = { type?: string; block_id?: string; element?: Record<string, unknown> };

/** `view.state.values` as Slack builds it: every input's current value, keyed by block and action id. */
function inputValues(
  view: Record<string, unknown>,
  chosen: Record<string, string | string[]>,
): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const b of (view.blocks as InputBlock[] | undefined) ?? []) {
    if (b.type !== "input" || !b.block_id || !b.element) continue;
    const el = b.element;
    const field = b.block_id.split(".")[0] ?? "";
    const given = chosen[field];
    const actionId = String(el.action_id ?? "a");
    const opt = (value: string) => ({ text: { type: "plain_text", text: value }, value });
    if (el.type === "checkboxes") {
      const initial = ((el.initial_options as { value: string }[] | undefined) ?? []).map((o) => o.value);
      const values =
        given === undefined ? initial : Array.isArray(given) ? given : given.split(" ").filter(Boolean);
      out[b.block_id] = { [actionId]: { type: "checkboxes", selected_options: values.map(opt) } };
    } else if (el.type === "plain_text_input") {
      const value = given === undefined ? ((el.initial_value as string | undefined) ?? null) : String(given);
      out[b.block_id] = { [actionId]: { type: "plain_text_input", value } };
    } else {
      const initial = (el.initial_option as { value: string } | undefined)?.value;
      const value = given === undefined ? initial : String(given);
      out[b.block_id] = { [actionId]: { type: el.type, selected_option: value ? opt(value) : null } };
    }
  }
  return out;
}
