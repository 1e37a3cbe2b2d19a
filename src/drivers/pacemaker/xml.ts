/**
 * A small element tree over fast-xml-parser, with the source line of every element so that
 * ParseErrors can point at it. Well-formedness is checked first (XMLValidator), so any malformed
 * document is a ParseError with the validator's line.
 */
import { createHash } from "node:crypto";
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

/** Documents shorter than this are parsed every time: the cache only pays off for large ones. */
const MEMO_MIN_CHARS = 16 * 1024;
/** Two documents (status and CIB) per large cluster; a worker may serve a few dozen clusters. */
const MEMO_ENTRIES = 64;
/** Remembered results by digest of the document (less its ignored span), most recently used last. */
const memo = new Map<string, unknown>();

/**
 * `parse(text)`, remembered for the last large documents. Every node of a Pacemaker cluster prints the
 * same CIB and nearly the same crm_mon status (each the whole cluster's), so a snapshot of n nodes would
 * otherwise parse n copies of an O(n) document. `ignore` is a span of the text that differs per observer
 * and is not read (crm_mon's origin); two documents equal but for it are the same. Documents are told
 * apart by SHA-256 (hashing is ~50x cheaper than parsing, and only the digest is kept, not the text).
 * The remembered result is deeply frozen and handed out as is: copying a 100-node status on every
 * hit cost more than parsing saved, and a caller that tried to alter it would throw rather than
 * corrupt what the next caller reads. A ParseError is not remembered.
 */
export function memoParse<T>(
  kind: string,
  text: string,
  parse: (text: string) => T,
  ignore: { start: number; end: number } | null = null,
): T {
  if (text.length < MEMO_MIN_CHARS) return parse(text);
  const hash = createHash("sha256").update(kind).update("\u0000");
  if (ignore) hash.update(text.slice(0, ignore.start)).update("\u0000").update(text.slice(ignore.end));
  else hash.update(text);
  const key = hash.digest("base64");
  if (memo.has(key)) {
    const hit = memo.get(key);
    memo.delete(key);
    memo.set(key, hit);
    return hit as T;
  }
  const value = detachAndFreeze(parse(text));
  memo.set(key, value);
  if (memo.size > MEMO_ENTRIES) memo.delete(memo.keys().next().value as string);
  return value;
}

/**
 * Deeply frozen, and every string in it a copy of its own. The parser's strings are slices of the
 * document, itself usually a slice of a whole SSH batch's output: one remembered slice would keep that
 * whole text alive, so the cache would hold up to MEMO_ENTRIES batches (about 1 MB each at 100 nodes).
 */
function detachAndFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const v = record[key];
      if (typeof v === "string") {
        // Parse results are plain data: every property is a writable data property until frozen.
        if (v.length >= 13) record[key] = ownCopy(v);
      } else detachAndFreeze(v);
    }
    Object.freeze(value);
  }
  return value;
}

/**
 * A string that does not point into the text it was cut from. V8 copies substrings shorter than 13
 * characters (so they are left as they are); a longer one is a view of its parent, and concatenating
 * then slicing makes V8 flatten it into a new string of its own length first.
 */
function ownCopy(s: string): string {
  return ` ${s}`.slice(1);
}
