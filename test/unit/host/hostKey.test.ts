/**
 * Host keys, pure parts: parsing keys and fingerprints (checked against `ssh-keygen -lf` itself),
 * known_hosts lines, the pin from the two settings, the cloud-init document, the generated pair, and
 * the pre-flight script run against a stand-in `ssh-keyscan` (right key, wrong key, no answer, tofu).
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import {
  hostKeyFingerprint,
  hostKeyLine,
  hostKeyPinFrom,
  knownHostsLine,
  parseFingerprint,
  parseHostPublicKey,
  renderHostKeyCheckScript,
  type HostKeyPin,
  type HostPublicKey,
} from "../../../components/host/hostKey";
import { mergeCloudConfig, renderCloudInit, sshHostKeyPart } from "../../../components/host/lambda/cloudInit";
import { generateHostKeyPair } from "../../../components/host/lambda/hostKeyPair";
import { sshExposureViolations } from "../../../components/ops/policyRules";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hgx-hostkey-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A fresh key pair from ssh-keygen: the reference implementation. */
function sshKeygen(name: string, type = "ed25519"): { pub: string; fingerprint: string; file: string } {
  const file = path.join(tmp, name);
  execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", `${name}@test`, "-f", file]);
  const pub = fs.readFileSync(`${file}.pub`, "utf8").trim();
  const fingerprint = execFileSync("ssh-keygen", ["-lf", `${file}.pub`], { encoding: "utf8" }).split(" ")[1]!;
  return { pub, fingerprint, file };
}

function key(line: string): HostPublicKey {
  const k = parseHostPublicKey(line);
  if ("problem" in k) throw new Error(k.problem);
  return k;
}

describe("host public keys and fingerprints", () => {
  const ed = sshKeygen("ed");
  const ecdsa = sshKeygen("ec", "ecdsa");

  it("parses key lines and computes the fingerprint ssh-keygen -lf prints", () => {
    for (const k of [ed, ecdsa]) {
      const parsed = key(k.pub);
      expect(hostKeyLine(parsed)).toBe(k.pub.split(" ").slice(0, 2).join(" "));
      expect(hostKeyFingerprint(parsed)).toBe(k.fingerprint);
    }
  });

  it("refuses what is not a host key, saying why", () => {
    const [, b64] = ed.pub.split(" ");
    expect(parseHostPublicKey("")).toMatchObject({ problem: expect.stringMatching(/not a host key type/) });
    expect(parseHostPublicKey(`from="x" ${ed.pub}`)).toMatchObject({ problem: expect.stringMatching(/not a host key type/) });
    expect(parseHostPublicKey("ssh-ed25519")).toMatchObject({ problem: expect.stringMatching(/no base64 key/) });
    // A blob of another type under the ed25519 name.
    expect(parseHostPublicKey(`ssh-ed25519 ${ecdsa.pub.split(" ")[1]}`)).toMatchObject({ problem: expect.stringMatching(/not a ssh-ed25519 key/) });
    expect(parseHostPublicKey(`ssh-ed25519 ${b64!.slice(0, 40)}`)).toHaveProperty("problem");
  });

  it("reads fingerprints bare or as a whole ssh-keygen -lf line; refuses MD5 and junk", () => {
    const line = execFileSync("ssh-keygen", ["-lf", `${ed.file}.pub`], { encoding: "utf8" }).trim();
    expect(parseFingerprint(ed.fingerprint)).toBe(ed.fingerprint);
    expect(parseFingerprint(line)).toBe(ed.fingerprint);
    expect(parseFingerprint("MD5:12:34")).toMatchObject({ problem: expect.stringMatching(/MD5/) });
    expect(parseFingerprint("SHA256:short")).toMatchObject({ problem: expect.stringMatching(/not a SHA256 fingerprint/) });
  });

  it("known_hosts lines: bare host on 22, [host]:port elsewhere (what ssh looks up)", () => {
    const k = key(ed.pub);
    expect(knownHostsLine("203.0.113.7", 22, k)).toBe(`203.0.113.7 ${hostKeyLine(k)}`);
    expect(knownHostsLine("127.0.0.1", 2222, k)).toBe(`[127.0.0.1]:2222 ${hostKeyLine(k)}`);
    // ssh-keygen -F finds it: the line is in the format ssh reads.
    const file = path.join(tmp, "known_hosts");
    fs.writeFileSync(file, `${knownHostsLine("127.0.0.1", 2222, k)}\n`);
    expect(spawnSync("ssh-keygen", ["-F", "[127.0.0.1]:2222", "-f", file]).status).toBe(0);
    expect(spawnSync("ssh-keygen", ["-F", "127.0.0.1", "-f", file]).status).not.toBe(0);
  });

  it("the pin from the settings: key (host column allowed), fingerprint, tofu; missing or both is an error naming how to get the key", () => {
    const target = { host: "10.0.0.5", port: 2222 };
    expect(hostKeyPinFrom(ed.pub, "pinned", target)).toEqual({ kind: "key", key: key(ed.pub) });
    expect(hostKeyPinFrom(`[10.0.0.5]:2222 ${ed.pub}`, "pinned", target)).toEqual({ kind: "key", key: key(ed.pub) });
    expect(hostKeyPinFrom(ed.fingerprint, "pinned", target)).toEqual({ kind: "fingerprint", fingerprint: ed.fingerprint });
    expect(hostKeyPinFrom(undefined, "tofu", target)).toEqual({ kind: "tofu" });
    expect(hostKeyPinFrom(undefined, "pinned", target)).toMatchObject({ problem: expect.stringContaining("ssh-keyscan -t ed25519 -p 2222 10.0.0.5") });
    expect(hostKeyPinFrom(ed.pub, "tofu", target)).toMatchObject({ problem: expect.stringMatching(/not both/) });
    expect(hostKeyPinFrom("ssh-ed25519 $(touch /tmp/x)", "pinned", target)).toHaveProperty("problem");
  });
});

describe("the generated host key and the cloud-init document", () => {
  it("generates an ed25519 pair in OpenSSH formats that ssh-keygen accepts and derives the same public key from", () => {
    const pair = generateHostKeyPair("dev-hgx-host");
    expect(pair.privateKeyOpenssh).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+-----END OPENSSH PRIVATE KEY-----\n$/);
    expect(pair.publicKey).toMatch(/^ssh-ed25519 [A-Za-z0-9+/]+=* dev-hgx-host$/);
    const file = path.join(tmp, "generated");
    fs.writeFileSync(file, pair.privateKeyOpenssh, { mode: 0o600 });
    const derived = execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" }).trim();
    expect(derived.split(" ").slice(0, 2)).toEqual(pair.publicKey.split(" ").slice(0, 2));
    expect(generateHostKeyPair("x").publicKey).not.toBe(pair.publicKey);
  });

  it("renders #cloud-config with ssh_keys and ssh_deletekeys only (no ssh_genkeytypes: cc_ssh never generates beside ssh_keys, and [] fails cloud-init's schema)", () => {
    const pair = generateHostKeyPair("h");
    const text = renderCloudInit([sshHostKeyPart(pair)]);
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    const doc = parse(text) as Record<string, unknown>;
    expect(doc).toEqual({
      ssh_deletekeys: true,
      ssh_keys: { ed25519_private: pair.privateKeyOpenssh, ed25519_public: pair.publicKey },
    });
    expect(renderCloudInit([])).toBe("");
  });

  it("merges parts: lists concatenate in part order, maps merge, conflicting scalars are an error", () => {
    expect(mergeCloudConfig([{ runcmd: ["a"], ssh_keys: { x: "1" } }, { runcmd: ["b"], ssh_keys: { y: "2" } }])).toEqual({ runcmd: ["a", "b"], ssh_keys: { x: "1", y: "2" } });
    expect(mergeCloudConfig([{ ssh_deletekeys: true }, { ssh_deletekeys: true }])).toEqual({ ssh_deletekeys: true });
    expect(() => mergeCloudConfig([{ ssh_deletekeys: true }, { ssh_deletekeys: false }])).toThrow(/disagree on ssh_deletekeys/);
  });
});

describe("the pre-flight host key check against a stand-in ssh-keyscan", () => {
  const right = sshKeygen("right");
  const wrong = sshKeygen("wrong");
  const bin = path.join(tmp, "bin");
  fs.mkdirSync(bin);
  // Prints the key in $FAKE_KEYSCAN_KEY as `<host> <type> <base64>` once $FAKE_KEYSCAN_SILENT_FOR calls have passed.
  fs.writeFileSync(
    path.join(bin, "ssh-keyscan"),
    '#!/bin/sh\nn=$(cat "$FAKE_KEYSCAN_COUNT" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$FAKE_KEYSCAN_COUNT"\n' +
      '[ "$n" -le "${FAKE_KEYSCAN_SILENT_FOR:-0}" ] && exit 1\nfor last; do :; done\necho "# $last:22 SSH-2.0-OpenSSH_9.6"\necho "$last $FAKE_KEYSCAN_KEY"\n',
    { mode: 0o755 },
  );
  fs.writeFileSync(path.join(bin, "sleep"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });

  function run(pin: HostKeyPin, served: string, silentFor = 0, env: Record<string, string> = {}) {
    const count = path.join(tmp, `count-${Math.random()}`);
    const script = renderHostKeyCheckScript({ host: "192.0.2.9", port: 2222 }, pin, "hgx-inference:sshHostKey", { attempts: 3, intervalSeconds: 1, timeoutSeconds: 1 });
    const r = spawnSync("/bin/bash", ["-c", script], {
      encoding: "utf8",
      env: { PATH: `${bin}:${process.env.PATH}`, FAKE_KEYSCAN_KEY: served, FAKE_KEYSCAN_COUNT: count, FAKE_KEYSCAN_SILENT_FOR: String(silentFor), ...env },
    });
    return { ...r, scans: Number(fs.readFileSync(count, "utf8")) };
  }

  it("the right key passes and prints it; so does its fingerprint", () => {
    const served = right.pub.split(" ").slice(0, 2).join(" ");
    expect(run({ kind: "key", key: key(right.pub) }, served)).toMatchObject({ status: 0, stdout: `${served}\n` });
    expect(run({ kind: "fingerprint", fingerprint: right.fingerprint }, served)).toMatchObject({ status: 0, stdout: `${served}\n` });
  });

  it("a different key fails at the first answer, naming the host, both fingerprints and the setting", () => {
    const served = wrong.pub.split(" ").slice(0, 2).join(" ");
    const r = run({ kind: "key", key: key(right.pub) }, served);
    expect(r.status).toBe(1);
    expect(r.scans).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("host key check FAILED for 192.0.2.9:2222");
    expect(r.stderr).toContain(`presented ssh-ed25519 ${wrong.fingerprint}, which did not match the pinned key ${right.fingerprint} (hgx-inference:sshHostKey)`);
    expect(run({ kind: "fingerprint", fingerprint: right.fingerprint }, served).status).toBe(1);
  });

  it("waits (bounded) while SSH does not answer, then checks; gives up after the attempts with a clear message", () => {
    const served = right.pub.split(" ").slice(0, 2).join(" ");
    const late = run({ kind: "key", key: key(right.pub) }, served, 2);
    expect(late).toMatchObject({ status: 0, scans: 3 });
    expect(late.stderr).toContain("does not answer SSH yet (attempt 2/3)");
    const never = run({ kind: "key", key: key(right.pub) }, served, 99);
    expect(never).toMatchObject({ status: 1, scans: 3 });
    expect(never.stderr).toContain("host key check FAILED for 192.0.2.9:2222: no SSH host key could be read after 3 attempts");
  });

  it("trust on first use prints whatever key the host presents and says so", () => {
    const served = wrong.pub.split(" ").slice(0, 2).join(" ");
    const r = run({ kind: "tofu" }, served);
    expect(r).toMatchObject({ status: 0, stdout: `${served}\n` });
    expect(r.stderr).toContain(`trusting 192.0.2.9:2222 on first use: ${wrong.fingerprint}`);
  });

  it("trust on first use only: a re-run pins the key recorded in state (the provider's PULUMI_COMMAND_STDOUT)", () => {
    const recorded = `${right.pub.split(" ").slice(0, 2).join(" ")}\n`; // what the first run printed, kept in state
    const impostor = run({ kind: "tofu" }, wrong.pub.split(" ").slice(0, 2).join(" "), 0, { PULUMI_COMMAND_STDOUT: recorded });
    expect(impostor.status).toBe(1);
    expect(impostor.stdout).toBe("");
    expect(impostor.stderr).toContain(`host key check FAILED for 192.0.2.9:2222: the host presented ssh-ed25519 ${wrong.fingerprint}, which did not match ${right.fingerprint}, the key trusted on first use and kept in state`);
    expect(impostor.stderr).toContain("pulumi config set hgx-inference:sshHostKey");
    const same = run({ kind: "tofu" }, right.pub.split(" ").slice(0, 2).join(" "), 0, { PULUMI_COMMAND_STDOUT: recorded });
    expect(same).toMatchObject({ status: 0, stdout: recorded });
    expect(same.stderr).toContain(`presented the key trusted on first use (${right.fingerprint})`);
  });
});

describe("policy: world-open SSH on production stacks", () => {
  const ruleset = (sshSourceCidrs: string[], stack: string) => ({
    type: "pulumi-nodejs:dynamic/lambda:FirewallRuleset",
    name: "hgx-machine-firewall",
    urn: `urn:pulumi:${stack}::hgx-inference::hgx:host:HgxHost$pulumi-nodejs:dynamic/lambda:FirewallRuleset::hgx-machine-firewall`,
    props: { sshSourceCidrs, servingPort: 8000, servingAllowlist: [] },
  });

  it("flags the world (in any spelling) on prod only; an operator allowlist passes", () => {
    for (const world of [["0.0.0.0/0"], ["0.0.0.0/1", "128.0.0.0/1"], ["000.0.0.0/0"], ["1.2.3.4/0"]]) {
      expect(sshExposureViolations(ruleset(world, "prod"))).toEqual([expect.stringMatching(/production stack 'prod': sshSourceCidrs opens SSH to the world.*lambdaSshAllowlist/)]);
      expect(sshExposureViolations(ruleset(world, "dev"))).toEqual([]);
    }
    expect(sshExposureViolations(ruleset(["203.0.113.0/24"], "prod"))).toEqual([]);
  });

  it("also reads rules that cover port 22", () => {
    const r = { ...ruleset([], "production"), props: { rules: [{ protocol: "tcp", port_range: [20, 30], source_network: "0.0.0.0/0" }] } };
    expect(sshExposureViolations(r)).toEqual([expect.stringMatching(/firewall rules open tcp 20-30 from 0\.0\.0\.0\/0/)]);
  });
});
