#!/usr/bin/env -S npx tsx
/**
 * Where a `pulumi up` spent its time, from the engine's event log: every step, the waits on outside
 * conditions (host boot, pull, download, server boot + gate, benchmark) and the stack's own overhead.
 *
 *   pulumi up --event-log /tmp/up.jsonl ... && npx tsx scripts/deploy-breakdown.ts /tmp/up.jsonl [--json]
 *   bash scripts/local.sh measure      # destroy + up of the local stack, then this breakdown
 *
 * The logic lives in components/ops/deployBreakdown.ts.
 */
import { runCliMain } from "../components/ops/cli";
import { runDeployBreakdown } from "../components/ops/deployBreakdown";

runCliMain("deploy-breakdown", runDeployBreakdown, 2);
