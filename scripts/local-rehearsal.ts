/**
 * The `local` stack without the Pulumi engine, for machines where its providers cannot be had
 * (no internet to fetch the docker/command plugins). It runs the SAME specs the components
 * render, in the same order: the config parsed and validated as the program does, the serving
 * plan's `docker run` line, the readiness gate script, the Benchmark's native runner command, the
 * parser, cost, baseline ratios and the report. Only the resource bookkeeping is missing.
 *
 *   npx tsx scripts/local-rehearsal.ts up      # start the simulator container, gate, benchmark, print metrics
 *   npx tsx scripts/local-rehearsal.ts down    # remove the container (the cache volume is kept)
 *   npx tsx scripts/local-rehearsal.ts down --purge   # also remove the cache volume
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import {
  evaluateBenchmark,
  expectedTokenizerId,
  renderNativeBenchCommand,
  resolveBenchmarkSettings,
  summarize,
  writeBenchmarkReport,
} from "../components/benchmark";
import { PROJECT, type StackConfig } from "../components/config";
import { rawConfigFromStackFile } from "../components/projectFile";
import { planServing, renderDockerRunCommand, renderReadinessGateScript, servingPlanInputFor, servingSpecHash } from "../components/serving";
import { benchmarkArgsFor, parseWithLayerChecks, replicaName, serverArgsFor } from "../components/stack";

const repoRoot = path.resolve(__dirname, "..");
const STACK = "local";

function log(message: string): void {
  process.stderr.write(`[local] ${message}\n`);
}

/** The local stack's config exactly as `pulumi up --stack local` would validate it. */
function loadLocalConfig(): StackConfig {
  const raw = rawConfigFromStackFile(path.join(repoRoot, "Pulumi.local.yaml"), PROJECT);
  return parseWithLayerChecks(raw, { stack: STACK, project: PROJECT });
}

function sh(script: string, opts: { stdin?: string; inherit?: boolean } = {}): { status: number; stdout: string } {
  const result = spawnSync("bash", ["-c", script], {
    cwd: repoRoot,
    input: opts.stdin ?? "",
    encoding: "utf8",
    stdio: ["pipe", "pipe", opts.inherit === false ? "pipe" : "inherit"],
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: result.status ?? 1, stdout: result.stdout ?? "" };
}

function plan(config: StackConfig) {
  const name = replicaName(0);
  const serverArgs = serverArgsFor(config, name, { connection: { kind: "local" }, readyAt: "", gpuCount: config.gpuCount });
  const input = servingPlanInputFor(serverArgs, { project: PROJECT, stack: STACK });
  const { plan: servingPlan, errors } = planServing(input);
  if (!servingPlan) throw new Error(`invalid serving configuration:\n- ${errors.join("\n- ")}`);
  return { name, servingPlan, containerName: input.containerName };
}

function up(): void {
  const config = loadLocalConfig();
  const { name, servingPlan, containerName } = plan(config);
  const image = servingPlan.spec.image;
  if (spawnSync("docker", ["image", "inspect", image], { stdio: "ignore" }).status !== 0) {
    throw new Error(`image ${image} is not on this engine. Fix: bash scripts/build-simulator-image.sh`);
  }

  log(`replacing container ${containerName} (spec ${servingSpecHash(servingPlan)})`);
  spawnSync("docker", ["rm", "-f", containerName], { stdio: "ignore" });
  const run = renderDockerRunCommand(servingPlan.spec);
  log(`docker run (as rendered by the serving layer):\n${run}`);
  // -d: the rendered line runs in the foreground for a human; detach it here.
  const started = sh(run.replace(/^docker run /, "docker run -d "), { inherit: false });
  if (started.status !== 0) throw new Error(`docker run failed (exit ${started.status})`);

  log("readiness gate: /health, /v1/models, one chat completion");
  const gate = sh(
    renderReadinessGateScript({
      baseUrl: `http://127.0.0.1:${servingPlan.hostPort}`,
      servedModelName: servingPlan.servedModelName,
      containerName,
      timeoutSeconds: servingPlan.readinessTimeoutSeconds,
    }),
    { stdin: "\n" },
  );
  if (gate.status !== 0) throw new Error(`readiness gate failed (exit ${gate.status}):\n${gate.stdout}`);

  const endpoint = `http://127.0.0.1:${servingPlan.hostPort}`;
  const benchArgs = benchmarkArgsFor(config, {
    host: { connection: { kind: "local" }, hourlyPriceUsd: config.hourlyPriceUsd },
    server: { endpoint, servedModelName: servingPlan.servedModelName, specHash: servingSpecHash(servingPlan) },
  });
  const settings = resolveBenchmarkSettings(benchArgs);
  const command = renderNativeBenchCommand({
    baseUrl: endpoint,
    servedModelName: servingPlan.servedModelName,
    model: config.sglang.model,
    tokenizer: settings.tokenizer ?? config.sglang.model,
    workload: settings.workload,
    timeoutSeconds: settings.timeoutSeconds,
  });
  log(`benchmark (the Benchmark component's native command):\n${command}`);
  const bench = sh(command);
  if (bench.status !== 0) throw new Error(`benchmark failed (exit ${bench.status})`);

  const evaluation = evaluateBenchmark(bench.stdout, config.hourlyPriceUsd, settings, expectedTokenizerId(settings.tokenizer, config.sglang.model));
  const summary = summarize(evaluation.metrics);
  const paths = writeBenchmarkReport(path.resolve(repoRoot, settings.reportDir), {
    stackName: STACK,
    runner: settings.runner,
    servedModelName: servingPlan.servedModelName,
    workload: settings.workload,
    metrics: summary,
    baseline: settings.baseline,
    ratios: evaluation.ratios,
    cost: evaluation.cost,
    thresholds: settings.thresholds,
    thresholdMisses: evaluation.thresholdMisses,
    serverSpecHash: servingSpecHash(servingPlan),
  });
  const outputs = {
    server: { endpoint, servedModelName: servingPlan.servedModelName, containerName, replica: name },
    benchmark: {
      completed: summary.completed,
      failed: summary.failed,
      outputThroughput: summary.outputThroughput,
      totalTokenThroughput: summary.totalTokenThroughput,
      ttftMeanMs: summary.ttft.mean,
      ttftP99Ms: summary.ttft.p99,
      tpotMeanMs: summary.tpot.mean,
      itlMeanMs: summary.itl.mean,
      itlP99Ms: summary.itl.p99,
      ratios: evaluation.ratios,
      costPerMillionOutputTokens: evaluation.cost.costPerMillionOutputTokens,
      thresholdMisses: evaluation.thresholdMisses,
      tokenizer: summary.tokenizerId,
      notes: summary.notes,
      reportPath: paths.markdown,
    },
  };
  process.stdout.write(`${JSON.stringify(outputs, null, 2)}\n`);
  if (evaluation.thresholdMisses.length > 0) process.exitCode = 1;
}

function down(purge: boolean): void {
  const config = loadLocalConfig();
  const { containerName } = plan(config);
  spawnSync("docker", ["rm", "-f", containerName], { stdio: "inherit" });
  if (purge) spawnSync("docker", ["volume", "rm", config.hf.cacheVolume], { stdio: "inherit" });
  else log(`kept the cache volume ${config.hf.cacheVolume} (down --purge removes it)`);
}

function main(): void {
  const [verb, ...rest] = process.argv.slice(2);
  try {
    if (verb === "up") up();
    else if (verb === "down") down(rest.includes("--purge"));
    else {
      process.stderr.write("usage: local-rehearsal.ts up | down [--purge]\n");
      process.exitCode = 2;
    }
  } catch (err) {
    process.stderr.write(`[local] error: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

main();
