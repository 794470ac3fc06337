#!/usr/bin/env -S npx tsx
/**
 * Reaper: terminates this project's Lambda instances whose `hgx:expires-at` tag has passed.
 * Dry run by default (prints a table); `--confirm` acts. Never touches instances of other
 * projects or without the project tag. API key from LAMBDA_API_KEY only; LAMBDA_API_BASE_URL
 * points it at another endpoint (e.g. the test emulator).
 *
 *   LAMBDA_API_KEY=... npx tsx scripts/reaper.ts            # what would be terminated
 *   LAMBDA_API_KEY=... npx tsx scripts/reaper.ts --confirm  # terminate expired instances
 *
 * The logic lives in components/ops/reaper.ts.
 */
import { runCliMain } from "../components/ops/cli";
import { runReaper } from "../components/ops/reaper";

runCliMain("reaper", runReaper, 1);
