/**
 * `npm run conformance [-- --sglang 0.5.15 --router 0.3.2]`: the conformance suite from the command line.
 * Renders every variant, runs the real parsers of the pinned (or the named) releases, prints one verdict per
 * variant and how the release's value lists differ from the checked-in ones. Exit 1 on any refusal or drift.
 * Another release than the stack's needs its pins first: bash scripts/conformance/lock.sh <sglang> <router>.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkVariants, conformancePython, conformanceVariants, formatReport, pinnedVersions, releaseChoices, REPO_ROOT } from "./variants";

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Per list: values added and removed by `next` relative to `base`; scalar differences as before -> after. */
export function choicesDiff(base: Record<string, unknown>, next: Record<string, unknown>): string[] {
  const lines: string[] = [];
  for (const key of new Set([...Object.keys(base), ...Object.keys(next)])) {
    if (key === "generatedBy") continue;
    const a = base[key];
    const b = next[key];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    if (Array.isArray(a) && Array.isArray(b)) {
      const added = b.filter((v) => !a.includes(v));
      const removed = a.filter((v) => !b.includes(v));
      lines.push(`${key}: ${added.length > 0 ? `+${added.length} (${added.join(", ")})` : ""}${removed.length > 0 ? ` -${removed.length} (${removed.join(", ")})` : ""}${added.length + removed.length === 0 ? "order changed" : ""}`);
    } else {
      lines.push(`${key}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}`);
    }
  }
  return lines;
}

function main(): void {
  const pinned = pinnedVersions();
  const versions = { sglang: option("--sglang") ?? pinned.sglang, router: option("--router") ?? pinned.router };
  const started = Date.now();
  const python = conformancePython(versions, (line) => console.error(line));
  const report = checkVariants(python, conformanceVariants());
  console.log(formatReport(report));
  const checkedIn = JSON.parse(readFileSync(join(REPO_ROOT, "components/serving/sglangChoices.generated.json"), "utf8")) as Record<string, unknown>;
  const drift = choicesDiff(checkedIn, releaseChoices(python) as Record<string, unknown>);
  console.log(drift.length === 0 ? "value lists: the checked-in file matches the release" : `value lists: the release differs from the checked-in file:\n  ${drift.join("\n  ")}`);
  console.log(`conformance: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (drift.length > 0 || report.results.some((r) => !r.ok)) process.exit(1);
}

if (require.main === module) main();
