#!/usr/bin/env -S npx tsx
/**
 * Promotion check: are the source stack's (dev's) benchmark outputs good enough to promote?
 * Exit 0 = promote, 1 = a threshold failed (each printed with measured vs required), 2 = usage/input error.
 *
 *   npx tsx scripts/promote-check.ts --stack acme/hgx-inference/dev
 *   pulumi stack output --json --stack acme/hgx-inference/dev > dev-outputs.json
 *   npx tsx scripts/promote-check.ts --outputs-file dev-outputs.json --tolerance 0.15 --max-ttft-p99-ms 6000
 *
 * `--help` lists every option. The logic lives in components/ops/promoteCli.ts.
 */
import { runCliMain } from "../components/ops/cli";
import { runPromoteCheck } from "../components/ops/promoteCli";

runCliMain("promote-check", runPromoteCheck, 2);
