// The Lambda errors are recognized by their `kind` field, never by `instanceof`: in Pulumi's
// dynamic-provider process the error classes are serialized copies, and an error built there is
// neither an instance of the class a caller names nor (after the serializer rewrote it) of Error.
// These tests hand the predicates and the message conversion such class-less copies.
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { asError, withoutStackTraces } from "../../../../components/host/lambda/common";
import { assertEngineAlive, engineAnswers, ENGINE_GONE, providerEngineAddress } from "../../../../components/host/lambda/engineGuard";
import { CapacityError, errorFromResponse, isLambdaError, NotFoundError, ServiceError } from "../../../../components/host/lambda/errors";

/** What the serialized provider's error looks like to the code that catches it: same fields, no class. */
function classless<T extends object>(e: T): Record<string, unknown> {
  return Object.assign(Object.create(null) as Record<string, unknown>, e, { message: (e as { message?: string }).message, name: (e as { name?: string }).name });
}

const details = { code: "instance-operations/launch/insufficient-capacity", status: 400, operation: "POST /instance-operations/launch" };

describe("isLambdaError", () => {
  it("recognizes every typed error by kind, also without its class", () => {
    const capacity = classless(new CapacityError(details, "us-east-1", "gpu_8x_b200_sxm6"));
    expect(capacity instanceof Error).toBe(false);
    expect(isLambdaError(capacity, "capacity")).toBe(true);
    expect(isLambdaError(capacity, "not-found", "in-use")).toBe(false);
    expect(isLambdaError(classless(errorFromResponse({ code: "global/object-does-not-exist", status: 404, operation: "GET /x" })), "not-found")).toBe(true);
    const service = classless(new ServiceError({ code: "global/internal-error", status: 503, operation: "POST /instance-operations/launch" }));
    expect(isLambdaError(service, "service") && service.retryable).toBe(true);
    expect(isLambdaError(new NotFoundError({ code: "x", status: 404, operation: "GET /y" }))).toBe(true);
  });

  it("rejects anything else", () => {
    for (const v of [undefined, null, "capacity", 3, new Error("capacity"), { kind: "something-else" }, { kind: 1 }]) {
      expect(isLambdaError(v)).toBe(false);
    }
  });
});

describe("asError", () => {
  it("keeps the message and fields of an error object that is no Error instance", () => {
    const copy = classless(new CapacityError(details, "us-east-1, us-west-1", "gpu_8x_b200_sxm6", "Every region in lambdaRegions was tried in turn."));
    const err = asError(copy);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain("No capacity for gpu_8x_b200_sxm6 in us-east-1, us-west-1 right now. Every region in lambdaRegions was tried in turn.");
    expect(err.message).not.toContain("[object Object]");
    expect(err.name).toBe("CapacityError");
    expect(isLambdaError(err, "capacity")).toBe(true);
  });

  it("keeps an init failure's id and properties; strings stay strings", () => {
    const err = asError({ message: "boot failed", id: "i-1", properties: { a: 1 } }) as Error & { id: string; properties: unknown };
    expect([err.message, err.id, err.properties]).toEqual(["boot failed", "i-1", { a: 1 }]);
    expect(asError("plain").message).toBe("plain");
  });

  it("withoutStackTraces passes the message of a class-less error through", async () => {
    const copy = classless(new CapacityError(details, "us-east-1", "gpu_8x_b200_sxm6", "Re-run later."));
    const provider = withoutStackTraces({ create: async () => Promise.reject(copy) } as unknown as import("@pulumi/pulumi").dynamic.ResourceProvider);
    const e = (await provider.create!({}).catch((x: unknown) => x)) as Error;
    expect(e.message).toMatch(/^Lambda Cloud API POST \/instance-operations\/launch failed .* No capacity for gpu_8x_b200_sxm6 in us-east-1 right now\. Re-run later\.$/);
    expect(e.stack).toBe("");
  });
});

describe("engine guard", () => {
  it("knows the engine address only inside the dynamic-provider host", () => {
    const host = "/x/node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js";
    expect(providerEngineAddress(["node", host, "127.0.0.1:40123"])).toBe("127.0.0.1:40123");
    expect(providerEngineAddress(["node", "/x/node_modules/vitest/vitest.mjs", "127.0.0.1:40123"])).toBeUndefined();
    expect(providerEngineAddress(["node", host])).toBeUndefined();
  });

  it("lets requests through while the engine answers, and stops (once, then exits) when it is gone", async () => {
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
    const exits: number[] = [];
    expect(await engineAnswers(address)).toBe(true);
    await assertEngineAlive(address, (c) => exits.push(c), 60_000);
    await new Promise<void>((r) => server.close(() => r()));
    const gone = await assertEngineAlive(address, (c) => exits.push(c)).catch((e: unknown) => e);
    expect((gone as { kind?: string }).kind).toBe(ENGINE_GONE);
    // Gone stays gone: no further connection attempt can let a request through.
    await expect(assertEngineAlive(address, (c) => exits.push(c))).rejects.toThrow(/engine .* is gone/);
    await new Promise((r) => setTimeout(r, 300));
    expect(exits).toEqual([70]);
  });
});

describe("engine watch", () => {
  it("ends a provider left idle once its engine is gone, without any request", async () => {
    // A fresh process-wide guard: the one above is already "gone".
    delete (globalThis as Record<symbol, unknown>)[Symbol.for("hgx.lambda-cloud.engine-guard")];
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
    const exits: number[] = [];
    await assertEngineAlive(address, (c) => exits.push(c), 50);
    await new Promise((r) => setTimeout(r, 200));
    expect(exits).toEqual([]); // alive: the watch leaves it alone
    await new Promise<void>((r) => server.close(() => r()));
    for (let i = 0; i < 100 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(exits).toEqual([70]);
    delete (globalThis as Record<symbol, unknown>)[Symbol.for("hgx.lambda-cloud.engine-guard")];
  });
});
