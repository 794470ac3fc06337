// The time source of the Lambda client's pacing and retries and of the providers' long waits.
// Free of module-level state (Pulumi serializes this code by value into the provider process).

/**
 * Injected so tests can run waits on a virtual clock and assert their schedule exactly, whatever
 * the machine's load; production code uses `systemClock()`.
 */
export interface WaitClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms` milliseconds on this clock. */
  sleep(ms: number): Promise<void>;
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** The real clock: `Date.now()` and timers. */
export function systemClock(): WaitClock {
  return { now: () => Date.now(), sleep };
}
