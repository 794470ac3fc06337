import { describe, expect, it } from "vitest";
import { durationMs } from "../../../components/duration";

describe("durationMs: the one duration parser behind every setting", () => {
  it.each([
    ["45m", 45 * 60_000],
    ["8h", 8 * 3_600_000],
    ["2d", 2 * 86_400_000],
    ["90 minutes", 90 * 60_000],
    ["1.5h", 5_400_000],
    ["1h30m", 90 * 60_000],
    ["2 hours 15 min", 135 * 60_000],
    ["-2h", -7_200_000],
    ["250ms", 250],
  ])("%s = %d ms", (text, expected) => expect(durationMs(text)).toBe(expected));

  it.each(["", "10", "soon", "5 fortnights", "1h soon", "h", "--1h"])("%j is not a duration", (text) => {
    expect(durationMs(text)).toBeUndefined();
  });
});
