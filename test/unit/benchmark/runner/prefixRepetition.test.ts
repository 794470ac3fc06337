import { beforeAll, describe, expect, it } from "vitest";
import { buildDataset, generatePrefixRepetitionDataset, prefixRepetitionCount } from "../../../../components/benchmark/runner/dataset";
import { resolveRunOptions } from "../../../../components/benchmark/runner/options";
import { loadTokenizer, speedUpBpeMerges, type LoadedTokenizer } from "../../../../components/benchmark/runner/tokenizer";
import { BenchUsageError, parseBenchArgs, type BenchCliPlan } from "../../../../scripts/bench";

/** The longest common prefix of two token sequences. */
function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

describe("prefix-repetition dataset (vllm 0.18's prefix_repetition) with the bundled Qwen3 tokenizer", () => {
  let tok: LoadedTokenizer;
  const encode = (text: string) => tok.tokenizer.encode(text, { add_special_tokens: false });
  beforeAll(() => {
    tok = loadTokenizer();
    speedUpBpeMerges(tok.tokenizer);
  });

  it("numPrefixes contexts, each shared by numPrompts ÷ numPrefixes requests with a suffix of their own, shuffled", () => {
    const ds = generatePrefixRepetitionDataset(tok, { prefixLen: 200, suffixLen: 40, numPrefixes: 3, outputLen: 16, numPrompts: 10, seed: 0 });
    // vllm drops the remainder: 3 × ⌊10 ÷ 3⌋.
    expect(ds).toHaveLength(9);
    expect(ds.map((r) => r.index)).toEqual([...Array(9).keys()]);
    expect(ds.every((r) => r.expectedOutputLen === 16 && r.promptLen === 240)).toBe(true);
    // Group the prompts by their first 200 tokens: three contexts, three requests each.
    const groups = new Map<string, number>();
    for (const r of ds) {
      const key = encode(r.prompt).slice(0, 150).join(",");
      groups.set(key, (groups.get(key) ?? 0) + 1);
    }
    expect([...groups.values()].sort()).toEqual([3, 3, 3]);
    // Two requests of one context share (about) the context and differ after it; the order mixes the contexts.
    const ids = ds.map((r) => encode(r.prompt));
    const sameContext = ids.slice(1).filter((x) => commonPrefix(x.slice(0, 150), ids[0].slice(0, 150)) === 150);
    expect(sameContext).toHaveLength(2);
    for (const other of sameContext) {
      expect(commonPrefix(other, ids[0])).toBeGreaterThanOrEqual(195);
      expect(commonPrefix(other, ids[0])).toBeLessThan(240);
    }
    const contextOf = ids.map((x) => [...groups.keys()].indexOf(x.slice(0, 150).join(",")));
    expect(contextOf).not.toEqual([...contextOf].sort());
  });

  it("is reproducible per seed, and buildDataset picks it by the spec", () => {
    const opts = { prefixLen: 64, suffixLen: 16, numPrefixes: 2, outputLen: 8, numPrompts: 4, seed: 5 };
    const a = generatePrefixRepetitionDataset(tok, opts);
    expect(generatePrefixRepetitionDataset(tok, opts)).toEqual(a);
    expect(buildDataset(tok, { name: "prefix_repetition", prefixLen: 64, suffixLen: 16, numPrefixes: 2 }, { inputLen: 999, outputLen: 8, numPrompts: 4, rangeRatio: 0, seed: 5 })).toEqual(a);
    expect(buildDataset(tok, { name: "random" }, { inputLen: 32, outputLen: 8, numPrompts: 2, rangeRatio: 0, seed: 5 })[0].promptLen).toBe(32);
  });

  it("refuses fewer prompts than contexts, and a length below 1, naming the flag", () => {
    expect(() => prefixRepetitionCount(3, 10)).toThrow(/num prompts \(3\) must be at least the number of prefixes \(10\)/);
    expect(() => generatePrefixRepetitionDataset(tok, { prefixLen: 0, suffixLen: 8, numPrefixes: 1, outputLen: 8, numPrompts: 1, seed: 0 })).toThrow(/--prefix-repetition-prefix-len/);
  });
});

describe("the runner's options and the CLI flags for it", () => {
  it("resolves the prompt count as vllm sends it and the input length as prefix + suffix", () => {
    const r = resolveRunOptions({ baseUrl: "http://127.0.0.1:1", servedModelName: "q", numPrompts: 512, datasetSpec: { name: "prefix_repetition", prefixLen: 7000, suffixLen: 1192, numPrefixes: 10 } }, "t");
    expect(r).toMatchObject({ numPrompts: 510, inputLen: 8192, datasetSpec: { name: "prefix_repetition", numPrefixes: 10 } });
    expect(resolveRunOptions({ baseUrl: "http://127.0.0.1:1", servedModelName: "q" }, "t").datasetSpec).toEqual({ name: "random" });
  });

  const base = ["--base-url", "http://127.0.0.1:8000", "--served-model-name", "qwen"];
  const plan = (argv: string[]) => parseBenchArgs([...base, ...argv]) as BenchCliPlan;
  it("takes vllm's --dataset-name prefix_repetition flags, with vllm's defaults", () => {
    expect(plan(["--dataset-name", "prefix_repetition"]).run).toMatchObject({
      datasetSpec: { name: "prefix_repetition", prefixLen: 256, suffixLen: 256, numPrefixes: 10 },
      outputLen: 128,
    });
    expect(plan(["--dataset-name", "prefix_repetition", "--prefix-repetition-prefix-len", "7000", "--prefix-repetition-num-prefixes", "4", "--prefix-repetition-output-len", "1024"]).run).toMatchObject({
      datasetSpec: { prefixLen: 7000, numPrefixes: 4 },
      outputLen: 1024,
    });
    expect(plan([]).run.datasetSpec).toEqual({ name: "random" });
  });
  it("refuses a prefix flag without the dataset, and a dataset it does not generate", () => {
    expect(() => plan(["--prefix-repetition-prefix-len", "10"])).toThrow(BenchUsageError);
    expect(() => plan(["--prefix-repetition-prefix-len", "10"])).toThrow(/applies to --dataset-name prefix_repetition only/);
    expect(() => plan(["--dataset-name", "sharegpt"])).toThrow(/--dataset-name "sharegpt" is not generated here/);
  });
});
