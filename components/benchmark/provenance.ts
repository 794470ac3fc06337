/**
 * Where a capacity answer came from: the workload, the model and tokenizer (and any fallback), the server (image
 * digest, a hash of its flags, the router's policy and replicas), the runner and its version, and the date. Without
 * it two answers cannot be told apart from two different experiments; with it a comparison can refuse to compare
 * runs of different workloads or tokenizers (`comparison.ts`).
 *
 * Files written before provenance was recorded parse with `provenance: null`: unknown, said wherever it matters.
 */
import { createHash } from "node:crypto";

/** The prompts and lengths a run sent: what must match for two runs' figures to be comparable. */
export interface WorkloadProvenance {
  /** The prompt source: `random` (the seed's synthetic prompts) or another dataset's name. */
  readonly dataset: string;
  readonly inputLen: number;
  readonly outputLen: number;
  /** Length spread (`--random-range-ratio`); 0 = every request exactly inputLen / outputLen. */
  readonly rangeRatio: number;
  readonly numPrompts: number;
  /** A level sends min(numPrompts, this × its concurrency) prompts; null = numPrompts at every level. */
  readonly promptsPerConcurrency: number | null;
  readonly ignoreEos: boolean;
  /** The prompts' seed (same workload, other draws when it differs; not part of the identity). */
  readonly seed: number;
}

/** The router in front of the server, when there is one. */
export interface RouterProvenance {
  readonly policy: string;
  readonly replicas: number;
}

export interface CapacityProvenance {
  readonly workload: WorkloadProvenance;
  /** The model id the run recorded (the path or Hugging Face id). */
  readonly model: string;
  readonly servedModelName: string;
  /** The tokenizer the prompts were built with, as the result's `tokenizer_id` names it (the bundled one's on a fallback). */
  readonly tokenizer: string;
  /** Why the prompts were not built with the model's own tokenizer; null when they were. */
  readonly tokenizerFallback: string | null;
  /** The server image by digest (`repo@sha256:…`) or as given; null when not told. */
  readonly imageDigest: string | null;
  /** sha256 of the server's flags (see `serverFlagsHash`); null when not told. */
  readonly serverFlagsHash: string | null;
  /** Null when there is no router, or when not told. */
  readonly router: RouterProvenance | null;
  /** `native` (this repository's runner) or `remote` (the pinned vllm container), with its version. */
  readonly runner: { readonly name: string; readonly version: string };
  /**
   * GPUs behind the server when told (`--gpus`; the stack always tells): what per-GPU figures divide by. Null or
   * absent (files written before it was recorded) = unknown, and the report shows per-server figures instead.
   */
  readonly gpus?: number | null;
  /** ISO 8601, when the search started. */
  readonly date: string;
}

/** What the stack knows of the server behind the endpoint and the capacity CLI cannot see. */
export interface ServerProvenanceFacts {
  readonly imageDigest: string | null;
  readonly serverFlagsHash: string | null;
  readonly router: RouterProvenance | null;
}

/**
 * The provenance with what the stack knows filled in where the CLI recorded nothing (what the CLI was told wins); a
 * result without provenance (written before it was recorded) stays unknown rather than half-filled.
 */
export function withServerProvenance(p: CapacityProvenance | null, facts: ServerProvenanceFacts | undefined): CapacityProvenance | null {
  if (p === null || facts === undefined) return p;
  return { ...p, imageDigest: p.imageDigest ?? facts.imageDigest, serverFlagsHash: p.serverFlagsHash ?? facts.serverFlagsHash, router: p.router ?? facts.router };
}

/**
 * A stable hash of a server's flags: sha256 over the flags in the order given, NUL-separated (an argv, so a flag
 * and its value hash alike however they were quoted). Hex, 64 characters.
 */
export function serverFlagsHash(flags: readonly string[]): string {
  return createHash("sha256").update(flags.join("\0")).digest("hex");
}

/**
 * The workload's identity: every field that changes what a figure means (dataset, lengths, spread, prompt count,
 * EOS), not the seed (another draw of the same workload) nor the prompts per capacity level (a search setting,
 * compared with the SLOs). Two runs compare only when these are equal.
 */
export function workloadIdentity(w: WorkloadProvenance): string {
  return JSON.stringify([w.dataset, w.inputLen, w.outputLen, w.rangeRatio, w.numPrompts, w.ignoreEos]);
}

/** One line a reader can check: `random 8192 in / 1024 out, 512 prompts` (the identity's fields only). */
export function describeWorkload(w: WorkloadProvenance): string {
  const spread = w.rangeRatio > 0 ? ` (±${Math.round(w.rangeRatio * 100)}%)` : "";
  return `${w.dataset} ${w.inputLen} in / ${w.outputLen} out${spread}, ${w.numPrompts} prompts${w.ignoreEos ? "" : ", EOS honoured"}`;
}

/**
 * The `dataset` a provenance records: `random`, or the shared-prefix dataset with its sizes (so two prefix workloads
 * of other sizes are different workloads to a comparison, whose identity includes this text).
 */
export function datasetLabel(prefix: { readonly prefixLen: number; readonly suffixLen: number; readonly numPrefixes: number } | undefined): string {
  return prefix === undefined ? "random" : `prefix_repetition (${prefix.numPrefixes} shared prefixes of ${prefix.prefixLen} tokens + ${prefix.suffixLen} own)`;
}

/** The provenance of the stack's own workload (seed 0 and no length spread, as it runs it). */
export function workloadProvenanceOf(
  w: { readonly inputLen: number; readonly outputLen: number; readonly numPrompts: number; readonly ignoreEos: boolean; readonly prefixRepetition?: { readonly prefixLen: number; readonly suffixLen: number; readonly numPrefixes: number } },
  promptsPerConcurrency: number | null = null,
): WorkloadProvenance {
  return { dataset: datasetLabel(w.prefixRepetition), inputLen: w.inputLen, outputLen: w.outputLen, rangeRatio: 0, numPrompts: w.numPrompts, promptsPerConcurrency, ignoreEos: w.ignoreEos, seed: 0 };
}

/** The provenance as Markdown list lines (the capacity report's "Provenance" section). */
export function provenanceMarkdown(p: CapacityProvenance | null): string[] {
  if (p === null) {
    return ["- Provenance: **unknown** (a result written before it was recorded): comparisons with this run cannot check the workload or tokenizer."];
  }
  const unknown = "not recorded (pass it to bench:capacity)";
  return [
    `- Workload: ${describeWorkload(p.workload)}, seed ${p.workload.seed}${p.workload.promptsPerConcurrency === null ? "" : `, at most ${p.workload.promptsPerConcurrency} prompts × concurrency per level`}`,
    `- Model: ${p.model} (served as ${p.servedModelName})`,
    `- Tokenizer: ${p.tokenizer}${p.tokenizerFallback === null ? "" : ` — **fallback**: ${p.tokenizerFallback}; not comparable with runs on the model's tokenizer`}`,
    `- Server image: ${p.imageDigest ?? unknown}`,
    `- Server flags hash: ${p.serverFlagsHash ?? unknown}`,
    `- Router: ${p.router === null ? "none (or not recorded)" : `${p.router.policy}, ${p.router.replicas} replica(s)`}`,
    `- Runner: ${p.runner.name} ${p.runner.version}`,
    `- GPUs behind the server: ${p.gpus ?? "not recorded (pass --gpus to bench:capacity): figures are per server"}`,
    `- Date: ${p.date}`,
  ];
}
