/**
 * Contracts between the chat front ends (Slack via Bolt, the console) and the command core.
 * Front ends translate their events into these shapes; the core never imports Bolt.
 */
import type { MessageDocument } from "../message/document";

/** A `/xen ...` invocation. */
export interface CommandRequest {
  source: "slack" | "console";
  /** Identifies one delivery: Slack's trigger_id (same on retries), or the console's line id. */
  deliveryId: string;
  teamId: string | null;
  channelId: string;
  userId: string;
  /** Text after the slash command, e.g. `status lab ics1`. */
  text: string;
}

/** A button click on a message the bot posted. */
export interface ActionRequest {
  source: "slack" | "console";
  deliveryId: string;
  channelId: string;
  userId: string;
  /** The message carrying the button. */
  messageTs: string;
  actionId: string;
  value: string;
  /** Slack's `action_ts` of the click (signed with the request; the same on a replay of it). */
  actionTs?: string;
}

/** What the user sees at once (ephemeral): the ack text. */
export interface Reply {
  text: string;
  blocks?: Block[];
  /**
   * The front-end-neutral reply `text` and `blocks` were rendered from, when there is one: text front
   * ends (the console) print it instead of reading the mrkdwn. Never sent to Slack.
   */
  document?: MessageDocument;
}

/** Minimal Block Kit typing: enough to build and to render as plain text. */
export type TextObject = { type: "mrkdwn" | "plain_text"; text: string; emoji?: boolean };
export interface ButtonElement {
  type: "button";
  text: TextObject;
  action_id: string;
  value?: string;
  style?: "primary" | "danger";
}
export type Block =
  | { type: "header"; text: TextObject; block_id?: string }
  | { type: "section"; text?: TextObject; fields?: TextObject[]; block_id?: string }
  | { type: "context"; elements: TextObject[]; block_id?: string }
  | { type: "divider"; block_id?: string }
  | { type: "actions"; elements: ButtonElement[]; block_id?: string };

export interface OutboundMessage {
  /** Fallback text (notifications, screen readers); always set. */
  text: string;
  blocks?: Block[];
  /** Post as a reply in this thread. */
  threadTs?: string;
  /**
   * The full text of a message whose card shows only part of it (a long plan): Slack attaches it as a
   * file in the message's thread, once per message.
   */
  attachment?: { filename: string; title: string; content: string };
  /**
   * The front-end-neutral message the blocks were rendered from, when there is one: text front ends
   * (the console) print it instead of reading the blocks' mrkdwn. Never sent to Slack.
   */
  document?: MessageDocument;
}

export interface MessageRef {
  channel: string;
  ts: string;
}

/**
 * Where bot output goes. The Slack implementation sends through the rate-limited sender; the
 * console implementation prints. Failures to deliver are logged by the implementation, never thrown
 * back into Slack.
 */
export interface Notifier {
  post(channel: string, message: OutboundMessage): Promise<MessageRef | null>;
  update(ref: MessageRef, message: OutboundMessage): Promise<void>;
  postEphemeral(channel: string, user: string, message: OutboundMessage): Promise<void>;
  /** Attach a long text (full log, detail) as a file in the channel/thread. */
  upload?(
    channel: string,
    file: { filename: string; content: string; title: string; threadTs?: string },
  ): Promise<void>;
}

/** The command core as the front ends see it. Both calls must return fast (before Slack's 3 s ack). */
export interface CommandCore {
  command(request: CommandRequest): Promise<Reply>;
  action(request: ActionRequest): Promise<Reply | null>;
}

/**
 * The `/xen` form (Slack's modal; the console's `form` and `submit` lines), implemented in
 * src/forms/. Opening and changing it read stored state only (Slack's trigger_id expires in 3 s);
 * submitting files the typed command through the CommandCore, with the view id as its delivery id.
 */
export type FormField =
  | "action"
  | "cluster"
  | "subject"
  | "guest"
  | "target"
  | "node"
  | "resource"
  | "override_last_copy"
  | "options"
  | "request"
  | "confirm"
  /** The incident whose button opened the form (never shown; checked against the stored incident). */
  | "incident";

/** What the user chose so far; multi-valued fields (options, override_last_copy) are space-separated. */
export type FormValues = Partial<Record<FormField, string>>;

export interface FormPreflight {
  /** The typed command (with `--dry-run`) it was run for: stale once the form says something else. */
  command: string;
  /** null while it runs or when it did not finish in time. */
  ok: boolean | null;
  text: string;
}

/** Kept in the view's private_metadata: where the form was opened, its choices, its last preflight. */
export interface FormState {
  channelId: string;
  values: FormValues;
  preflight?: FormPreflight | null;
}

/** A Slack view (modal or home) as JSON. */
export type ViewJson = Record<string, unknown>;

export interface FormActor {
  source: "slack" | "console";
  /** Slack's view id (the console's form id): the delivery id of the submission. */
  viewId: string;
  userId: string;
  teamId: string | null;
}

export type FormSubmitResult =
  | { ok: false; errors: Partial<Record<FormField, string>>; state: FormState }
  | {
      ok: true;
      /** The typed command filed (text after `/xen`), or the incident action filed as its button. */
      command: string;
      /** Filed as an incident's button (from the form it opened), not as a typed command. */
      incident?: boolean;
      reply: Reply;
      view: ViewJson;
    };

export interface FormShown {
  state: FormState;
  view: ViewJson;
  /** What a preflight of this form is for, once it is a complete risky request; null before. */
  preflightKey?: string | null;
}

export interface FormCore {
  /** The first view (inventory and stored facts only). */
  open(channelId: string, values?: FormValues): Promise<FormShown>;
  /**
   * The view after a choice: stale choices dropped, the valid ones offered. A preflight whose `command` is
   * empty stands for "running, for what the form says now".
   */
  change(state: FormState): Promise<FormShown>;
  /** The dry run of the form's command; null when the form is not a complete risky request. */
  preflight(actor: FormActor, state: FormState): Promise<{ state: FormState; view: ViewJson } | null>;
  /** Typed confirmations checked, then the typed command filed through the command core. */
  submit(actor: FormActor, state: FormState): Promise<FormSubmitResult>;
}

/** Slack user-group membership, for authorisation on immutable IDs. */
export interface GroupDirectory {
  /** IDs of the user groups the user belongs to, from a cache kept fresh in the background. */
  groupsOf(userId: string): Promise<readonly string[]>;
}
