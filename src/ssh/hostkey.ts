/**
 * Host key pinning. Nodes are pinned by the SHA256 fingerprint of their host key (what
 * `ssh-keygen -lf` prints) or by a known_hosts line; there is no trust-on-first-use.
 */
import { createHash } from "node:crypto";
import { XenopsError } from "../errors";

/** `SHA256:` + unpadded base64 of the SHA-256 of the public key blob, exactly like ssh-keygen -lf. */
export function fingerprintOfBlob(blob: Uint8Array): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The key type written at the start of an SSH public key blob (RFC 4253 `string`), if readable. */
export function keyTypeOfBlob(blob: Uint8Array): string | undefined {
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (buf.length < 4) return undefined;
  const len = buf.readUInt32BE(0);
  if (len === 0 || len > 64 || buf.length < 4 + len) return undefined;
  const type = buf.toString("latin1", 4, 4 + len);
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}

function decodeKeyBase64(b64: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new XenopsError("invalid_argument", `${what}: the key is not base64`);
  }
  const blob = Buffer.from(b64, "base64");
  // Node ignores trailing garbage in base64; a round trip proves the text was a whole key.
  if (blob.toString("base64").replace(/=+$/, "") !== b64.replace(/=+$/, "")) {
    throw new XenopsError("invalid_argument", `${what}: the key is not valid base64`);
  }
  return blob;
}

/** Parses an OpenSSH public key line (`ssh-ed25519 AAAA... comment`) into its blob. */
export function parsePublicKeyLine(line: string): { keyType: string; blob: Buffer; comment: string } {
  const fields = line.trim().split(/\s+/);
  const [keyType, b64] = fields;
  if (!keyType || !b64)
    throw new XenopsError("invalid_argument", "public key: expected `TYPE BASE64 [comment]`");
  const blob = decodeKeyBase64(b64, "public key");
  const inner = keyTypeOfBlob(blob);
  if (inner !== keyType) {
    throw new XenopsError(
      "invalid_argument",
      `public key: says ${keyType} but the key is ${inner ?? "unreadable"}`,
    );
  }
  return { keyType, blob, comment: fields.slice(2).join(" ") };
}

/** SHA256 fingerprint of an OpenSSH public key line. */
export function fingerprintOfPublicKey(line: string): string {
  return fingerprintOfBlob(parsePublicKeyLine(line).blob);
}

export interface HostKeyPin {
  kind: "fingerprint" | "known_hosts";
  /** Normalized `SHA256:...` without padding. */
  fingerprint: string;
  /** Key type from a known_hosts line (e.g. ssh-ed25519); unknown for a bare fingerprint. */
  keyType?: string;
  /** Host patterns of a known_hosts line (`host`, `[host]:port`); informational only. */
  hosts?: string[];
  /** The known_hosts line had hashed host names (`|1|salt|hash`): only the key is used. */
  hashedHosts?: boolean;
}

const FINGERPRINT = /^SHA256:([A-Za-z0-9+/]{43})=?$/;

/**
 * Parses a pin: `SHA256:...` or a known_hosts line (`host[,host...] TYPE BASE64 [comment]`,
 * `[host]:port ...`, or hashed `|1|salt|hash ...`). Marker lines (@cert-authority, @revoked) are
 * refused: a pin must name the node's own host key. Host names are not checked against the node
 * address: the pin is already per node, and the key is what matters.
 */
export function parseHostKeyPin(pin: string): HostKeyPin {
  const text = pin.trim();
  const fp = FINGERPRINT.exec(text);
  if (fp) return { kind: "fingerprint", fingerprint: `SHA256:${fp[1]}` };
  if (text.startsWith("SHA256:")) {
    throw new XenopsError("invalid_argument", "host key pin: a SHA256 fingerprint has 43 base64 characters");
  }
  if (text.startsWith("@")) {
    throw new XenopsError(
      "invalid_argument",
      "host key pin: known_hosts marker lines (@cert-authority, @revoked) cannot pin a host key",
    );
  }
  const fields = text.split(/\s+/);
  const [hostField, keyType, b64] = fields;
  if (!hostField || !keyType || !b64) {
    throw new XenopsError(
      "invalid_argument",
      "host key pin: expected `SHA256:...` or a known_hosts line `host keytype base64`",
    );
  }
  const blob = decodeKeyBase64(b64, "host key pin");
  const inner = keyTypeOfBlob(blob);
  if (inner !== keyType) {
    throw new XenopsError(
      "invalid_argument",
      `host key pin: the line says ${keyType} but the key is ${inner ?? "unreadable"}`,
    );
  }
  const hosts = hostField.split(",").filter((h) => h.length > 0);
  return {
    kind: "known_hosts",
    fingerprint: fingerprintOfBlob(blob),
    keyType,
    hosts,
    hashedHosts: hosts.some((h) => h.startsWith("|1|")),
  };
}

export interface HostKeyVerification {
  ok: boolean;
  expected: string;
  actual: string;
  /** Type of the presented key (helps when a fingerprint of another key type was pinned). */
  actualKeyType: string | undefined;
}

/** Compares the key a server presented (raw blob) with the pin. */
export function verifyHostKey(pin: string | HostKeyPin, presentedKeyBlob: Uint8Array): HostKeyVerification {
  const parsed = typeof pin === "string" ? parseHostKeyPin(pin) : pin;
  const actual = fingerprintOfBlob(presentedKeyBlob);
  return {
    ok: actual === parsed.fingerprint,
    expected: parsed.fingerprint,
    actual,
    actualKeyType: keyTypeOfBlob(presentedKeyBlob),
  };
}

/**
 * Host key algorithms to offer so the server presents the pinned key type (a server usually has
 * several host keys). Undefined: keep the client's default order (ed25519 first).
 */
export function hostKeyAlgorithmsFor(keyType: string | undefined): string[] | undefined {
  switch (keyType) {
    case "ssh-ed25519":
    case "ecdsa-sha2-nistp256":
    case "ecdsa-sha2-nistp384":
    case "ecdsa-sha2-nistp521":
    case "ssh-dss":
      return [keyType];
    case "ssh-rsa":
      // One RSA key serves all three signature algorithms.
      return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];
    default:
      return undefined;
  }
}
