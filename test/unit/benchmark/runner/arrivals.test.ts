import { describe, expect, it } from "vitest";
import { jStat } from "jstat";
import { arrivalOffsetsMs, InterruptibleSleeps } from "../../../../components/benchmark/runner/arrivals";
import { defaultResultFilename, requestRateLabel } from "../../../../components/benchmark/runner/vllmResultJson";

function gaps(offsets: number[]): number[] {
  return offsets.map((t, i) => t - (i === 0 ? 0 : offsets[i - 1]));
}
function cv(xs: number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.reduce((a, x) => a + (x - m) * (x - m), 0) / xs.length;
  return Math.sqrt(v) / m;
}

describe("arrival schedule (vllm's gamma process)", () => {
  it("rate inf sends everything at t = 0; burstiness inf spaces evenly at 1/rate", () => {
    expect(arrivalOffsetsMs(3, Infinity, 1, 0)).toEqual([0, 0, 0]);
    expect(arrivalOffsetsMs(4, 2, Infinity, 0).map((x) => Math.round(x * 1e6) / 1e6)).toEqual([500, 1000, 1500, 2000]);
    expect(arrivalOffsetsMs(0, 2, 1, 0)).toEqual([]);
  });
  it("the last arrival is exactly N / rate; the schedule is a function of the seed", () => {
    const a = arrivalOffsetsMs(100, 8, 1, 7);
    expect(a[99]).toBeCloseTo((100 / 8) * 1000, 6);
    expect(arrivalOffsetsMs(100, 8, 1, 7)).toEqual(a);
    expect(arrivalOffsetsMs(100, 8, 1, 8)).not.toEqual(a);
    expect(a.every((t, i) => i === 0 || t >= a[i - 1])).toBe(true);
  });
  it("gap spread follows the gamma shape: CV = 1/sqrt(burstiness)", () => {
    for (const b of [0.25, 1, 4]) {
      expect(cv(gaps(arrivalOffsetsMs(20_000, 10, b, 1)))).toBeCloseTo(1 / Math.sqrt(b), 1);
    }
  });
  it("leaves jstat's global random source as it found it", () => {
    const before = jStat._random_fn;
    arrivalOffsetsMs(10, 5, 0.5, 3);
    expect(jStat._random_fn).toBe(before);
  });
  it("refuses a rate or burstiness <= 0 naming the flag", () => {
    expect(() => arrivalOffsetsMs(3, 0, 1, 0)).toThrow(/requestRate must be > 0 .*--request-rate/);
    expect(() => arrivalOffsetsMs(3, 1, -1, 0)).toThrow(/burstiness must be > 0 .*--burstiness 1/);
  });
});

describe("result naming with a rate", () => {
  it("spells the rate as Python's str(float) does", () => {
    expect(requestRateLabel("inf")).toBe("inf");
    expect(requestRateLabel(4)).toBe("4.0");
    expect(requestRateLabel(0.5)).toBe("0.5");
    expect(defaultResultFilename({ label: "openai-chat", max_concurrency: 8, model_id: "Qwen/Q", date: "20260101-000000", request_rate: 4 })).toBe(
      "openai-chat-4.0qps-concurrency8-Q-20260101-000000.json",
    );
  });
});

describe("interruptible sleeps", () => {
  it("wakeAll ends a long sleep at once and later sleeps return immediately", async () => {
    const sleeps = new InterruptibleSleeps();
    let woke = false;
    const p = sleeps.sleep(60_000).then(() => (woke = true));
    await Promise.resolve();
    expect(woke).toBe(false);
    sleeps.wakeAll();
    await p;
    expect(woke).toBe(true);
    await sleeps.sleep(60_000);
  });
});
