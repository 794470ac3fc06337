/**
 * A 3-replica program's hosts under the real engine against the Lambda API emulator: the stack's own
 * composition (`hostArgsFor` with the router's firewall) builds three LambdaMachines. They land in three
 * regions (capacity refused where the emulator says so), every launch is paced at least the vendor's
 * launch interval after the previous one with no 429, and the firewall rulesets open the serving port
 * only to the allowlist and the router host's PRIVATE address (no public address of any instance is a
 * source anywhere), the router's ports only to the allowlist.
 *
 * The router's path to each worker, built by the product's own `lambdaRouterWorkerUrl`/`RouterTunnels` from the
 * instances' outputs: in three regions, every worker is cross-region, so the router's URL for each is its SSH
 * tunnel's loopback port (in the own-host case, same region, the worker's private address). The tunnels are real:
 * the emulator's instances are API records with documentation-range public addresses nothing answers on, so the
 * program hands the tunnel steps the SSH test host (sshd on 127.0.0.1, its own pinned host key) as both the router's
 * host and each worker's host: the authorize step installs the restricted key there, the start step runs the
 * supervised `ssh -N -L` there, pinned to that host key. The worker is the SGLang simulator on 127.0.0.1 only,
 * requiring the stack's key, recording for every request which process holds the other end of the connection.
 * A request with the key to each URL the router was handed reaches the worker, and every request the worker saw
 * came from sshd (the forward's far end), none directly. The router container itself is not started here
 * (routerStack.engine.test.ts runs it in front of its worker list); what this shows is that list and the path
 * each entry takes. On main's code (public-address wiring) the URLs are http://<public ip>:<port>: the URL
 * assertion fails and nothing answers there.
 *
 * The emulator enforces the vendor's REAL limits (1 request per second, 1 launch per 12 s, answering 429
 * above them) and the providers pace with the product's defaults (1.2 s / 13 s): six launch requests
 * (three refused for capacity) take about 70 s. Compressed limits were tried first: on this loaded
 * machine the 10 ms request gap drew an occasional 429 from delivery jitter, which would hide a real
 * pacing fault; at the real scale the 200 ms / 1 s margins absorb it.
 */
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LambdaMachine } from "../../../components/host/lambdaMachine";
import { parseWithLayerChecks, hostArgsFor, replicaName, routerHostArgsFor } from "../../../components/stack";
import { workerRouteFor } from "../../../components/router";
import { lambdaRouterWorkerUrl, RouterTunnels, type RoutedHostFacts } from "../../../components/stack";
import { frameSecretStdin, STDIN_SCRIPT_COMMAND } from "../../../components/host/connection";
import { renderTunnelStopScript, tunnelTag, TUNNEL_PORT_BASE } from "../../../components/router/tunnel";
import { startSimulator, type RunningSimulator } from "../../fixtures/sglang-simulator";
import { freePort, processOnLocalPort } from "../../fixtures/net";
import { startSshTestHost, type SshTestHost } from "../../fixtures/ssh-host";
import { spawnSync } from "node:child_process";
import { DEFAULT_LAUNCH_INTERVAL_MS, DEFAULT_REQUEST_INTERVAL_MS } from "../../../components/host/lambda/client";
import { engineFastEnv, scaledRateLimit, startLambdaEmulator, type LambdaEmulator } from "../../fixtures/lambda-emulator";
import { createEngineStack, plaintextLeaks, type EngineStack } from "../../fixtures/pulumi-engine";

const PROJECT = "hgx-inference";
const RATE_LIMIT = scaledRateLimit(1);
// The product's pacing; only polls and progress lines are faster than in production.
const FAST_API = { ...engineFastEnv(RATE_LIMIT), LAMBDA_API_REQUEST_INTERVAL_MS: String(DEFAULT_REQUEST_INTERVAL_MS), LAMBDA_API_LAUNCH_INTERVAL_MS: String(DEFAULT_LAUNCH_INTERVAL_MS) };
// The emulator hands these out in launch order: the first test takes three, the own-host test the next three.
const IPS = ["198.51.100.10", "198.51.100.11", "198.51.100.12", "198.51.100.13", "198.51.100.14", "198.51.100.15"];
const ALLOWLIST = "203.0.113.0/24";
const REGIONS = ["us-east-1", "us-west-1", "us-south-1"];

/**
 * Names of every resource `name` depends on, directly or through others (the engine's own record in
 * state): a worker's launch must not wait for another machine's instance.
 */
async function dependencyClosure(es: EngineStack, name: string): Promise<string[]> {
  const { deployment } = await es.stack.exportStack();
  const resources = (deployment as { resources: { urn: string; parent?: string; dependencies?: string[] }[] }).resources;
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const start = resources.find((r) => r.urn.endsWith(`::${name}`));
  if (!start) throw new Error(`no resource ${name} in state`);
  const seen = new Set<string>();
  const queue = [...(start.dependencies ?? [])];
  while (queue.length > 0) {
    const urn = queue.pop()!;
    if (seen.has(urn)) continue;
    seen.add(urn);
    queue.push(...(byUrn.get(urn)?.dependencies ?? []));
  }
  return [...seen].map((urn) => urn.slice(urn.lastIndexOf("::") + 2));
}

const API_KEY = "sk-router-lambda";
let emulator: LambdaEmulator;
let sshHost: SshTestHost;
let worker: RunningSimulator;
/** Every request the worker saw: whether it had the key, and the process on the other end of its connection. */
const workerLog: { path: string; authorized: boolean; peer: string }[] = [];
beforeAll(async () => {
  delete process.env.LAMBDA_API_KEY;
  emulator = await startLambdaEmulator({ bootMs: 800, terminateMs: 100, publicIps: IPS, rateLimit: RATE_LIMIT });
  sshHost = await startSshTestHost({ user: "ubuntu" });
  worker = await startSimulator({
    host: "127.0.0.1",
    port: await freePort(),
    apiKey: API_KEY,
    onRequest: (r) => workerLog.push({ path: r.path, authorized: r.authorized, peer: processOnLocalPort(r.remotePort) }),
  });
  await worker.whenHealthy;
}, 120_000);
afterAll(async () => {
  await worker?.close();
  await sshHost?.close();
  await emulator?.close();
});

/** The product's stdin wrapper on the SSH test host (as the host commands run it), for the test's own cleanup. */
function onSshHost(script: string) {
  return spawnSync(
    "ssh",
    ["-i", sshHost.privateKeyPath, "-p", String(sshHost.port), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", `${sshHost.user}@127.0.0.1`, STDIN_SCRIPT_COMMAND],
    { input: frameSecretStdin("", script), encoding: "utf8", timeout: 60_000 },
  );
}

/** A request with the key, as the router forwards one, bounded. */
async function askWithKey(url: string): Promise<number | string> {
  try {
    const r = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${API_KEY}` }, signal: AbortSignal.timeout(10_000) });
    await r.text();
    return r.status;
  } catch (e) {
    return String((e as Error).cause ?? e);
  }
}

/** A routed Lambda stack's config against the emulator, with `over` on top. */
function routedConfig(over: Record<string, string>): Record<string, string> {
  return {
    hostMode: "lambda",
    lambdaApiKey: emulator.apiKey,
    lambdaApiUrl: emulator.baseUrl,
    lambdaRegions: JSON.stringify(REGIONS),
    lambdaFirewallAllowlist: JSON.stringify([ALLOWLIST]),
    lambdaBootTimeout: "5m",
    ...over,
  };
}

/** The inbound rules of the one ruleset an instance attached, as the API holds them. */
function rulesOf(instanceId: string) {
  const ids = (emulator.state.instance(instanceId)!.firewall_rulesets ?? []).map((r) => r.id);
  const found = emulator.state.firewallRulesets().filter((r) => ids.includes(r.id));
  expect(found).toHaveLength(1);
  return found[0].rules;
}

/** The sources a TCP port is open to, sorted. */
function sources(rules: { protocol: string; port_range?: number[]; source_network: string }[], port: number): string[] {
  return rules.filter((r) => r.protocol === "tcp" && r.port_range?.[0] === port).map((r) => r.source_network).sort();
}

/** Runs `check` on a stack of `program` (the API key a secret), then destroys it: no instance left. */
async function withStack(stackName: string, program: () => Promise<Record<string, unknown>>, check: (es: EngineStack) => Promise<void>): Promise<void> {
  const es = await createEngineStack({
    projectName: PROJECT,
    stackName,
    program,
    config: { [`${PROJECT}:lambdaApiKey`]: { value: emulator.apiKey, secret: true } },
    envVars: FAST_API,
  });
  let destroyed = false;
  try {
    await check(es);
    expect(plaintextLeaks(es.backendText(), { lambdaApiKey: emulator.apiKey })).toEqual([]);
    const destroy = await es.stack.destroy({ onOutput: es.onOutput });
    destroyed = true;
    expect(destroy.summary.result).toBe("succeeded");
    expect(emulator.leakedInstances()).toEqual([]);
  } finally {
    if (!destroyed) await es.stack.destroy({ onOutput: es.onOutput }).catch(() => undefined);
    await es.dispose();
  }
}

/** The first case's checks on the deployed stack: placement, pacing, firewall, the router's worker URLs and the path of a keyed request. */
async function checkRouted(es: EngineStack, PORT: number): Promise<void> {
    const up = await es.stack.up({ onOutput: es.onOutput, onEvent: es.onEvent });
    expect(up.summary.result).toBe("succeeded");
    const instances = up.outputs.instances.value as { id: string; ip: string; privateIp: string; region: string }[];
    expect(instances).toHaveLength(3);
    // The three launch side by side (paced), in no fixed order: the first replica is not launched first.
    expect(new Set(instances.map((i) => i.region))).toEqual(new Set(REGIONS));

    // Every launch request (refused ones included) at least 12 s after the previous one; no 429 at all.
    const requests = emulator.requests();
    const launches = requests.filter((r) => r.method === "POST" && r.path.endsWith("/instance-operations/launch"));
    // Three refusals for capacity, three launches.
    expect(launches.map((r) => r.status).sort()).toEqual([200, 200, 200, 400, 400, 400]);
    // Other calls keep 1.2 s apart; on a machine at load 10 delivery jitter can still exceed the 200 ms margin
    // now and then (the client retries such a 429, and says so): counted, not hidden.
    const otherThrottled = requests.filter((r) => r.status === 429).length;
    const gaps = launches.slice(1).map((r, i) => r.at - launches[i].at);
    console.log(
      `[router-lambda] launch gaps (ms, vendor limit ${RATE_LIMIT.launchIntervalMs}): ${gaps.join(", ")}; regions ${instances.map((i) => i.region).join(", ")}; ` +
        `addresses in launch order ${instances.map((i) => IPS.indexOf(i.ip)).join(", ")}; ` +
        `${requests.length} API calls, ${otherThrottled} non-launch call(s) answered 429 and retried`,
    );
    expect(otherThrottled).toBeLessThanOrEqual(3);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(RATE_LIMIT.launchIntervalMs);

    // Firewall: each instance's ruleset, as the API holds it.
    const router = rulesOf(instances[0].id);
    expect(sources(router, PORT)).toEqual([ALLOWLIST]);
    expect(sources(router, 30000)).toEqual([ALLOWLIST]);
    expect(sources(router, 29000)).toEqual([ALLOWLIST]);
    for (const worker of instances.slice(1)) {
      const rules = rulesOf(worker.id);
      expect(sources(rules, PORT)).toEqual([ALLOWLIST, `${instances[0].privateIp}/32`].sort());
      expect(sources(rules, 30000)).toEqual([]);
    }
    const allRules = JSON.stringify(emulator.state.firewallRulesets());
    expect(allRules).not.toMatch(new RegExp(`"port_range":\\[${PORT},${PORT}\\],"source_network":"0\\.0\\.0\\.0\\/0"`));
    for (const i of instances) expect(allRules, `public ${i.ip} admitted`).not.toContain(i.ip);
    // The router's URL per worker: three regions, so every one is cross-region and reached through its tunnel.
    const workerUrls = up.outputs.workerUrls.value as string[];
    expect(workerUrls).toEqual([`http://127.0.0.1:${TUNNEL_PORT_BASE + 1}`, `http://127.0.0.1:${TUNNEL_PORT_BASE + 2}`]);
    for (const url of workerUrls) for (const i of instances) expect(url).not.toContain(i.ip);
    // A request with the key to each URL the router was handed: it reaches the worker, and only through sshd.
    expect(workerLog).toEqual([]);
    for (const url of workerUrls) for (let i = 0; i < 3; i++) expect(await askWithKey(url), url).toBe(200);
    console.log(`[router-lambda] the worker saw ${workerLog.length} request(s), peers: ${[...new Set(workerLog.map((r) => r.peer))].join(", ")}`);
    expect(workerLog.filter((r) => r.path === "/v1/models")).toHaveLength(6);
    for (const r of workerLog) {
      expect(r.authorized, r.path).toBe(true);
      expect(r.peer, r.path).toMatch(/^sshd/);
    }
    // The tunnel's client key (generated by the stack, written 0600 on the router's host) is in no state or log in plain.
    const key = await sshHost.ssh(`cat ~/.hgx-tunnels/${tunnelTag(PROJECT, "routed", "hgx-2")}/id`);
    expect(key.stdout).toContain("BEGIN OPENSSH PRIVATE KEY");
    expect(plaintextLeaks(es.backendText(), { tunnelKey: key.stdout.trim() })).toEqual([]);
    // The router host's /32 is admitted after launch: no worker's launch depends on the first machine's instance.
    for (const worker of ["hgx-2", "hgx-3"]) {
      const closure = await dependencyClosure(es, `${worker}-machine-instance`);
      expect(closure, worker).toContain(`${worker}-machine-firewall`);
      expect(closure.filter((n) => n.startsWith("hgx-machine-")), worker).toEqual([]);
    }
}

describe("three replicas behind a router on Lambda (emulator)", () => {
  it("launches three paced instances across regions with the serving port open only to the router's host; the router reaches each worker through its tunnel", async () => {
    const PORT = worker.port;
    const raw = routedConfig({ replicas: "3", sglangApiKey: API_KEY, sglangPort: String(PORT) });
    const program = async () => {
      const config = parseWithLayerChecks(raw, { stack: "routed", project: PROJECT });
      const machines: LambdaMachine[] = [];
      for (let i = 0; i < config.replicas; i++) {
        // As deployStack composes them: every worker admits the router host's private address.
        const args = hostArgsFor(config, i, { routerHostIp: i > 0 ? machines[0].privateIp : undefined });
        machines.push(new LambdaMachine(`${replicaName(i)}-machine`, args.lambda!));
      }
      // Each machine as the router's path sees it, its SSH side the test host (see the header).
      const sshConnection = { kind: "ssh" as const, host: sshHost.host, port: sshHost.port, user: sshHost.user, privateKey: pulumi.secret(sshHost.privateKey), hostKey: sshHost.hostPublicKey };
      const facts = machines.map((m): RoutedHostFacts => ({ connection: sshConnection, readyAt: m.ip, region: m.region, privateIp: m.privateIp, instanceId: m.instanceId }));
      const tunnels = new RouterTunnels(config);
      const workerUrls = machines.slice(1).map((_, j) => lambdaRouterWorkerUrl({ name: replicaName(j + 1), index: j + 1, port: PORT, host: facts[j + 1] }, facts[0], tunnels));
      return { instances: machines.map((m) => ({ id: m.instanceId, ip: m.ip, privateIp: m.privateIp, region: m.region })), workerUrls };
    };
    await withStack("routed", program, async (es) => {
      // Capacity: the first two launch attempts in us-east-1 and the first in us-west-1 are refused.
      emulator.faults.refuseLaunchIn("us-east-1", 2);
      emulator.faults.refuseLaunchIn("us-west-1", 1);
      try {
        await checkRouted(es, PORT);
      } finally {
        // The supervisors run on the test host until stopped (a real router host's go with its instance).
        for (const name of ["hgx-2", "hgx-3"]) onSshHost(renderTunnelStopScript(tunnelTag(PROJECT, "routed", name)));
      }
    });
  });

  it("with routerPlacement own-host: a small instance for the router, every worker's serving port open only to it and the allowlist", async () => {
    const raw = routedConfig({ replicas: "2", routerPlacement: "own-host", sglangApiKey: "sk-router-own-host" });
    const program = async () => {
      const config = parseWithLayerChecks(raw, { stack: "routed-own-host", project: PROJECT });
      // As deployStack composes them: the router's host, and each worker admitting its address.
      const router = new LambdaMachine("router-host-machine", routerHostArgsFor(config).lambda!);
      const workers = Array.from({ length: config.replicas }, (_, i) => new LambdaMachine(`${replicaName(i)}-machine`, hostArgsFor(config, i, { routerHostIp: router.privateIp }).lambda!));
      return { instances: [router, ...workers].map((m) => ({ id: m.instanceId, ip: m.ip, privateIp: m.privateIp, region: m.region, type: m.instanceType, price: m.hourlyPriceUsd })) };
    };
    await withStack("routed-own-host", program, async (es) => {
      const before = emulator.requests().length;
      const up = await es.stack.up({ onOutput: es.onOutput, onEvent: es.onEvent });
      expect(up.summary.result).toBe("succeeded");
      const instances = up.outputs.instances.value as { id: string; ip: string; privateIp: string; region: string; type: string; price: number }[];
      expect(instances.map((i) => i.type)).toEqual(["gpu_1x_a10", "gpu_8x_b200_sxm6", "gpu_8x_b200_sxm6"]);
      expect(instances[0].price).toBe(0.75);
      const routerIp = instances[0].ip;
      expect(new Set(instances.map((i) => i.ip)).size).toBe(3);
      expect(IPS).toContain(routerIp);
      const launches = emulator.requests().slice(before).filter((r) => r.method === "POST" && r.path.endsWith("/instance-operations/launch"));
      expect(launches.map((r) => r.status)).toEqual([200, 200, 200]);
      for (const [i, gap] of launches.slice(1).map((r, i) => r.at - launches[i].at).entries()) expect(gap, `gap ${i}`).toBeGreaterThanOrEqual(RATE_LIMIT.launchIntervalMs);

      const routerRules = rulesOf(instances[0].id);
      expect(sources(routerRules, 30000)).toEqual([ALLOWLIST]);
      expect(sources(routerRules, 29000)).toEqual([ALLOWLIST]);
      expect(sources(routerRules, 8000)).toEqual([]);
      const routerPrivateIp = instances[0].privateIp;
      expect(routerPrivateIp).toMatch(/^10\./);
      for (const worker of instances.slice(1)) {
        const rules = rulesOf(worker.id);
        expect(sources(rules, 8000)).toEqual([ALLOWLIST, `${routerPrivateIp}/32`].sort());
        expect(sources(rules, 30000)).toEqual([]);
        expect(sources(rules, 29000)).toEqual([]);
        // Same region (the first with capacity): the router's URL for it is its private address.
        expect(worker.region).toBe(instances[0].region);
        expect(workerRouteFor({ name: worker.id, region: worker.region, privateIp: worker.privateIp }, instances[0].region, 8000, TUNNEL_PORT_BASE + 1)).toEqual({ via: "private", url: `http://${worker.privateIp}:8000` });
      }
      const allRules = JSON.stringify(emulator.state.firewallRulesets());
      for (const i of instances) expect(allRules, `public ${i.ip} admitted`).not.toContain(i.ip);
      for (const worker of ["hgx", "hgx-2"]) {
        const closure = await dependencyClosure(es, `${worker}-machine-instance`);
        expect(closure.filter((n) => n.startsWith("router-host-")), worker).toEqual([]);
        expect(await dependencyClosure(es, `${worker}-machine-admission`), worker).toContain("router-host-machine-instance");
      }
      console.log(
        `[router-lambda] own-host: router ${routerIp} (private ${routerPrivateIp}; gpu_1x_a10, $0.75/h), workers ${instances.slice(1).map((i) => `${i.ip} (router reaches ${i.privateIp})`).join(", ")}`,
      );
    });
  });
});
