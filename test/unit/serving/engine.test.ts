import { describe, expect, it } from "vitest";
import { buildContainerSpec, type ContainerSpecInput } from "../../../components/serving/containerSpec";
import { apiKeyWrapperScript, engineCommand, type ServingEngine } from "../../../components/serving/engine";
import { DEFAULT_SERVING_ENGINE, SERVING_ENGINES } from "../../../components/serving/engines";
import { API_KEY_WRAPPER_SCRIPT, SGLANG_ENGINE } from "../../../components/serving/sglang/engine";

/** An engine that is not SGLang: what a second registration would hand the container spec. */
const other: ServingEngine = {
  name: "other",
  launcher: ["other-serve", "--serve"],
  apiKeyFlag: "--auth-token",
  apiKeyEnv: "OTHER_TOKEN",
  wrapperArgv0: "other-launch",
  healthPath: "/ping",
  defaultPort: 9000,
};

const input: ContainerSpecInput = {
  name: "srv",
  image: "example/other:v1",
  engine: other,
  serverArgv: ["--model", "m"],
  containerPort: 9000,
  hostPort: 8000,
  firewallAllowlist: [],
  cacheVolumeName: "cache",
  apiKey: true,
  hfToken: false,
  labels: { project: "p", stack: "s", component: "serving" },
};

describe("serving engines", () => {
  it("SGLang's launch wrapper is the one the container always ran (stored argv must not change)", () => {
    expect(API_KEY_WRAPPER_SCRIPT).toBe(
      '[ -n "$SGLANG_API_KEY" ] || { echo "SGLANG_API_KEY is empty: refusing to start an unauthenticated server" >&2; exit 64; }; ' +
        'exec python -m sglang.launch_server "$@" --api-key "$SGLANG_API_KEY"',
    );
    expect(engineCommand(SGLANG_ENGINE, ["--port", "8000"], false)).toEqual(["python", "-m", "sglang.launch_server", "--port", "8000"]);
    expect(engineCommand(SGLANG_ENGINE, ["--port", "8000"], true)).toEqual(["sh", "-c", API_KEY_WRAPPER_SCRIPT, "sglang-launch", "--port", "8000"]);
  });

  it("the registry holds SGLang under its own name, the default", () => {
    expect(SERVING_ENGINES[DEFAULT_SERVING_ENGINE]).toBe(SGLANG_ENGINE);
    for (const [name, engine] of Object.entries(SERVING_ENGINES)) expect(engine.name).toBe(name);
  });

  it("the container spec takes launcher, key flag and env, and health path from the engine, nothing from SGLang", () => {
    const spec = buildContainerSpec(input);
    expect(spec.command).toEqual(["sh", "-c", apiKeyWrapperScript(other), "other-launch", "--model", "m"]);
    expect(spec.command[2]).toContain('exec other-serve --serve "$@" --auth-token "$OTHER_TOKEN"');
    expect(spec.secretEnvNames).toEqual(["OTHER_TOKEN"]);
    expect(spec.healthcheck.test[1]).toContain("http://127.0.0.1:9000/ping");
    expect(JSON.stringify(spec)).not.toMatch(/sglang/i);
    expect(buildContainerSpec({ ...input, apiKey: false }).command).toEqual(["other-serve", "--serve", "--model", "m"]);
  });
});
