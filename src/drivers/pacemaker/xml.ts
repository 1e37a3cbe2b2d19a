/**
 * A small element tree over fast-xml-parser, with the source line of every element so that
 * ParseErrors can point at it. Well-formedness is checked first (XMLValidator), so any malformed
 * document is a ParseError with the validator's line.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { ParseError } from "../../errors";

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated text content directly inside the element, trimmed. */
  text: string;
  /** 1-based line where the element starts. */
  line: number;
}

type OrderedNode = Record<string, unknown>;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "",
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  captureMetaData: true,
});
const META = XMLParser.getMetaDataSymbol() as unknown as symbol;

/** The document's root element (the XML declaration, comments and processing instructions skipped). */
export function parseXml(kind: string, input: string): XmlElement {
  const bomless = input.replace(/^\uFEFF/, "");
  if (bomless.trim() === "") throw new ParseError(kind, 0, "empty input");
  const lines = bomless.split("\n");
  // An XML declaration must open the document: drop leading blank lines, but count them so that
  // reported lines still match the input.
  const lead = /^\s*/.exec(bomless)?.[0] ?? "";
  const skipped = lead.split("\n").length - 1;
  const text = bomless.slice(lead.length);
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    const line = valid.err.line + skipped;
    throw new ParseError(kind, line, `malformed XML: ${valid.err.msg}`, lines[line - 1]);
  }
  const lineStarts = [0];
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) lineStarts.push(i + 1);
  const lineOf = (index: number | undefined): number => {
    if (index === undefined) return 0;
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] ?? 0) <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1 + skipped;
  };

  const convert = (node: OrderedNode): XmlElement | null => {
    const name = Object.keys(node).find((k) => k !== ":@");
    if (name === undefined || name.startsWith("#") || name.startsWith("?") || name.startsWith("!"))
      return null;
    const body = node[name];
    const attrs = (node[":@"] ?? {}) as Record<string, string>;
    const meta = (node as Record<symbol, { startIndex?: number } | undefined>)[META];
    const children: XmlElement[] = [];
    const texts: string[] = [];
    for (const child of Array.isArray(body) ? (body as OrderedNode[]) : []) {
      if (typeof child["#text"] === "string" || typeof child["#text"] === "number")
        texts.push(String(child["#text"]));
      const el = convert(child);
      if (el) children.push(el);
    }
    return {
      name,
      attrs: { ...attrs },
      children,
      text: texts.join("").trim(),
      line: lineOf(meta?.startIndex),
    };
  };

  const roots = (parser.parse(text) as OrderedNode[]).map(convert).filter((e): e is XmlElement => e !== null);
  const [root, extra] = roots;
  if (!root) throw new ParseError(kind, 0, "no XML element found");
  if (extra) throw new ParseError(kind, extra.line, "more than one root element", lines[extra.line - 1]);
  return root;
}

export function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

export function childrenNamed(el: XmlElement | undefined, name: string): XmlElement[] {
  return el ? el.children.filter((c) => c.name === name) : [];
}
