// Generated key pairs must be real: ssh-keygen derives the same public key from the private one.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateEd25519KeyPair } from "../../fixtures/lambda-emulator";
import { checkOpenSshPublicKey } from "../../fixtures/lambda-emulator/ssh-keys";

const dir = mkdtempSync(path.join(tmpdir(), "lambda-emu-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sshKeygenPublicFrom(privateKey: string): string {
  const file = path.join(dir, `id_${Math.random().toString(16).slice(2)}`);
  writeFileSync(file, privateKey, { mode: 0o600 });
  try {
    return execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" }).trim();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") throw new Error("ssh-keygen not found: install openssh-client (CI must provide it)");
    throw e;
  }
}

describe("ed25519 key generation", () => {
  it("produces an OpenSSH private key that ssh-keygen accepts and that matches the public key", () => {
    for (let i = 0; i < 5; i++) {
      const pair = generateEd25519KeyPair(`key-${i}`);
      expect(pair.privateKey.startsWith("-----BEGIN OPENSSH PRIVATE KEY-----\n")).toBe(true);
      const derived = sshKeygenPublicFrom(pair.privateKey);
      expect(derived.split(" ").slice(0, 2)).toEqual(pair.publicKey.split(" ").slice(0, 2));
      expect(pair.publicKey.endsWith(` key-${i}`)).toBe(true);
    }
  });

  it("two pairs differ", () => {
    expect(generateEd25519KeyPair("a").publicKey).not.toBe(generateEd25519KeyPair("a").publicKey);
  });
});

describe("public key check", () => {
  it("accepts keys ssh-keygen writes", () => {
    expect(checkOpenSshPublicKey(generateEd25519KeyPair("x").publicKey)).toBeUndefined();
  });
  it.each([
    ["", /expected/],
    ["ssh-ed25519", /expected/],
    ["ssh-dss AAAAB3NzaC1kc3M=", /unsupported key type/],
    ["ssh-ed25519 !!!notbase64", /not base64/],
    [`ssh-rsa ${generateEd25519KeyPair("x").publicKey.split(" ")[1]}`, /does not match/],
  ])("rejects %j", (line, reason) => {
    expect(checkOpenSshPublicKey(line)).toMatch(reason);
  });
});
