// The standalone entry: argument parsing, and a real out-of-process run driven over HTTP.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { parseArgs } from "../../fixtures/lambda-emulator/main";
import { call, data, errorCode } from "./http";

const MAIN = path.resolve(__dirname, "../../fixtures/lambda-emulator/main.ts");
const TSX_CLI = require.resolve("tsx/cli");

describe("parseArgs", () => {
  it("maps flags to options", () => {
    expect(
      parseArgs(
        ["--port", "0", "--api-key", "k", "--boot-ms", "5", "--terminate-ms", "6", "--fs-in-use-after-terminate-ms", "7",
          "--instance-ip", "127.0.0.2", "--regions", "us-east-1,us-west-1", "--rate-limit", "10,20"],
        {},
      ),
    ).toEqual({
      port: 0,
      apiKey: "k",
      bootMs: 5,
      terminateMs: 6,
      filesystemInUseAfterTerminateMs: 7,
      instanceIp: "127.0.0.2",
      regions: ["us-east-1", "us-west-1"],
      rateLimit: { minIntervalMs: 10, launchIntervalMs: 20 },
    });
  });
  it("turns the vendor rate limit off with --rate-limit off", () => {
    expect(parseArgs(["--rate-limit", "off"], {})).toEqual({ rateLimit: null });
  });
  it("takes the key from LAMBDA_EMULATOR_API_KEY", () => {
    expect(parseArgs([], { LAMBDA_EMULATOR_API_KEY: "from-env" })).toEqual({ apiKey: "from-env" });
  });
  it("names the flag and value on bad input", () => {
    expect(() => parseArgs(["--port", "x"], {})).toThrow(/--port: expected 0-65535, got 'x'/);
    expect(() => parseArgs(["--boot-ms", "-1"], {})).toThrow(/--boot-ms/);
    expect(() => parseArgs(["--bogus", "1"], {})).toThrow(/unknown flag '--bogus'/);
    expect(() => parseArgs(["--port"], {})).toThrow(/--port: missing value/);
  });
});

describe("standalone process", () => {
  let child: ChildProcessWithoutNullStreams | undefined;
  afterEach(() => {
    if (child && child.exitCode === null) child.kill("SIGTERM");
    child = undefined;
  });

  function run(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcessWithoutNullStreams {
    const { LAMBDA_EMULATOR_API_KEY: _drop, ...rest } = process.env;
    child = spawn(process.execPath, [TSX_CLI, MAIN, ...args], { env: { ...rest, ...env } });
    return child;
  }

  function firstLine(p: ChildProcessWithoutNullStreams): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("emulator did not print its URL within 20 s")), 20_000);
      createInterface({ input: p.stdout }).once("line", (line) => {
        clearTimeout(timer);
        resolve(line);
      });
      p.once("exit", (code) => reject(new Error(`emulator exited early with ${code}`)));
    });
  }

  it("prints its base URL, serves the API, takes faults over HTTP and stops on SIGTERM", async () => {
    // Raw, unpaced requests: the vendor rate limit (on by default) is turned off.
    const p = run(["--port", "0", "--boot-ms", "0", "--rate-limit", "off"], { LAMBDA_EMULATOR_API_KEY: "standalone-key" });
    let stderr = "";
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const baseUrl = await firstLine(p);
    expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1$/);
    const emu = { baseUrl, apiKey: "standalone-key" };
    expect((await call(emu, "GET", "/instance-types")).status).toBe(200);
    expect(errorCode(await call(emu, "GET", "/instances", undefined, { authorization: "Bearer nope" }))).toBe("global/invalid-api-key");
    const origin = baseUrl.replace(/\/api\/v1$/, "");
    await fetch(`${origin}/_emulator/faults`, { method: "POST", body: JSON.stringify({ fault: "throttle", args: [1] }) });
    expect((await call(emu, "GET", "/instances")).status).toBe(429);
    expect(data<unknown[]>(await call(emu, "GET", "/instances"))).toEqual([]);
    const exited = new Promise<number | null>((resolve) => p.once("exit", (code) => resolve(code)));
    p.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stderr).not.toContain("standalone-key");
  });

  it("refuses to start without an API key and says how to give one", async () => {
    const p = run(["--port", "0"]);
    let stderr = "";
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => p.once("exit", (c) => resolve(c)));
    expect(code).toBe(2);
    expect(stderr).toMatch(/--api-key KEY or set LAMBDA_EMULATOR_API_KEY/);
  });
});
