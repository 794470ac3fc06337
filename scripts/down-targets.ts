/**
 * Prints, one per line, the URNs `scripts/down.sh` destroys, from a `pulumi stack export` file
 * (components/ops/downTargets.ts says what stays). Usage: tsx scripts/down-targets.ts <export.json> <retainFilesystem: true|false>
 */
import * as fs from "node:fs";
import { teardownTargets } from "../components/ops/downTargets";

const [file, retain] = process.argv.slice(2);
if (file === undefined || (retain !== "true" && retain !== "false")) {
  process.stderr.write("usage: tsx scripts/down-targets.ts <export.json> <retainFilesystem: true|false>\n");
  process.exit(2);
}
for (const urn of teardownTargets(JSON.parse(fs.readFileSync(file, "utf8")), { retainFilesystem: retain === "true" })) process.stdout.write(`${urn}\n`);
