import { describe, expect, it } from "vitest";
import {
  dockerNameProblems,
  durationFindings,
  exposureFindings,
  labelProblems,
  parseDurationSeconds,
  planServing,
  type ServingPlanInput,
} from "../../../components/serving/servingPlan";

const good: ServingPlanInput = {
  image: "lmsysorg/sglang:v0.5.14",
  preset: "seed",
  gpuCount: 8,
  cacheVolumeName: "hgx-dev-hf-cache",
  containerName: "hgx-dev-sglang",
  apiKey: true,
  hfToken: false,
  project: "hgx",
  stack: "dev",
};

describe("planServing", () => {
  it("warns when the image is another SGLang release than the one the value lists and the conformance suite come from", () => {
    expect(planServing({ ...good, image: "lmsysorg/sglang:v0.5.9-cu129" }).warnings).toEqual([
      expect.stringMatching(/image "lmsysorg\/sglang:v0\.5\.9-cu129" is SGLang 0\.5\.9, but the flag value lists and rules \(and the conformance suite\) are SGLang 0\.5\.14's; to check this release: bash scripts\/conformance\/lock\.sh 0\.5\.9/),
    ]);
    expect(planServing({ ...good, image: "lmsysorg/sglang:v0.5.14-cu130" }).warnings).toEqual([]);
    expect(planServing({ ...good, image: "hgx/sglang-sim:local" }).warnings).toEqual([]);
  });

  it("a good config yields a plan with the seed argv and defaults sized for a 400B boot", () => {
    const { plan, errors, warnings } = planServing(good);
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(plan?.servedModelName).toBe("qwen");
    expect(plan?.hostPort).toBe(8000);
    expect(plan?.containerPort).toBe(8000);
    expect(plan?.waitTimeoutSeconds).toBe(90 * 60);
    expect(plan?.readinessTimeoutSeconds).toBe(15 * 60);
    expect(plan?.spec.healthcheck.startPeriodSeconds).toBe(60 * 60);
    expect(plan?.publiclyBound).toBe(false);
    expect(plan?.spec.labels).toEqual({ "hgx.project": "hgx", "hgx.stack": "dev", "hgx.component": "serving" });
  });

  it("defaults to the b200 preset", () => {
    const { plan } = planServing({ ...good, preset: undefined });
    expect(plan?.argv).toContain("--speculative-algorithm");
  });

  // Table of bad serving configs -> the message each must produce.
  const bad: Array<[string, Partial<ServingPlanInput>, RegExp]> = [
    ["floating image", { image: "lmsysorg/sglang:latest" }, /image "lmsysorg\/sglang:latest" is not pinned \(tag latest\).*allowLatest: true/],
    ["untagged image", { image: "lmsysorg/sglang" }, /is not pinned \(no tag\)/],
    ["served name with colon", { flagOverrides: { servedModelName: "qwen:3" } }, /--served-model-name "qwen:3" contains ":".*"qwen-3"/],
    ["tp x dp too big", { flagOverrides: { dpSize: 2 } }, /--tp-size 8 x --dp-size 2 needs 16 GPUs but the host has 8/],
    ["tp not dividing", { flagOverrides: { tpSize: 3 } }, /--tp-size 3 does not divide the host's 8 GPUs/],
    ["mem fraction 0", { flagOverrides: { memFractionStatic: 0 } }, /--mem-fraction-static 0 must be strictly between 0 and 1/],
    ["mem fraction 1", { flagOverrides: { memFractionStatic: 1 } }, /--mem-fraction-static 1 must be strictly between 0 and 1/],
    ["no_buffer with trtllm_mha", { preset: "b200", flagOverrides: { mambaRadixCacheStrategy: "no_buffer" } }, /--mamba-radix-cache-strategy no_buffer cannot run with the trtllm_mha attention backend/],
    ["trtllm_mha with topk 2", { preset: "b200", flagOverrides: { speculativeEagleTopk: 2 } }, /trtllm_mha supports speculative decoding only with --speculative-eagle-topk <= 1 \(got 2\)/],
    ["unknown tool parser", { flagOverrides: { toolCallParser: "hermes2" } }, /--tool-call-parser "hermes2" is not accepted by SGLang 0\.5\.14 \(the conformance-checked release\); use one of:/],
    ["unknown reasoning parser", { flagOverrides: { reasoningParser: "r1" } }, /--reasoning-parser "r1" is not accepted by SGLang 0\.5\.14/],
    ["container port out of range", { flagOverrides: { port: 0 } }, /--port 0 is out of range; use an integer in 1-65535/],
    ["host port out of range", { port: 65536 }, /port 65536 \(host port\) is out of range/],
    ["server bound to loopback inside the container", { flagOverrides: { host: "127.0.0.1" } }, /--host 127.0.0.1 is unreachable through the container's published port; set flagOverrides.host to "0.0.0.0"/],
    ["api key in extra flags", { extraFlags: ["--api-key", "abc"] }, /--api-key must not be passed in extraFlags.*set the component's apiKey/],
    ["bad allowlist entry", { firewallAllowlist: ["my-laptop"] }, /firewallAllowlist entry "my-laptop" is not an IP address or CIDR/],
    ["bad container name", { containerName: "-sglang" }, /containerName "-sglang" is not a valid Docker name/],
    ["relative cache path", { cacheMountPath: "~/.cache" }, /cacheMountPath "~\/.cache" must be an absolute path/],
    ["bad duration", { waitTimeout: "forever" }, /waitTimeout "forever" is not a duration; use seconds \(5400\) or text such as "90 minutes"/],
    ["reserved label", { labels: { "hgx.stack": "x" } }, /label "hgx.stack" is empty or uses the reserved "hgx." prefix/],
    ["local model path with pre-download", { flagOverrides: { modelPath: "/models/qwen" } }, /weights model "\/models\/qwen" is not a Hugging Face repo id.*preDownload: false/],
    ["unknown preset", { preset: "h100" as never }, /preset "h100" is unknown; use one of: seed, b200/],
  ];

  it.each(bad)("%s", (_label, change, message) => {
    const { plan, errors } = planServing({ ...good, ...change });
    expect(plan).toBeUndefined();
    expect(errors.join("\n")).toMatch(message);
  });

  // Each problem names the setting it is about, so callers map keys instead of reading the text.
  const keyed: Array<[Partial<ServingPlanInput>, string]> = [
    [{ image: "lmsysorg/sglang:latest" }, "image"],
    [{ preset: "h100" as never }, "preset"],
    [{ flagOverrides: { servedModelName: "qwen:3" } }, "flagOverrides.servedModelName"],
    [{ flagOverrides: { modelPath: "/models/qwen" } }, "flagOverrides.modelPath"],
    [{ flagOverrides: { host: "127.0.0.1" } }, "flagOverrides.host"],
    [{ flagOverrides: { dpSize: 2 } }, "flagOverrides.tpSize"],
    [{ extraFlags: ["--api-key", "abc"] }, "extraFlags"],
    [{ port: 65536 }, "port"],
    [{ firewallAllowlist: ["my-laptop"] }, "firewallAllowlist"],
    [{ containerName: "-sglang" }, "containerName"],
    [{ cacheMountPath: "~/.cache" }, "cacheMountPath"],
    [{ waitTimeout: "forever" }, "waitTimeout"],
    [{ labels: { "hgx.stack": "x" } }, "labels"],
    [{ weightsRevision: "bad rev" }, "weightsRevision"],
  ];
  it.each(keyed)("%o is a problem of %s", (change, key) => {
    const { problems, errors } = planServing({ ...good, ...change });
    expect(problems.map((p) => p.key)).toEqual([key]);
    expect(problems[0].message).not.toBe("");
    expect(errors).toEqual(problems.map((p) => (p.fix === "" ? p.message : `${p.message}; ${p.fix}`)));
  });

  it("splits the setting and value from the fix", () => {
    expect(planServing({ ...good, port: 0 }).problems).toEqual([
      { key: "port", message: "port 0 (host port) is out of range", fix: "use an integer in 1-65535 (default 8000)" },
    ]);
  });

  it("reports every problem of a config at once", () => {
    const { errors } = planServing({ ...good, image: "x:latest", port: 0, flagOverrides: { servedModelName: "a:b", memFractionStatic: 2 } });
    expect(errors).toHaveLength(4);
  });

  it("a local model path is fine without pre-download", () => {
    expect(planServing({ ...good, preDownload: false, flagOverrides: { modelPath: "/models/qwen" } }).errors).toEqual([]);
  });

  it("warns (not fails) on exposure without a key and on allowLatest", () => {
    const { plan, warnings } = planServing({ ...good, apiKey: false, firewallAllowlist: ["0.0.0.0/0"], image: "hgx/sim:latest", allowLatest: true });
    expect(plan?.publiclyBound).toBe(true);
    expect(plan?.spec.ports[0].hostIp).toBe("0.0.0.0");
    expect(warnings.join("\n")).toMatch(/whole internet/);
    expect(warnings.join("\n")).toMatch(/without an apiKey/);
    expect(warnings.join("\n")).toMatch(/floats \(allowLatest is set\)/);
  });
});

describe("parseDurationSeconds", () => {
  it.each([
    [5400, 5400], ["90m", 5400], ["90 minutes", 5400], ["1.5h", 5400], ["3600s", 3600], ["45", 45], ["2 hours", 7200],
  ] as const)("%s -> %s", (input, seconds) => {
    expect(parseDurationSeconds(input)).toBe(seconds);
  });
  it.each(["", "soon", "-5m", "0", 0, -1, Number.NaN])("rejects %s", (input) => {
    expect(parseDurationSeconds(input)).toBeUndefined();
  });
});

describe("the plan's checks, one by one", () => {
  it("durations: defaults for unset ones, whole seconds, a warning for a wait no boot fits in", () => {
    expect(durationFindings({})).toEqual({ problems: [], warnings: [], seconds: { healthStartPeriod: 3600, waitTimeout: 5400, readinessTimeout: 900 } });
    const short = durationFindings({ waitTimeout: "30s", readinessTimeout: "soon" });
    expect(short.seconds).toEqual({ healthStartPeriod: 3600, waitTimeout: 30 });
    expect(short.problems.map((p) => p.key)).toEqual(["readinessTimeout"]);
    expect(short.warnings).toEqual([expect.stringMatching(/^waitTimeout 30s is shorter than any real SGLang boot/)]);
  });

  it("exposure: a bad port and allowlist entry are problems; an open or keyless API only warns", () => {
    expect(exposureFindings({ firewallAllowlist: ["10.0.0.0/8", "nope"], apiKey: true }, 70000).problems.map((p) => p.key)).toEqual(["port", "firewallAllowlist"]);
    const open = exposureFindings({ firewallAllowlist: ["0.0.0.0/0"], apiKey: false }, 8000);
    expect(open.problems).toEqual([]);
    expect(open.warnings).toHaveLength(2);
    expect(exposureFindings({ apiKey: false }, 8000)).toEqual({ problems: [], warnings: [] });
  });

  it("names and labels", () => {
    expect(dockerNameProblems({ containerName: "ok-name", cacheVolumeName: "ok", cacheMountPath: "/lambda/nfs/x" })).toEqual([]);
    expect(dockerNameProblems({ containerName: "a b", cacheVolumeName: "-v", cacheMountPath: "rel" }).map((p) => p.key)).toEqual(["containerName", "cacheVolumeName", "cacheMountPath"]);
    expect(labelProblems({ team: "ml" })).toEqual([]);
    expect(labelProblems({ "": "x", "hgx.x": "y" }).map((p) => p.key)).toEqual(["labels", "labels"]);
  });
});
