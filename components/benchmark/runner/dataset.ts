/**
 * `vllm bench serve --dataset-name random`, rebuilt: per request a walk through consecutive
 * allowed token ids from a random offset, decoded to (gibberish) text, then re-encoded until
 * the text is exactly the requested number of tokens.
 *
 * Same algorithm, different random numbers: offsets, lengths and padding come from a seeded
 * xoshiro128** generator, not numpy's Mersenne Twister, so for the same `--seed` the prompts
 * are NOT byte-identical to vllm's. Lengths and the structure of the text are the same, which
 * is what the server's work depends on.
 */
import type { LoadedTokenizer } from "./tokenizer";

/** Rounds of decode → re-encode → pad/truncate before the length is accepted as it is (vllm: 10). */
export const MAX_LENGTH_ROUNDS = 10;

/**
 * Small, fast, seedable generator (xoshiro128**, state expanded from the seed by splitmix32).
 * Deterministic across platforms: only 32-bit integer arithmetic.
 */
export class SeededRandom {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    return result;
  }

  /** Uniform integer in [low, high] inclusive (unbiased: rejection sampling; span ≤ 2^32). */
  intInclusive(low: number, high: number): number {
    const span = high - low + 1;
    if (!Number.isInteger(low) || !Number.isInteger(high) || span < 1 || span > 0x100000000) {
      throw new Error(`intInclusive(${low}, ${high}): need integers with 1 ≤ high − low + 1 ≤ 2^32`);
    }
    const limit = 0x100000000 - (0x100000000 % span);
    // Rejection probability < 1/2 per draw, so 64 draws all rejected has probability < 2^-64.
    for (let attempt = 0; attempt < 64; attempt++) {
      const r = this.nextUint32();
      if (r < limit) return low + (r % span);
    }
    return low + (this.nextUint32() % span);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** One request of the benchmark. */
export interface SampleRequest {
  /** Position in the run (0-based); also the suffix of the request id. */
  readonly index: number;
  /** The user message text. */
  readonly prompt: string;
  /** Tokens in `prompt` as the client's tokenizer counts them (without a chat template). */
  readonly promptLen: number;
  /** `max_completion_tokens` for this request. */
  readonly expectedOutputLen: number;
  /** Final length minus target after the rounds ran out (0 when the target was met). */
  readonly tokenMismatch: number;
}

export interface RandomDatasetOptions {
  /** Target prompt length in tokens, special tokens included (`--random-input-len`). */
  readonly inputLen: number;
  /** Target completion length (`--random-output-len`). */
  readonly outputLen: number;
  /** Number of requests (`--num-prompts`). */
  readonly numPrompts: number;
  /** Lengths drawn uniformly from [len·(1−r), len·(1+r)] (`--random-range-ratio`, in [0, 1)). */
  readonly rangeRatio: number;
  /** Seed of the generator (`--seed`). */
  readonly seed: number;
}

export interface LengthRanges {
  readonly inputLow: number;
  readonly inputHigh: number;
  readonly outputLow: number;
  readonly outputHigh: number;
}

/** vllm's length bounds: input net of the tokenizer's special tokens; output at least 1. */
export function lengthRanges(opts: RandomDatasetOptions, numSpecialTokensToAdd: number): LengthRanges {
  if (!(opts.rangeRatio >= 0 && opts.rangeRatio < 1)) {
    throw new Error(`random range ratio must be in [0, 1), got ${opts.rangeRatio}. Fix: use 0 for fixed lengths.`);
  }
  const realInput = Math.max(0, opts.inputLen - numSpecialTokensToAdd);
  const inputLow = Math.floor(realInput * (1 - opts.rangeRatio));
  const inputHigh = Math.ceil(realInput * (1 + opts.rangeRatio));
  const outputLow = Math.max(1, Math.floor(opts.outputLen * (1 - opts.rangeRatio)));
  const outputHigh = Math.max(1, Math.ceil(opts.outputLen * (1 + opts.rangeRatio)));
  if (inputLow < 1) {
    throw new Error(
      `random input length ${opts.inputLen} leaves ${inputLow} prompt tokens after ${numSpecialTokensToAdd} special tokens and range ratio ${opts.rangeRatio}. Fix: raise --random-input-len.`,
    );
  }
  return { inputLow, inputHigh, outputLow, outputHigh };
}

/** Vocabulary ids that may appear in prompts: [0, vocabSize) without the special ids, ascending. */
export function allowedTokenIds(vocabSize: number, specialIds: readonly number[]): Int32Array {
  const special = new Set(specialIds);
  const ids = new Int32Array(vocabSize);
  let n = 0;
  for (let id = 0; id < vocabSize; id++) if (!special.has(id)) ids[n++] = id;
  return ids.slice(0, n);
}

/**
 * Decode → re-encode (no special tokens) until the text is `target` tokens: pad short
 * sequences with random ids from [0, vocabSize) (as vllm does; for Qwen that range holds no
 * special token), cut long ones. After `MAX_LENGTH_ROUNDS` rounds the last re-encoding stands.
 */
export function fitToLength(
  tok: LoadedTokenizer,
  initial: number[],
  target: number,
  rng: SeededRandom,
): { prompt: string; ids: number[]; mismatch: number } {
  let ids = initial;
  for (let round = 0; ; round++) {
    const prompt = tok.tokenizer.decode(ids);
    ids = tok.tokenizer.encode(prompt, { add_special_tokens: false });
    if (ids.length === target) return { prompt, ids, mismatch: 0 };
    if (round >= MAX_LENGTH_ROUNDS) return { prompt, ids, mismatch: ids.length - target };
    if (ids.length < target) {
      const missing = target - ids.length;
      for (let k = 0; k < missing; k++) ids.push(rng.intInclusive(0, tok.vocabSize - 1));
    } else {
      ids = ids.slice(0, target);
    }
  }
}

/**
 * Builds the random dataset. Random draws happen in vllm's order: all input lengths, all
 * output lengths, all offsets, then padding ids as the length loop needs them. Request i takes
 * allowed ids at positions (offset_i + i + j) mod |allowed| for j < length (vllm's walk).
 * `onProgress` is called after each prompt (building 512 × 8192-token prompts takes a while).
 */
export function generateRandomDataset(
  tok: LoadedTokenizer,
  opts: RandomDatasetOptions,
  onProgress?: (done: number, total: number) => void,
): SampleRequest[] {
  if (!Number.isInteger(opts.numPrompts) || opts.numPrompts < 1) {
    throw new Error(`number of prompts must be a positive integer, got ${opts.numPrompts}. Fix: set --num-prompts.`);
  }
  const ranges = lengthRanges(opts, tok.numSpecialTokensToAdd);
  const rng = new SeededRandom(opts.seed);
  const n = opts.numPrompts;
  const inputLens = Array.from({ length: n }, () => rng.intInclusive(ranges.inputLow, ranges.inputHigh));
  const outputLens = Array.from({ length: n }, () => rng.intInclusive(ranges.outputLow, ranges.outputHigh));
  const offsets = Array.from({ length: n }, () => rng.intInclusive(0, tok.vocabSize - 1));
  const allowed = allowedTokenIds(tok.vocabSize, tok.specialIds);
  const requests: SampleRequest[] = [];
  for (let i = 0; i < n; i++) {
    const length = inputLens[i];
    const walk = new Array<number>(length);
    for (let j = 0; j < length; j++) walk[j] = allowed[(offsets[i] + i + j) % allowed.length];
    const fitted = fitToLength(tok, walk, length, rng);
    requests.push({
      index: i,
      prompt: fitted.prompt,
      promptLen: fitted.ids.length,
      expectedOutputLen: outputLens[i],
      tokenMismatch: fitted.mismatch,
    });
    onProgress?.(i + 1, n);
  }
  return requests;
}

/** vllm's `prefix_repetition` dataset (`--dataset-name prefix_repetition`): shared contexts with their own suffixes. */
export interface PrefixRepetitionOptions {
  /** Tokens of each shared context (`--prefix-repetition-prefix-len`). */
  readonly prefixLen: number;
  /** Tokens of each request's own part after it (`--prefix-repetition-suffix-len`). */
  readonly suffixLen: number;
  /** Distinct contexts (`--prefix-repetition-num-prefixes`); `numPrompts` ÷ this many requests share each. */
  readonly numPrefixes: number;
  /** Completion length (`--prefix-repetition-output-len`). */
  readonly outputLen: number;
  /** Requests asked for (`--num-prompts`); vllm sends numPrefixes × ⌊numPrompts ÷ numPrefixes⌋. */
  readonly numPrompts: number;
  /** Seed of the generator (`--seed`). */
  readonly seed: number;
}

/** Requests a prefix-repetition run sends: vllm 0.18 drops the remainder of numPrompts ÷ numPrefixes (no oversampling). */
export function prefixRepetitionCount(numPrompts: number, numPrefixes: number): number {
  const perPrefix = Math.floor(numPrompts / numPrefixes);
  if (perPrefix < 1) {
    throw new Error(`num prompts (${numPrompts}) must be at least the number of prefixes (${numPrefixes}). Fix: raise --num-prompts or lower --prefix-repetition-num-prefixes.`);
  }
  return perPrefix * numPrefixes;
}

/**
 * Builds the prefix-repetition dataset as vllm 0.18's `PrefixRepetitionRandomDataset` does: for each context, a
 * random token sequence of `prefixLen` ids fitted to decode and re-encode to that length; for each of its requests a
 * random suffix fitted the same way; the prompt is the decoded concatenation; then the whole list is shuffled.
 * Ids are uniform in [0, vocabSize) as vllm draws them. The draws come from the run's seeded generator, not numpy's
 * stream: the same distribution and structure, not vllm's exact prompts.
 */
export function generatePrefixRepetitionDataset(
  tok: LoadedTokenizer,
  opts: PrefixRepetitionOptions,
  onProgress?: (done: number, total: number) => void,
): SampleRequest[] {
  for (const [name, flag, value] of [
    ["prefix length", "--prefix-repetition-prefix-len", opts.prefixLen],
    ["suffix length", "--prefix-repetition-suffix-len", opts.suffixLen],
    ["number of prefixes", "--prefix-repetition-num-prefixes", opts.numPrefixes],
    ["output length", "--prefix-repetition-output-len", opts.outputLen],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${String(value)}. Fix: set ${flag} to a whole number ≥ 1.`);
  }
  const total = prefixRepetitionCount(opts.numPrompts, opts.numPrefixes);
  const rng = new SeededRandom(opts.seed);
  const randomIds = (n: number): number[] => Array.from({ length: n }, () => rng.intInclusive(0, tok.vocabSize - 1));
  const built: Omit<SampleRequest, "index">[] = [];
  for (let p = 0; p < opts.numPrefixes; p++) {
    const prefix = fitToLength(tok, randomIds(opts.prefixLen), opts.prefixLen, rng);
    for (let s = 0; s < total / opts.numPrefixes; s++) {
      const suffix = fitToLength(tok, randomIds(opts.suffixLen), opts.suffixLen, rng);
      const ids = [...prefix.ids, ...suffix.ids];
      built.push({ prompt: tok.tokenizer.decode(ids), promptLen: ids.length, expectedOutputLen: opts.outputLen, tokenMismatch: prefix.mismatch + suffix.mismatch });
      onProgress?.(built.length, total);
    }
  }
  // Fisher–Yates with the run's generator: arrival order mixes the contexts, as vllm's random.shuffle does.
  for (let i = built.length - 1; i > 0; i--) {
    const j = rng.intInclusive(0, i);
    [built[i], built[j]] = [built[j], built[i]];
  }
  return built.map((r, index) => ({ index, ...r }));
}

/** Which prompts a run sends: vllm's `random` dataset, or its `prefix_repetition` one (shared contexts). */
export type DatasetSpec =
  | { readonly name: "random" }
  | { readonly name: "prefix_repetition"; readonly prefixLen: number; readonly suffixLen: number; readonly numPrefixes: number };

/** The run's prompts, by its dataset: random ones (inputLen, rangeRatio) or shared contexts with suffixes. */
export function buildDataset(
  tok: LoadedTokenizer,
  spec: DatasetSpec,
  run: RandomDatasetOptions,
  onProgress?: (done: number, total: number) => void,
): SampleRequest[] {
  if (spec.name === "random") return generateRandomDataset(tok, run, onProgress);
  return generatePrefixRepetitionDataset(tok, { ...spec, outputLen: run.outputLen, numPrompts: run.numPrompts, seed: run.seed }, onProgress);
}
