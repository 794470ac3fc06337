import { beforeAll, describe, expect, it } from "vitest";
import {
  allowedTokenIds,
  fitToLength,
  generateRandomDataset,
  lengthRanges,
  MAX_LENGTH_ROUNDS,
  SeededRandom,
} from "../../../../components/benchmark/runner/dataset";
import { loadTokenizer, speedUpBpeMerges, type LoadedTokenizer, type TextTokenizer } from "../../../../components/benchmark/runner/tokenizer";

/** A tokenizer whose text is the ids joined by spaces; `drift` changes the re-encoded length. */
function stubTokenizer(drift: (ids: number[]) => number[] = (ids) => ids, vocabSize = 100, specialIds: number[] = []): LoadedTokenizer {
  const tokenizer: TextTokenizer = {
    decode: (ids) => ids.join(" "),
    encode: (text) => drift(text === "" ? [] : text.split(" ").map(Number)),
    all_special_ids: specialIds,
  };
  return { tokenizer, vocabSize, specialIds, numSpecialTokensToAdd: 0, id: "stub" };
}

describe("SeededRandom", () => {
  it("is deterministic per seed and stays within bounds", () => {
    const a = new SeededRandom(0);
    const b = new SeededRandom(0);
    const c = new SeededRandom(1);
    const xs = Array.from({ length: 1000 }, () => a.intInclusive(3, 9));
    expect(Array.from({ length: 1000 }, () => b.intInclusive(3, 9))).toEqual(xs);
    expect(Array.from({ length: 1000 }, () => c.intInclusive(3, 9))).not.toEqual(xs);
    expect(Math.min(...xs)).toBe(3);
    expect(Math.max(...xs)).toBe(9);
  });

  it("is roughly uniform", () => {
    const r = new SeededRandom(42);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[r.intInclusive(0, 9)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });
});

describe("dataset rules", () => {
  it("derives vllm's length bounds, net of special tokens, output at least 1", () => {
    expect(lengthRanges({ inputLen: 8192, outputLen: 1024, numPrompts: 1, rangeRatio: 0, seed: 0 }, 0)).toEqual({ inputLow: 8192, inputHigh: 8192, outputLow: 1024, outputHigh: 1024 });
    expect(lengthRanges({ inputLen: 100, outputLen: 10, numPrompts: 1, rangeRatio: 0.5, seed: 0 }, 2)).toEqual({ inputLow: 49, inputHigh: 147, outputLow: 5, outputHigh: 15 });
    expect(lengthRanges({ inputLen: 20, outputLen: 1, numPrompts: 1, rangeRatio: 0.9, seed: 0 }, 0).outputLow).toBe(1);
    expect(() => lengthRanges({ inputLen: 10, outputLen: 1, numPrompts: 1, rangeRatio: 1, seed: 0 }, 0)).toThrow(/range ratio/);
    expect(() => lengthRanges({ inputLen: 1, outputLen: 1, numPrompts: 1, rangeRatio: 0, seed: 0 }, 1)).toThrow(/--random-input-len/);
  });

  it("excludes special ids from the allowed ids", () => {
    expect(Array.from(allowedTokenIds(6, [1, 4, 99]))).toEqual([0, 2, 3, 5]);
  });

  it("walks consecutive allowed ids from offset + request index, offsets drawn after the lengths", () => {
    const tok = stubTokenizer((ids) => ids, 50, [3]);
    const ds = generateRandomDataset(tok, { inputLen: 8, outputLen: 4, numPrompts: 3, rangeRatio: 0, seed: 7 });
    const rng = new SeededRandom(7);
    for (let k = 0; k < 6; k++) rng.nextUint32(); // 3 input lengths, 3 output lengths
    const allowed = allowedTokenIds(50, [3]);
    for (let i = 0; i < 3; i++) {
      const offset = rng.intInclusive(0, 49);
      const expected = Array.from({ length: 8 }, (_, j) => allowed[(offset + i + j) % allowed.length]);
      expect(ds[i].prompt).toBe(expected.join(" "));
      expect(ds[i].promptLen).toBe(8);
      expect(ds[i].expectedOutputLen).toBe(4);
      expect(ds[i].tokenMismatch).toBe(0);
    }
  });

  it("pads short re-encodings and truncates long ones", () => {
    const rng = new SeededRandom(0);
    // Re-encoding loses one token the first time only.
    let calls = 0;
    const shrinkOnce = stubTokenizer((ids) => (calls++ === 0 ? ids.slice(1) : ids));
    const padded = fitToLength(shrinkOnce, [1, 2, 3, 4], 4, rng);
    expect(padded.ids).toHaveLength(4);
    expect(padded.ids.slice(0, 3)).toEqual([2, 3, 4]);
    expect(padded.mismatch).toBe(0);
    let grows = 0;
    const growOnce = stubTokenizer((ids) => (grows++ === 0 ? [...ids, 9, 9] : ids));
    expect(fitToLength(growOnce, [1, 2, 3, 4], 4, rng)).toEqual({ prompt: "1 2 3 4", ids: [1, 2, 3, 4], mismatch: 0 });
  });

  it("gives up after the last round and reports the mismatch", () => {
    let encodes = 0;
    const alwaysLong = stubTokenizer((ids) => {
      encodes++;
      return [...ids, 0];
    });
    const out = fitToLength(alwaysLong, [1, 2], 2, new SeededRandom(0));
    expect(out.mismatch).toBe(1);
    expect(out.ids).toHaveLength(3);
    expect(encodes).toBe(MAX_LENGTH_ROUNDS + 1);
  });
});

describe("random dataset with the bundled Qwen3 tokenizer", () => {
  let tok: LoadedTokenizer;
  beforeAll(() => {
    tok = loadTokenizer();
    speedUpBpeMerges(tok.tokenizer);
  });

  it("reads the base vocabulary size and the special ids from the tokenizer", () => {
    expect(tok.vocabSize).toBe(151_643);
    expect(tok.numSpecialTokensToAdd).toBe(0);
    expect(tok.specialIds).toContain(151_645); // <|im_end|>
  });

  it.each([0, 1, 12345])("seed %i: every prompt re-encodes to exactly input_len tokens", (seed) => {
    for (const inputLen of [64, 1000]) {
      const ds = generateRandomDataset(tok, { inputLen, outputLen: 16, numPrompts: 3, rangeRatio: 0, seed });
      for (const r of ds) {
        expect(r.promptLen).toBe(inputLen);
        expect(r.tokenMismatch).toBe(0);
        expect(tok.tokenizer.encode(r.prompt, { add_special_tokens: false })).toHaveLength(inputLen);
      }
    }
  });

  it("is reproducible per seed and different across seeds", () => {
    const opts = { inputLen: 128, outputLen: 8, numPrompts: 2, rangeRatio: 0 };
    const a = generateRandomDataset(tok, { ...opts, seed: 3 });
    expect(generateRandomDataset(tok, { ...opts, seed: 3 })).toEqual(a);
    expect(generateRandomDataset(tok, { ...opts, seed: 4 })[0].prompt).not.toBe(a[0].prompt);
  });

  it("draws lengths inside the range when a range ratio is set", () => {
    const ds = generateRandomDataset(tok, { inputLen: 200, outputLen: 20, numPrompts: 8, rangeRatio: 0.25, seed: 0 });
    for (const r of ds) {
      expect(r.promptLen).toBeGreaterThanOrEqual(150);
      expect(r.promptLen).toBeLessThanOrEqual(250);
      expect(r.expectedOutputLen).toBeGreaterThanOrEqual(15);
      expect(r.expectedOutputLen).toBeLessThanOrEqual(25);
    }
    expect(new Set(ds.map((r) => r.promptLen)).size).toBeGreaterThan(1);
  });
});
