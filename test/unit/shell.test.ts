import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { frameSecretStdin } from "../../components/host/connection";
import { bashPrologueReadingSecret } from "../../components/shell";

describe("bashPrologueReadingSecret", () => {
  it("decodes the secret from stdin's base64-framed first line only (none: empty) and leaves the rest of stdin alone", () => {
    const script = `${bashPrologueReadingSecret("API_KEY")}printf '[%s]' "$API_KEY"; cat; ts | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' && echo " ts-ok"\n`;
    const run = (input: string) => spawnSync("bash", ["-c", script], { input, encoding: "utf8" });
    expect(run(`${frameSecretStdin("sk-1 two words", "rest\n")}`).stdout).toBe("[sk-1 two words]rest\n ts-ok\n");
    expect(run(`${frameSecretStdin("line\nbreak", "")}`).stdout).toBe("[line\nbreak] ts-ok\n");
    expect(run("").stdout).toBe("[] ts-ok\n");
    expect(run("\nrest\n").stdout).toBe("[]rest\n ts-ok\n");
  });

  it("takes only an upper-case shell variable name", () => {
    expect(() => bashPrologueReadingSecret("x; rm -rf /")).toThrow(/not an upper-case shell variable name/);
    expect(() => bashPrologueReadingSecret("api_key")).toThrow(/not an upper-case shell variable name/);
  });
});
