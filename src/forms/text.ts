/** A modal view as plain text, for the console (`form` and `submit` lines) and tests. */

type Json = Record<string, unknown>;

const textOf = (t: unknown): string =>
  typeof t === "object" && t !== null && typeof (t as { text?: unknown }).text === "string"
    ? ((t as { text: string }).text as string)
    : "";

function optionValues(list: unknown): string[] {
  return Array.isArray(list) ? list.map((o) => String((o as { value?: unknown }).value ?? "")) : [];
}

/** One line per block: inputs with their choices (the chosen ones starred), sections, buttons. */
export function viewText(view: Json): string {
  const lines: string[] = [];
  const title = textOf(view.title);
  lines.push(`[${title || "view"}]`);
  for (const raw of Array.isArray(view.blocks) ? (view.blocks as Json[]) : []) {
    switch (raw.type) {
      case "input": {
        const el = (raw.element ?? {}) as Json;
        const field = String(raw.block_id ?? "").split(".")[0];
        if (el.type === "plain_text_input") {
          lines.push(`${textOf(raw.label)} (${field}=): ${textOf(raw.hint)}`);
          break;
        }
        const chosen = new Set([
          ...optionValues(el.initial_options),
          ...optionValues(el.initial_option ? [el.initial_option] : []),
        ]);
        const choices = optionValues(el.options).map((v) => (chosen.has(v) ? `*${v}` : v));
        lines.push(`${textOf(raw.label)} (${field}=): ${choices.join(" | ") || "(no choice)"}`);
        break;
      }
      case "section":
      case "header":
        lines.push(textOf(raw.text));
        break;
      case "context":
        lines.push(
          (Array.isArray(raw.elements) ? (raw.elements as unknown[]) : []).map((e) => textOf(e)).join(" "),
        );
        break;
      case "actions":
        lines.push(
          (Array.isArray(raw.elements) ? (raw.elements as Json[]) : [])
            .map((e) => `[${textOf(e.text)}]`)
            .join(" "),
        );
        break;
      default:
        break;
    }
  }
  if (view.submit) lines.push(`[${textOf(view.submit)}]`);
  return lines.join("\n");
}
