/**
 * The host provider registry as config and the stack composition use it: a config carries only its own
 * mode's settings, every provider's keys are in the schema (each once), and host args are keyed by mode.
 */
import { describe, expect, it } from "vitest";
import { CONFIG_SCHEMA, parseStackConfig, type RawConfig } from "../../../components/config";
import { HOST_MODES, HOST_PROVIDERS } from "../../../components/host/providers";
import { hostArgsFor, routerHostArgsFor } from "../../../components/stack";
import { configProblems } from "../../fixtures/configProblems";

const RAW: Record<(typeof HOST_MODES)[number], RawConfig> = {
  lambda: { hostMode: "lambda", lambdaApiKey: "sk-test-not-a-real-key" },
  existing: { hostMode: "existing", sshHost: "10.0.0.5", sshPrivateKey: "k", sshHostKeyTrust: "tofu" },
  local: { hostMode: "local" },
};

describe("host provider registry", () => {
  it("lists the modes in registry order, which is hostMode's allowed list", () => {
    expect(HOST_MODES).toEqual(Object.keys(HOST_PROVIDERS));
    expect(configProblems({ hostMode: "cloud" }).join("\n")).toContain(`is not one of ${HOST_MODES.join(", ")}`);
  });

  it("puts every provider's keys into the schema, each claimed by one provider only", () => {
    const claimed = Object.values(HOST_PROVIDERS).flatMap((p) => Object.keys(p.keys));
    expect(new Set(claimed).size).toBe(claimed.length);
    for (const key of claimed) expect(CONFIG_SCHEMA).toHaveProperty(key);
  });

  it.each(HOST_MODES)("a %s stack's config carries its own provider's settings and no other's", (mode) => {
    const config = parseStackConfig(RAW[mode], { stack: "t" });
    expect(config.hostMode).toBe(mode);
    for (const other of HOST_MODES.filter((m) => m !== mode)) expect(config).not.toHaveProperty(other);
    expect(config).toHaveProperty(mode);
  });

  it("still reads every provider's keys whatever the mode, so a typo in another mode's key shows at once", () => {
    expect(configProblems({ ...RAW.existing, lambdaRegions: '["mars-north-1"]' }).join("\n")).toContain('lambdaRegions: = "mars-north-1" is not a Lambda Cloud region');
  });

  it.each(HOST_MODES)("gives %s host args keyed by the mode alone", (mode) => {
    const args = hostArgsFor(parseStackConfig(RAW[mode], { stack: "t" }));
    expect(args.mode).toBe(mode);
    expect(args).toHaveProperty(mode);
    for (const other of HOST_MODES.filter((m) => m !== mode)) expect(args).not.toHaveProperty(other);
  });

  it("builds the router's own host only with a provider that launches machines", () => {
    expect(routerHostArgsFor(parseStackConfig(RAW.lambda, { stack: "t" })).mode).toBe("lambda");
    expect(() => routerHostArgsFor(parseStackConfig(RAW.local, { stack: "t" }))).toThrow(/routerPlacement "own-host" needs hostMode "lambda", got "local"/);
    expect(configProblems({ ...RAW.local, replicas: "2", sglangApiKey: "k", routerPlacement: "own-host" }).join("\n")).toContain(
      'routerPlacement: = "own-host" launches an instance for the router, which only hostMode "lambda" can do (hostMode is "local")',
    );
  });
});
