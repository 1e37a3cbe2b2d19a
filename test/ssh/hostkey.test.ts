import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HostKeyPin as HostKeyPinSchema } from "../../src/config/schema";
import { XenopsError } from "../../src/errors";
import {
  fingerprintOfPublicKey,
  hostKeyAlgorithmsFor,
  parseHostKeyPin,
  parsePublicKeyLine,
  verifyHostKey,
} from "../../src/ssh/hostkey";
import { generateKeyPair, publicKeyOf } from "../../src/ssh/keys";

// Vectors printed by `ssh-keygen -lf` (OpenSSH 9.2).
const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPbURRDHzWRr1cV6dWJUNpj1YGUDGeYnfb7q634ZWLbt";
const ED25519_FP = "SHA256:aWREDVYTEOjSD7ghwcWIcH/D78T9Mj3aAlfejDiwE0M";
const RSA =
  "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC1evmuqzvcrYnJONDpYURt4Yd99cG3qIH25BWvcS+15umtsNEAP55xWeAcywoPATnraNmRFZP58tEru7wnwMP8WSUEZmr+4awWfF7CkGcvGGhGtDgjuk7ugiioO4lY+oi8zcOe74/QMxsP+GR/6qlK/kLEOHkbyAXYnAcQ4VZ09Q==";
const RSA_FP = "SHA256:ny+08tTOlFoK93ffZ7unJM3MNAeD7S0HvbjgWzb8xZk";
// `ssh-keygen -H` of "[127.0.0.1]:2222 <ED25519>".
const HASHED = `|1|tK+yZMp1EqMoO/0gIbjE5MBoebo=|jofjlKn1nxo5gptKGYwzfHIb8ck= ${ED25519}`;

describe("fingerprints", () => {
  it("match ssh-keygen -lf", () => {
    expect(fingerprintOfPublicKey(`${ED25519} comment here`)).toBe(ED25519_FP);
    expect(fingerprintOfPublicKey(RSA)).toBe(RSA_FP);
  });

  it.runIf(existsSync("/usr/bin/ssh-keygen"))("match ssh-keygen -lf for generated keys of every type", () => {
    const dir = mkdtempSync(join(tmpdir(), "xenops-fp-"));
    try {
      for (const type of ["ed25519", "ecdsa", "rsa"] as const) {
        const pair = generateKeyPair(type, { comment: `t-${type}` });
        const file = join(dir, `${type}.pub`);
        writeFileSync(file, `${pair.publicKey}\n`);
        const printed = execFileSync("/usr/bin/ssh-keygen", ["-lf", file], { encoding: "utf8" }).split(
          /\s+/,
        )[1];
        expect(pair.fingerprint).toBe(printed);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuse a public key whose type field lies", () => {
    const blob = ED25519.split(" ")[1];
    expect(() => parsePublicKeyLine(`ssh-rsa ${blob}`)).toThrow(/says ssh-rsa but the key is ssh-ed25519/);
    expect(() => parsePublicKeyLine("ssh-ed25519 not*base64")).toThrow(/base64/);
  });
});

describe("parseHostKeyPin", () => {
  it("reads a fingerprint, with or without padding", () => {
    expect(parseHostKeyPin(ED25519_FP)).toEqual({ kind: "fingerprint", fingerprint: ED25519_FP });
    expect(parseHostKeyPin(`${ED25519_FP}=`).fingerprint).toBe(ED25519_FP);
  });

  it("reads known_hosts lines: plain, [host]:port, several hosts, comment, hashed", () => {
    expect(parseHostKeyPin(`node1 ${ED25519}`)).toEqual({
      kind: "known_hosts",
      fingerprint: ED25519_FP,
      keyType: "ssh-ed25519",
      hosts: ["node1"],
      hashedHosts: false,
    });
    expect(parseHostKeyPin(`[10.0.0.1]:2222 ${ED25519}`).hosts).toEqual(["[10.0.0.1]:2222"]);
    expect(parseHostKeyPin(`node1,10.0.0.1 ${RSA} root@node1`)).toMatchObject({
      fingerprint: RSA_FP,
      keyType: "ssh-rsa",
      hosts: ["node1", "10.0.0.1"],
    });
    expect(parseHostKeyPin(HASHED)).toMatchObject({ fingerprint: ED25519_FP, hashedHosts: true });
  });

  it("accepts whatever the config schema accepts, and refuses the rest with invalid_argument", () => {
    for (const pin of [ED25519_FP, `node1 ${ED25519}`, HASHED, `[h]:22 ${RSA}`]) {
      expect(HostKeyPinSchema.safeParse(pin).success).toBe(true);
      expect(() => parseHostKeyPin(pin)).not.toThrow();
    }
    for (const bad of [
      "SHA256:tooShort",
      `@cert-authority *.example ${ED25519}`,
      `@revoked node1 ${ED25519}`,
      `node1 ssh-rsa ${ED25519.split(" ")[1]}`,
      "node1 ssh-ed25519",
      "MD5:aa:bb",
    ]) {
      let error: unknown;
      try {
        parseHostKeyPin(bad);
      } catch (e) {
        error = e;
      }
      expect(error, bad).toBeInstanceOf(XenopsError);
      expect((error as XenopsError).code).toBe("invalid_argument");
    }
  });
});

describe("verifyHostKey", () => {
  const blob = Buffer.from(ED25519.split(" ")[1]!, "base64");

  it("accepts the pinned key and says what it saw", () => {
    expect(verifyHostKey(ED25519_FP, blob)).toEqual({
      ok: true,
      expected: ED25519_FP,
      actual: ED25519_FP,
      actualKeyType: "ssh-ed25519",
    });
    expect(verifyHostKey(`[127.0.0.1]:2222 ${ED25519}`, blob).ok).toBe(true);
    expect(verifyHostKey(HASHED, blob).ok).toBe(true);
  });

  it("rejects any other key, reporting both fingerprints", () => {
    expect(verifyHostKey(RSA_FP, blob)).toEqual({
      ok: false,
      expected: RSA_FP,
      actual: ED25519_FP,
      actualKeyType: "ssh-ed25519",
    });
  });

  it("offers the pinned key type so the server presents the pinned key", () => {
    expect(hostKeyAlgorithmsFor("ssh-ed25519")).toEqual(["ssh-ed25519"]);
    expect(hostKeyAlgorithmsFor("ssh-rsa")).toEqual(["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
    expect(hostKeyAlgorithmsFor(undefined)).toBeUndefined();
  });
});

describe("keys", () => {
  it("generates ed25519 pairs in authorized_keys form", () => {
    const pair = generateKeyPair("ed25519", { comment: "lab@xenops" });
    expect(pair.privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    expect(pair.publicKey).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+=* lab@xenops$/);
    expect(pair.fingerprint).toBe(fingerprintOfPublicKey(pair.publicKey));
    expect(publicKeyOf(pair.privateKey)).toEqual({
      publicKey: pair.publicKey.split(" ").slice(0, 2).join(" "),
      fingerprint: pair.fingerprint,
      type: "ssh-ed25519",
    });
  });

  it("encrypts with a passphrase, which is then needed to read the key", () => {
    const pair = generateKeyPair("ed25519", { passphrase: "correct horse" });
    expect(publicKeyOf(pair.privateKey, "correct horse").fingerprint).toBe(pair.fingerprint);
    expect(() => publicKeyOf(pair.privateKey)).toThrow(/cannot read private key/);
    expect(() => publicKeyOf(pair.privateKey, "wrong")).toThrow(/cannot read private key/);
    expect(() => publicKeyOf(pair.publicKey)).toThrow(XenopsError);
  });
});
