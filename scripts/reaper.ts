#!/usr/bin/env -S npx tsx
/**
 * Reaper: terminates this project's Lambda instances whose explicitly set expiry (`hgx:ttl`,
 * `hgx:expires-at`) has passed. Dry run by default (prints a table); `--confirm` acts, on the
 * stacks named with `--stack` (or `--all-stacks`). Never touches instances of other projects,
 * protected ones (`hgx:protected=true`) or those of production stacks. API key from
 * LAMBDA_API_KEY only; LAMBDA_API_BASE_URL points it at another endpoint (e.g. the test emulator).
 *
 *   LAMBDA_API_KEY=... npx tsx scripts/reaper.ts                        # what would be terminated
 *   LAMBDA_API_KEY=... npx tsx scripts/reaper.ts --confirm --stack dev  # terminate dev's expired instances
 *
 * The logic lives in components/ops/reaper.ts.
 */
import { runCliMain } from "../components/ops/cli";
import { runReaper } from "../components/ops/reaper";

runCliMain("reaper", runReaper, 1);
