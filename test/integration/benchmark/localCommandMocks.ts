/**
 * The shared Pulumi mocks (test/fixtures/pulumiMocks.ts) behaving like a minimal command provider for `command:local:Command`: the
 * mock really runs `create` through its interpreter, in `dir`, with `environment` and `stdin`,
 * bounded in time, and returns its stdout/stderr as the resource's state. This runs a
 * component's exact stored command line for real without the pulumi-command plugin.
 */
import { spawn } from "node:child_process";
import type * as PulumiModule from "@pulumi/pulumi";
import { installPulumiMocks } from "../../fixtures/pulumiMocks";

export interface ExecutedCommand {
  name: string;
  create: string;
  dir?: string;
  environment: Record<string, string>;
  stdin?: string;
  /** Which inputs arrived as Pulumi secrets. */
  secretInputs: string[];
  exitCode: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface LocalCommandMocks {
  pulumi: typeof PulumiModule;
  executed: ExecutedCommand[];
}

function unwrap(pulumi: typeof PulumiModule, v: unknown): { value: unknown; secret: boolean } {
  if (typeof v === "object" && v !== null && (v as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) {
    return { value: (v as { value: unknown }).value, secret: true };
  }
  return { value: v, secret: false };
}

export function runScript(
  interpreter: string[],
  script: string,
  opts: { cwd?: string; env: NodeJS.ProcessEnv; stdin?: string; timeoutMs: number },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(interpreter[0], [...interpreter.slice(1), script], { cwd: opts.cwd, env: opts.env, stdio: ["pipe", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      // the whole process group: the command's children must not outlive the test
      try {
        process.kill(-(child.pid as number), "SIGKILL");
      } catch {
        /* already gone */
      }
      reject(new Error(`command did not finish within ${opts.timeoutMs} ms; stderr so far:\n${stderr}`));
    }, opts.timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.stdin ?? "");
  });
}

/** Installs the mocks; `baseEnv` is the environment the "provider" process would have. */
export async function installLocalCommandMocks(opts: { stack: string; baseEnv: NodeJS.ProcessEnv; timeoutMs: number }): Promise<LocalCommandMocks> {
  const pulumi = await import("@pulumi/pulumi");
  const executed: ExecutedCommand[] = [];
  await installPulumiMocks({
    project: "hgx-it",
    stack: opts.stack,
    outputs: async (args) => {
      if (args.type !== "command:local:Command") return {};
      const secretInputs: string[] = [];
      const field = (k: string): unknown => {
        const u = unwrap(pulumi, (args.inputs as Record<string, unknown>)[k]);
        if (u.secret) secretInputs.push(k);
        return u.value;
      };
      const create = String(field("create"));
      const dir = field("dir") as string | undefined;
      const rawEnv = (field("environment") ?? {}) as Record<string, unknown>;
      const environment: Record<string, string> = {};
      for (const [k, v] of Object.entries(rawEnv)) {
        const u = unwrap(pulumi, v);
        if (u.secret) secretInputs.push(`environment.${k}`);
        environment[k] = String(u.value);
      }
      const stdin = field("stdin") as string | undefined;
      const interpreter = (field("interpreter") as string[] | undefined) ?? ["/bin/sh", "-c"];
      const started = Date.now();
      const r = await runScript(interpreter, create, { cwd: dir, env: { ...opts.baseEnv, ...environment }, stdin, timeoutMs: opts.timeoutMs });
      executed.push({ name: args.name, create, dir, environment, stdin, secretInputs, exitCode: r.code, stdout: r.stdout, stderr: r.stderr, durationMs: Date.now() - started });
      // like the real provider: a non-zero exit fails the resource, with the output in the message
      if (r.code !== 0) throw new Error(`command ${args.name} exited with ${r.code}:\n${r.stderr}`);
      return { stdout: r.stdout, stderr: r.stderr };
    },
  });
  return { pulumi, executed };
}

export function settle<T>(o: PulumiModule.Output<T>): Promise<T> {
  return (o as unknown as { promise(): Promise<T> }).promise();
}
