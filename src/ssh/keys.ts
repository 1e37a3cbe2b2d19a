/** Key generation and reading for the lab and tests (production keys come from the operator). */
import ssh2 from "ssh2";
import { XenopsError } from "../errors";
import { fingerprintOfBlob } from "./hostkey";

export type GeneratedKeyType = "ed25519" | "ecdsa" | "rsa";

export interface GeneratedKeyPair {
  /** OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`). */
  privateKey: string;
  /** authorized_keys form: `ssh-ed25519 AAAA... comment`. */
  publicKey: string;
  /** `SHA256:...` of the public key, as ssh-keygen -lf prints it. */
  fingerprint: string;
}

export interface GenerateKeyOptions {
  comment?: string;
  /** Encrypts the private key (bcrypt KDF, aes256-ctr), like `ssh-keygen -N`. */
  passphrase?: string;
}

export function generateKeyPair(
  type: GeneratedKeyType = "ed25519",
  options: GenerateKeyOptions = {},
): GeneratedKeyPair {
  const comment = options.comment ?? "xenops";
  const encryption =
    options.passphrase !== undefined
      ? { passphrase: options.passphrase, cipher: "aes256-ctr", rounds: 16 }
      : {};
  // ssh2's generator drops a leading zero byte of an ed25519 key about once in 200 keys, giving a
  // key it then cannot read; such a pair is discarded and generated again.
  for (let attempt = 1; ; attempt++) {
    const pair =
      type === "ed25519"
        ? ssh2.utils.generateKeyPairSync("ed25519", { comment, ...encryption })
        : type === "ecdsa"
          ? ssh2.utils.generateKeyPairSync("ecdsa", { bits: 256, comment, ...encryption })
          : ssh2.utils.generateKeyPairSync("rsa", { bits: 2048, comment, ...encryption });
    const publicKey = pair.public.trim();
    const privateOk = !(ssh2.utils.parseKey(pair.private, options.passphrase) instanceof Error);
    if (privateOk && !(ssh2.utils.parseKey(publicKey) instanceof Error))
      return { privateKey: pair.private, publicKey, fingerprint: fingerprintOfPublicKeyText(publicKey) };
    if (attempt >= 10) throw new XenopsError("internal", "could not generate a readable key pair");
  }
}

function fingerprintOfPublicKeyText(publicKey: string): string {
  const parsed = ssh2.utils.parseKey(publicKey);
  if (parsed instanceof Error)
    throw new XenopsError("internal", `generated key unreadable: ${parsed.message}`);
  return fingerprintOfBlob(parsed.getPublicSSH());
}

/**
 * Reads a private key (OpenSSH or PEM) and returns its public half as an authorized_keys line and
 * its fingerprint. Errors never include key material.
 */
export function publicKeyOf(
  privateKey: string,
  passphrase?: string,
): { publicKey: string; fingerprint: string; type: string } {
  const parsed = ssh2.utils.parseKey(privateKey, passphrase);
  if (parsed instanceof Error) {
    throw new XenopsError("invalid_argument", `cannot read private key: ${parsed.message}`);
  }
  const key = Array.isArray(parsed) ? (parsed[0] as typeof parsed) : parsed;
  if (!key.isPrivateKey())
    throw new XenopsError("invalid_argument", "cannot read private key: this is a public key");
  const blob = key.getPublicSSH();
  return {
    publicKey: `${key.type} ${blob.toString("base64")}`,
    fingerprint: fingerprintOfBlob(blob),
    type: key.type,
  };
}
