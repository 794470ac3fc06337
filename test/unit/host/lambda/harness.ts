// Shared set-up for the Lambda provider tests: an in-process emulator, fast timings through the
// environment (what the provider process would read), and capture of every log line so tests
// can assert that the API key never appears anywhere.
import { expect, vi, type MockInstance } from "vitest";
import { scaledRateLimit, startLambdaEmulator, type EmulatorOptions, type LambdaEmulator } from "../../../fixtures/lambda-emulator";
import { LAMBDA_PROVIDER_VERSION } from "../../../../components/host/lambda/common";
import type { InstanceInputs } from "../../../../components/host/lambda/instance";

/**
 * The emulator enforces the vendor's rate limits in every test, with time compressed 100x
 * (10 ms between requests, 120 ms between launches), so nothing waits 12 s of real time.
 */
export const TEST_RATE_LIMIT = scaledRateLimit(0.01);

/**
 * Fast timings: the same knobs an operator has, shrunk. The client paces above the compressed
 * limits with a margin wider, relative to the intervals, than the product's (1.2 s / 13 s against
 * 1 s / 12 s): delivery jitter on a loaded test machine is a larger share of a 10 ms gap.
 */
export const FAST_ENV: Record<string, string> = {
  LAMBDA_API_REQUEST_INTERVAL_MS: String(TEST_RATE_LIMIT.minIntervalMs * 2.5),
  LAMBDA_API_LAUNCH_INTERVAL_MS: String(TEST_RATE_LIMIT.launchIntervalMs * 1.25),
  LAMBDA_API_RETRY_BASE_MS: "5",
  LAMBDA_API_RETRY_MAX_ATTEMPTS: "6",
  LAMBDA_API_RETRY_MAX_TOTAL_MS: "5000",
  LAMBDA_API_TIMEOUT_MS: "5000",
  LAMBDA_POLL_INTERVAL_MS: "10",
  LAMBDA_PROGRESS_INTERVAL_MS: "40",
  LAMBDA_TERMINATE_TIMEOUT_MS: "5000",
  LAMBDA_IN_USE_TIMEOUT_MS: "4000",
};

export interface Harness {
  emu: LambdaEmulator;
  /** Every console line written during the test (stdout and stderr). */
  lines: string[];
  restore(): Promise<void>;
}

/**
 * The emulator enforces TEST_RATE_LIMIT, except when the test hands it a virtual clock: the
 * providers' client paces on real time, so on a clock that only the providers' waits move, its
 * requests would all land at the same virtual instant. Those tests step boot/terminate/in-use
 * schedules exactly; the limits themselves are exercised on one shared virtual clock in
 * client.test.ts ("pacing with a margin") and faults.test.ts.
 */
export async function startHarness(opts: EmulatorOptions = {}): Promise<Harness> {
  const emu = await startLambdaEmulator({ rateLimit: opts.clock ? null : TEST_RATE_LIMIT, ...opts });
  const saved: Record<string, string | undefined> = {};
  const env = { ...FAST_ENV, LAMBDA_API_KEY: emu.apiKey, LAMBDA_API_BASE_URL: emu.baseUrl };
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  const lines: string[] = [];
  const spies: MockInstance[] = [];
  for (const method of ["log", "error", "warn", "info", "debug"] as const) {
    spies.push(
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        lines.push(args.map((a) => (a instanceof Error ? `${a.message}\n${a.stack}` : String(a))).join(" "));
      }),
    );
  }
  return {
    emu,
    lines,
    async restore() {
      for (const s of spies) s.mockRestore();
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await emu.close();
    },
  };
}

/** The invariants every test ends with: nothing left billing, the key nowhere in the logs. */
export function assertClean(h: Harness, errors: unknown[] = []): void {
  expect(h.emu.leakedInstances().map((i) => i.id)).toEqual([]);
  for (const line of h.lines) expect(line).not.toContain(h.emu.apiKey);
  for (const e of errors) {
    const text = e instanceof Error ? `${e.message} ${e.stack ?? ""} ${JSON.stringify(e)}` : String(e);
    expect(text).not.toContain(h.emu.apiKey);
  }
}

/** Runs `fn`, expecting it to reject; returns the error. */
export async function rejectionOf(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection, but the call succeeded");
}

export function instanceInputs(over: Partial<InstanceInputs> = {}): InstanceInputs {
  return {
    providerVersion: LAMBDA_PROVIDER_VERSION,
    resourceName: "gpu",
    organization: "org-unit",
    project: "hgx-test",
    stack: "unit",
    stackUid: "0123456789abcdef",
    instanceName: "hgx-test-unit-gpu",
    regions: ["us-east-1", "us-west-1", "us-south-1"],
    instanceType: "gpu_8x_b200_sxm6",
    imageFamily: "gpu-base-24-04",
    sshKeyName: "hgx-test-key",
    hostname: "unit-gpu",
    ttlSeconds: 8 * 3600,
    waitTimeoutSeconds: 30,
    ...over,
  };
}
