/**
 * What a change does to the endpoint, decided at preview from the last deployment's `router.rollout`
 * output and this one: a change to what the workers serve rolls (worker by worker, the endpoint keeps
 * serving); a change to the router itself or to the set of workers restarts the router (the endpoint is
 * down while it restarts, and in-flight requests through it fail). Pure.
 */

/** The facts a rollout is judged on (exported as `router.rollout`). */
export interface RolloutKey {
  /** Hash per worker of what it serves (image + argv), in replica order. */
  readonly workerSpecs: readonly string[];
  /** The router's image and flags. */
  readonly routerSpec: string;
  /** Serving port of the workers (part of every worker URL). */
  readonly workerPort: number;
}

export interface RolloutVerdict {
  /** Said with `pulumi.log.warn`: the change takes the endpoint down for a while. */
  readonly warnings: string[];
  /** Said with `pulumi.log.info`: the change rolls. */
  readonly infos: string[];
}

export function judgeRollout(previous: RolloutKey | undefined, next: RolloutKey): RolloutVerdict {
  const warnings: string[] = [];
  const infos: string[] = [];
  if (previous === undefined) return { warnings, infos };
  const restarts: string[] = [];
  if (previous.routerSpec !== next.routerSpec) restarts.push("the router's image or flags changed");
  if (previous.workerSpecs.length !== next.workerSpecs.length)
    restarts.push(`the number of workers changes from ${previous.workerSpecs.length} to ${next.workerSpecs.length} (the router restarts with the new worker list)`);
  if (previous.workerPort !== next.workerPort) restarts.push(`the workers' port changes from ${previous.workerPort} to ${next.workerPort} (every worker URL changes)`);
  if (restarts.length > 0)
    warnings.push(
      `this change cannot roll: ${restarts.join("; ")}. The router container is replaced, so router.endpoint refuses ` +
        `connections until the new router is up (seconds) and requests in flight through it fail; schedule it when traffic allows`,
    );
  const changed = next.workerSpecs.map((spec, i) => (previous.workerSpecs[i] !== undefined && previous.workerSpecs[i] !== spec ? i : -1)).filter((i) => i >= 0);
  if (changed.length > 0 && previous.workerPort === next.workerPort)
    infos.push(
      `rolling change: ${changed.length} of ${next.workerSpecs.length} workers are replaced one at a time (drained from the router, replaced, gated, re-added); the others keep serving`,
    );
  return { warnings, infos };
}
