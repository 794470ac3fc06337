/**
 * What `scripts/down.sh` destroys: every resource that costs money or holds the host (instance, SSH key, firewall
 * rulesets, host key, containers, commands), and not what makes the stack itself again at the next `pulumi up` —
 * each machine's identity (`StackIdentity`, the random stack id the retained filesystem is named after), the retained
 * filesystem, the benchmark history (state only). They stay in the stack's state on ITS backend, so the next deploy of
 * this stack re-attaches the filesystem without any id written to a file: a teammate's stack of the same name on
 * another backend never shares the identity (the one way to share one was a `lambdaStackId` committed to a tracked
 * stack file).
 */

/** Resource types whose state the teardown keeps. */
export const KEPT_TYPES = {
  identity: "pulumi-nodejs:dynamic/lambda:StackIdentity",
  filesystem: "pulumi-nodejs:dynamic/lambda:Filesystem",
  history: "pulumi-nodejs:dynamic/benchmark:BenchmarkHistory",
} as const;

interface ExportedResource {
  readonly urn?: unknown;
  readonly type?: unknown;
  readonly custom?: unknown;
  readonly delete?: unknown;
}

/**
 * The URNs `pulumi destroy --target` gets, from a `pulumi stack export` document: custom resources other than providers
 * and the kept types (the filesystem too when it is not retained). Components and the stack stay (they cost nothing
 * and parent what is kept).
 */
export function teardownTargets(exported: unknown, opts: { readonly retainFilesystem: boolean }): string[] {
  const resources = (exported as { deployment?: { resources?: unknown } } | null)?.deployment?.resources;
  if (!Array.isArray(resources)) return [];
  const kept = new Set<string>([KEPT_TYPES.identity, KEPT_TYPES.history, ...(opts.retainFilesystem ? [KEPT_TYPES.filesystem] : [])]);
  const targets: string[] = [];
  for (const r of resources as ExportedResource[]) {
    if (typeof r?.urn !== "string" || typeof r.type !== "string" || r.custom !== true) continue;
    // A resource pending deletion from a failed replace is the engine's to finish; targeting its URN would name the live one twice.
    if (r.delete === true) continue;
    if (r.type.startsWith("pulumi:providers:") || kept.has(r.type)) continue;
    if (!targets.includes(r.urn)) targets.push(r.urn);
  }
  return targets;
}
