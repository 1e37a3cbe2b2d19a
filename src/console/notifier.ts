/**
 * Notifier for the console: keeps every bot message in memory (so `click` can find buttons) and
 * prints each new or updated message as plain text, buttons in brackets.
 */
import type { ButtonElement, MessageRef, Notifier, OutboundMessage } from "../chat/types";
import { renderPlainText } from "../slack/render/text";
import { renderConsole } from "./render";

/** A message rendered from a document prints from it; Block Kit built by hand is read back as text. */
function textOf(message: OutboundMessage): string {
  return message.document ? renderConsole(message.document) : renderPlainText(message);
}

export interface ConsoleMessage {
  channel: string;
  ts: string;
  threadTs: string | null;
  message: OutboundMessage;
  version: number;
}

export class ConsoleNotifier implements Notifier {
  private readonly messages = new Map<string, ConsoleMessage>();
  private seq = 0;

  constructor(
    private readonly write: (text: string) => void,
    private readonly baseTime = Math.floor(Date.now() / 1000),
  ) {}

  private nextTs(): string {
    this.seq += 1;
    return `${this.baseTime}.${String(this.seq).padStart(6, "0")}`;
  }

  private print(kind: string, entry: ConsoleMessage): void {
    const where = entry.threadTs ? ` thread ${entry.threadTs}` : "";
    const body = textOf(entry.message)
      .split("\n")
      .map((l) => `  ${l}`)
      .join("\n");
    this.write(`--- ${kind} message ${entry.ts} in ${entry.channel}${where}\n${body}\n`);
  }

  async post(channel: string, message: OutboundMessage): Promise<MessageRef> {
    const entry: ConsoleMessage = {
      channel,
      ts: this.nextTs(),
      threadTs: message.threadTs ?? null,
      message,
      version: 1,
    };
    this.messages.set(entry.ts, entry);
    this.print("new", entry);
    return { channel, ts: entry.ts };
  }

  async update(ref: MessageRef, message: OutboundMessage): Promise<void> {
    const entry = this.messages.get(ref.ts);
    if (!entry) {
      this.write(`--- update of unknown message ${ref.ts} ignored\n`);
      return;
    }
    // An edit never moves a message: it stays in the thread it was posted in (or none).
    const edited: OutboundMessage = { ...message };
    if (entry.threadTs) edited.threadTs = entry.threadTs;
    else delete edited.threadTs;
    entry.message = edited;
    entry.version += 1;
    this.print("updated", entry);
  }

  async postEphemeral(channel: string, user: string, message: OutboundMessage): Promise<void> {
    this.write(`--- only visible to ${user} in ${channel}\n${textOf(message).replace(/^/gm, "  ")}\n`);
  }

  async upload(
    channel: string,
    file: { filename: string; content: string; title: string; threadTs?: string },
  ): Promise<void> {
    this.write(`--- file ${file.filename} (${file.content.length} bytes) "${file.title}" in ${channel}\n`);
  }

  /** The newest message (by post time) carrying a button with this text. */
  findButton(text: string): { message: ConsoleMessage; button: ButtonElement } | null {
    const wanted = text.trim().toLowerCase();
    const newestFirst = [...this.messages.values()].reverse();
    for (const entry of newestFirst) {
      for (const block of entry.message.blocks ?? []) {
        if (block.type !== "actions") continue;
        const button = block.elements.find((b) => b.text.text.trim().toLowerCase() === wanted);
        if (button) return { message: entry, button };
      }
    }
    return null;
  }

  all(): readonly ConsoleMessage[] {
    return [...this.messages.values()];
  }
}
