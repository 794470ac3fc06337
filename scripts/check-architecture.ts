/**
 * The import structure and function lengths of components/ against the declared layers and the
 * ratchet file (scripts/architecture-baseline.json). `npm run check:architecture` (part of
 * `npm test`); exits 1 on a new upward import, a new cycle, a new or grown long function, or a
 * baseline entry the tree no longer needs. `-- --shrink` rewrites the baseline without those stale
 * entries (it never adds one: a new offender is fixed in the code, not listed).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  importGraph,
  judge,
  layerFindings,
  cycles,
  longFunctions,
  shrunkBaseline,
  type ArchitectureBaseline,
  type Findings,
} from "./architecture/analysis";
import { LAYERS } from "./architecture/layers";

/** Longest function body the components may hold (rendered shell text may be allowed by name in the baseline). */
const MAX_FUNCTION_LINES = 80;
const ROOT = path.resolve(__dirname, "..");
const BASELINE_FILE = "scripts/architecture-baseline.json";

function walk(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return walk(rel);
    return /\.(ts|json)$/.test(entry.name) ? [rel] : [];
  });
}

function readSources(): Map<string, string> {
  const files = [...walk("components"), "index.ts"].sort();
  return new Map(files.map((f) => [f, fs.readFileSync(path.join(ROOT, f), "utf8")]));
}

function findingsOf(sources: ReadonlyMap<string, string>): Findings {
  const edges = importGraph(sources);
  const { upward, unlayered } = layerFindings(sources.keys(), edges, LAYERS);
  const long = [...sources]
    .filter(([file]) => file.startsWith("components/") && /\.ts$/.test(file) && !file.endsWith(".d.ts"))
    .flatMap(([file, text]) => longFunctions(file, text, MAX_FUNCTION_LINES));
  return { upward, unlayered, cycles: cycles(edges), longFunctions: long };
}

function readBaseline(): ArchitectureBaseline {
  const file = path.join(ROOT, BASELINE_FILE);
  const raw = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<ArchitectureBaseline>;
  return {
    upwardImports: raw.upwardImports ?? [],
    cycles: raw.cycles ?? [],
    longFunctions: raw.longFunctions ?? {},
    allowedLongFunctions: raw.allowedLongFunctions ?? {},
  };
}

function main(): number {
  const findings = findingsOf(readSources());
  let baseline = readBaseline();
  if (process.argv.includes("--shrink")) {
    baseline = shrunkBaseline(findings, baseline);
    fs.writeFileSync(path.join(ROOT, BASELINE_FILE), `${JSON.stringify(baseline, null, 2)}\n`);
    console.log(`wrote ${BASELINE_FILE}`);
  }
  const verdict = judge(findings, baseline, MAX_FUNCTION_LINES, BASELINE_FILE);
  for (const line of verdict.failures) console.error(`FAIL ${line}`);
  for (const line of verdict.stale) console.error(`STALE ${line}`);
  const kept = Object.keys(baseline.longFunctions).length + baseline.upwardImports.length + baseline.cycles.length;
  console.log(
    `architecture: ${findings.upward.length} upward import(s), ${findings.cycles.length} cycle(s), ` +
      `${findings.longFunctions.length} function(s) over ${MAX_FUNCTION_LINES} lines; baseline keeps ${kept}; ` +
      `${verdict.failures.length} failure(s), ${verdict.stale.length === 0 ? 0 : verdict.stale.length - 1} stale entr(ies)`,
  );
  return verdict.failures.length > 0 || verdict.stale.length > 0 ? 1 : 0;
}

process.exitCode = main();
