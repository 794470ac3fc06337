import { describe, expect, it } from "vitest";
import { PAGE_TOKENS, PrefixCache, pageKeys } from "../../fixtures/sglang-simulator/prefixCache";

/** `n` token ids from `seed` on, distinct from another seed's for any n below 10^6. */
const tokens = (seed: number, n: number): number[] => Array.from({ length: n }, (_, i) => seed * 1_000_000 + i);

describe("the simulator's prefix cache", () => {
  it("finds nothing for prompts that share nothing", () => {
    const cache = new PrefixCache();
    expect(cache.matchAndInsert(tokens(1, 500))).toEqual({ cachedTokens: 0, whole: false });
    expect(cache.matchAndInsert(tokens(2, 500))).toEqual({ cachedTokens: 0, whole: false });
  });

  it("an exact repeat is a whole match, short prompts included", () => {
    const cache = new PrefixCache();
    for (const n of [5, PAGE_TOKENS, 300]) {
      cache.matchAndInsert(tokens(n, n));
      expect(cache.matchAndInsert(tokens(n, n))).toEqual({ cachedTokens: n, whole: true });
    }
  });

  it("a shared context with its own suffix hits exactly the shared tokens, not only whole pages", () => {
    const cache = new PrefixCache();
    const context = tokens(7, 8 * PAGE_TOKENS + 5); // ends mid-page
    cache.matchAndInsert([...context, ...tokens(8, 40)]);
    expect(cache.matchAndInsert([...context, ...tokens(9, 40)])).toEqual({ cachedTokens: context.length, whole: false });
    // A prompt that is a prefix of a cached one is a whole match.
    expect(cache.matchAndInsert(context.slice(0, 3 * PAGE_TOKENS))).toEqual({ cachedTokens: 3 * PAGE_TOKENS, whole: true });
  });

  it("does not count a match shorter than one page (a shared chat header is not a shared context)", () => {
    const cache = new PrefixCache();
    const header = tokens(3, PAGE_TOKENS - 1);
    cache.matchAndInsert([...header, ...tokens(4, 100)]);
    expect(cache.matchAndInsert([...header, ...tokens(5, 100)]).cachedTokens).toBe(0);
  });

  it("the same page after another prefix is not a hit (pages are chained)", () => {
    const cache = new PrefixCache();
    const page = tokens(6, PAGE_TOKENS);
    cache.matchAndInsert([...tokens(10, PAGE_TOKENS), ...page]);
    expect(cache.matchAndInsert([...tokens(11, PAGE_TOKENS), ...page]).cachedTokens).toBe(0);
    expect(pageKeys([...tokens(10, PAGE_TOKENS), ...page])[1]).not.toBe(pageKeys([...tokens(11, PAGE_TOKENS), ...page])[1]);
  });

  it("evicts the least recently used pages beyond its capacity", () => {
    const cache = new PrefixCache(4 * PAGE_TOKENS);
    const a = tokens(20, 2 * PAGE_TOKENS);
    const b = tokens(21, 2 * PAGE_TOKENS);
    const c = tokens(22, 2 * PAGE_TOKENS);
    cache.matchAndInsert(a);
    cache.matchAndInsert(b);
    expect(cache.matchAndInsert(a).whole).toBe(true); // a is now the newest
    cache.matchAndInsert(c); // evicts b, the oldest
    expect(cache.size).toBe(4);
    expect(cache.matchAndInsert(a).whole).toBe(true);
    expect(cache.matchAndInsert(b).cachedTokens).toBe(0);
  });

  it("refuses a capacity below one page", () => {
    expect(() => new PrefixCache(PAGE_TOKENS - 1)).toThrow(/at least 16 tokens, got 15/);
  });
});
