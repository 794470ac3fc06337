/**
 * The `scripts/promote-check.ts` command line, as a function with injectable I/O so that tests
 * drive it in-process. Exit codes: 0 promote, 1 at least one threshold failed, 2 usage or input error.
 */
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import {
  DEFAULT_THRESHOLD_NAMES,
  DEFAULT_TOLERANCE,
  defaultThresholds,
  evaluatePromotion,
  formatPromotionReport,
  overrideThresholds,
  parseThresholdsDocument,
  type PromotionThreshold,
} from "./promotion";
import { readOutputsFile, readStackOutputsViaCli, type CliOutputsQuery } from "./stackOutputs";

export const PROMOTE_USAGE = `Usage: tsx scripts/promote-check.ts (--stack <org/project/dev> | --outputs-file <outputs.json>) [options]

Checks a stack's benchmark outputs against named thresholds before promoting to production.
Exit code 0: every threshold met; 1: at least one failed (each is printed with measured vs required); 2: usage/input error.

Source of the outputs (one of):
  --stack <name>            read with \`pulumi stack output --json --stack <name>\` (fully qualified: org/project/stack)
  --outputs-file <file>     a saved \`pulumi stack output --json\` (any CI can produce it)
Thresholds (defaults: the seed's 8x B200 figures with --tolerance ${DEFAULT_TOLERANCE}):
  --tolerance <fraction>    relative slack for the defaults (0.1 = 10% slower / higher latency allowed)
  --thresholds-file <file>  JSON: {"tolerance": 0.15, "thresholds": {"max-ttft-p99-ms": 6000}} or a full list
                            [{"name", "metric": "ttft.p99", "op": "min"|"max", "value", "unit"?}]
  --threshold <name>=<value>  override one threshold (repeatable)
${DEFAULT_THRESHOLD_NAMES.map((n) => `  --${n} <value>`).join("\n")}
Other:
  --metrics-path <path>     dotted path of the metrics object in the outputs (default: auto-detect)
  --cwd <dir>               directory to run the Pulumi CLI in
  --show-secrets            pass --show-secrets to the CLI
  --json                    print the report as JSON instead of text
  --help`;

export interface PromoteCliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** Injected for tests; defaults to the Pulumi CLI. */
  readonly readStackOutputs?: (q: CliOutputsQuery) => Promise<Record<string, unknown>>;
}

export interface PromoteCliOptions {
  readonly stack?: string;
  readonly outputsFile?: string;
  readonly thresholds: PromotionThreshold[];
  readonly metricsPath?: string;
  readonly cwd?: string;
  readonly showSecrets: boolean;
  readonly json: boolean;
  readonly help: boolean;
}

function parseNumber(flag: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n)) throw new Error(`${flag} must be a number, got '${raw}'.`);
  return n;
}

/** Parses the argument list; throws with a message naming the flag and the fix. */
export function parsePromoteArgs(argv: readonly string[]): PromoteCliOptions {
  const thresholdFlags = Object.fromEntries(DEFAULT_THRESHOLD_NAMES.map((n) => [n, { type: "string" as const }]));
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      stack: { type: "string" },
      "outputs-file": { type: "string" },
      tolerance: { type: "string" },
      "thresholds-file": { type: "string" },
      threshold: { type: "string", multiple: true },
      "metrics-path": { type: "string" },
      cwd: { type: "string" },
      "show-secrets": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
      ...thresholdFlags,
    },
  });
  const v = values as Record<string, string | string[] | boolean | undefined>;
  const help = v["help"] === true;
  const stack = v["stack"] as string | undefined;
  const outputsFile = v["outputs-file"] as string | undefined;
  if (!help && (stack === undefined) === (outputsFile === undefined)) {
    throw new Error("give exactly one of --stack <org/project/dev> or --outputs-file <file>.");
  }

  let thresholds: PromotionThreshold[];
  const file = v["thresholds-file"] as string | undefined;
  if (file !== undefined) {
    let doc: unknown;
    try {
      doc = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
      throw new Error(`--thresholds-file '${file}': ${(e as Error).message}.`);
    }
    if (v["tolerance"] !== undefined && !Array.isArray(doc)) {
      const d = doc as Record<string, unknown>;
      doc = { ...d, tolerance: parseNumber("--tolerance", v["tolerance"] as string) };
    }
    thresholds = parseThresholdsDocument(doc, `--thresholds-file '${file}'`);
  } else {
    const tolerance = v["tolerance"] === undefined ? DEFAULT_TOLERANCE : parseNumber("--tolerance", v["tolerance"] as string);
    thresholds = defaultThresholds(tolerance);
  }

  const overrides: Record<string, number> = {};
  for (const name of DEFAULT_THRESHOLD_NAMES) {
    if (v[name] !== undefined) overrides[name] = parseNumber(`--${name}`, v[name] as string);
  }
  for (const pair of (v["threshold"] as string[] | undefined) ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`--threshold expects <name>=<value>, got '${pair}'.`);
    overrides[pair.slice(0, eq)] = parseNumber(`--threshold ${pair.slice(0, eq)}`, pair.slice(eq + 1));
  }
  thresholds = overrideThresholds(thresholds, overrides);

  return {
    stack,
    outputsFile,
    thresholds,
    metricsPath: v["metrics-path"] as string | undefined,
    cwd: v["cwd"] as string | undefined,
    showSecrets: v["show-secrets"] === true,
    json: v["json"] === true,
    help,
  };
}

/** Runs the check; resolves to the process exit code. */
export async function runPromoteCheck(argv: readonly string[], io: PromoteCliIo): Promise<number> {
  let opts: PromoteCliOptions;
  try {
    opts = parsePromoteArgs(argv);
  } catch (e) {
    io.err(`promote-check: ${(e as Error).message}\n\n${PROMOTE_USAGE}`);
    return 2;
  }
  if (opts.help) {
    io.out(PROMOTE_USAGE);
    return 0;
  }
  try {
    const source = opts.stack !== undefined ? `stack ${opts.stack}` : `outputs file ${opts.outputsFile}`;
    const outputs =
      opts.stack !== undefined
        ? await (io.readStackOutputs ?? readStackOutputsViaCli)({ stack: opts.stack, cwd: opts.cwd, showSecrets: opts.showSecrets })
        : readOutputsFile(opts.outputsFile!);
    const report = evaluatePromotion(outputs, opts.thresholds, opts.metricsPath);
    if (opts.json) io.out(JSON.stringify({ source, ...report }, null, 2));
    else io.out(formatPromotionReport(report, source));
    return report.passed ? 0 : 1;
  } catch (e) {
    io.err(`promote-check: ${(e as Error).message}`);
    return 2;
  }
}
