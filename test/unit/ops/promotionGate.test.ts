/**
 * `promotionGate` inside a Pulumi program: a real `pulumi.StackReference` under mocks whose
 * outputs are dev's benchmark outputs.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import type * as PromotionModule from "../../../components/ops/promotion";
import { installPulumiMocks } from "../../fixtures/pulumiMocks";

const devOutputs: Record<string, Record<string, unknown>> = {
  "acme/hgx-inference/dev": {
    benchmark: {
      metrics: {
        failed: 0,
        outputThroughput: 1240,
        totalTokenThroughput: 11100,
        ttft: { mean: 1800, p99: 5000 },
        tpot: { mean: 24, p99: 26 },
        itl: { mean: 24, p99: 47 },
      },
    },
  },
  "acme/hgx-inference/slow-dev": {
    benchmark: {
      metrics: {
        failed: 0,
        outputThroughput: 700,
        totalTokenThroughput: 6300,
        ttft: { mean: 4000, p99: 9000 },
        tpot: { mean: 24, p99: 26 },
        itl: { mean: 24, p99: 47 },
      },
    },
  },
};

let promotion: typeof PromotionModule;

beforeAll(async () => {
  await installPulumiMocks({
    stack: "prod",
    id: (args) => String(args.inputs.name ?? args.name),
    outputs: (args) => {
      if (args.type !== "pulumi:pulumi:StackReference") throw new Error(`unexpected resource ${args.type}`);
      const name = String(args.inputs.name ?? args.name);
      return { name, outputs: devOutputs[name] ?? {}, secretOutputNames: [] };
    },
  });
  promotion = await import("../../../components/ops/promotion");
});

/**
 * Settles an Output: its value, or the error its apply threw. In a program the runtime reports
 * such a rejection and fails the update; here every promise the Output carries is observed so the
 * rejection is asserted instead of surfacing as an unhandled one.
 */
function settle<T>(o: pulumi.Output<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  const internals = o as unknown as { promise(): Promise<T>; isKnown: Promise<boolean>; isSecret: Promise<boolean> };
  internals.isKnown.catch(() => undefined);
  internals.isSecret.catch(() => undefined);
  const p = internals.promise();
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: Error) => ({ ok: false as const, error }),
  );
}

describe("promotionGate", () => {
  it("resolves with the report when dev meets the thresholds", async () => {
    const ref = new pulumi.StackReference("acme/hgx-inference/dev");
    const r = await settle(promotion.promotionGate(ref));
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.value.passed).toBe(true);
      expect(r.value.results).toHaveLength(7);
    }
  });

  it("fails with every failing threshold named when dev is too slow", async () => {
    const ref = new pulumi.StackReference("acme/hgx-inference/slow-dev");
    const r = await settle(promotion.promotionGate(ref));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toBeInstanceOf(pulumi.RunError);
      expect(r.error.message).toMatch(/promotion check FAILED: stack acme\/hgx-inference\/slow-dev misses 4 of 7/);
      for (const name of ["min-output-throughput", "min-total-throughput", "max-ttft-mean-ms", "max-ttft-p99-ms"]) {
        expect(r.error.message).toContain(`FAIL ${name}:`);
      }
    }
  });

  it("uses the given thresholds", async () => {
    const ref = new pulumi.StackReference("acme/hgx-inference/slow-dev");
    const lenient = promotion.parseThresholdsDocument({ tolerance: 0.9, thresholds: { "max-ttft-p99-ms": 10000, "max-ttft-mean-ms": 5000 } });
    const r = await settle(promotion.promotionGate(ref, { thresholds: lenient }));
    expect(r.ok).toBe(true);
  });
});
