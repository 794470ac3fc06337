/**
 * Reading another stack's outputs from outside a Pulumi program, so that the promotion check runs
 * in any CI: through the Pulumi CLI (`pulumi stack output --json --stack <org/project/stack>`,
 * the same data a `StackReference` sees) or from a JSON file a previous job saved.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";

export interface CliOutputsQuery {
  /** Fully qualified stack name (`org/project/stack`), or a bare name inside a project directory. */
  readonly stack: string;
  /** Directory to run the CLI in (a project directory when the stack name is not qualified). */
  readonly cwd?: string;
  /** CLI binary. @default "pulumi" (from PATH) */
  readonly pulumiBin?: string;
  /** Decrypt secret outputs (`--show-secrets`); metrics are not secret, so rarely needed. @default false */
  readonly showSecrets?: boolean;
  /** Hard limit for the CLI call. @default 120000 */
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs `pulumi stack output --json` and parses the result. */
export function readStackOutputsViaCli(q: CliOutputsQuery): Promise<Record<string, unknown>> {
  const args = ["stack", "output", "--json", "--non-interactive", "--stack", q.stack];
  if (q.showSecrets) args.push("--show-secrets");
  const bin = q.pulumiBin ?? "pulumi";
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      { cwd: q.cwd, env: q.env ?? process.env, timeout: q.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          const why = code === "ENOENT" ? `'${bin}' was not found on PATH` : (stderr.trim() || err.message);
          reject(
            new Error(
              `could not read the outputs of stack '${q.stack}' with \`${bin} ${args.join(" ")}\`: ${why}. ` +
                "Fix: install/login the Pulumi CLI (PULUMI_ACCESS_TOKEN or PULUMI_BACKEND_URL), use the fully qualified org/project/stack name, " +
                "or pass --outputs-file with a saved `pulumi stack output --json`.",
            ),
          );
          return;
        }
        try {
          resolve(normalizeOutputs(JSON.parse(stdout), `stack ${q.stack}`));
        } catch (e) {
          reject(new Error(`stack '${q.stack}': the CLI printed something that is not an outputs object: ${(e as Error).message}`));
        }
      },
    );
  });
}

/** Reads a saved `pulumi stack output --json` (or an Automation API `OutputMap`) from a file. */
export function readOutputsFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`cannot read outputs file '${file}': ${(e as Error).message}. Fix: save it with \`pulumi stack output --json --stack <org/project/dev> > ${file}\`.`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`outputs file '${file}' is not JSON (${(e as Error).message}). Fix: save it with \`pulumi stack output --json\`.`);
  }
  return normalizeOutputs(doc, `outputs file '${file}'`);
}

/**
 * Accepts the CLI's `{name: value}` and the Automation API's `{name: {value, secret}}`, returning
 * the former.
 */
export function normalizeOutputs(doc: unknown, source: string): Record<string, unknown> {
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new Error(`${source}: expected a JSON object of stack outputs, got ${Array.isArray(doc) ? "an array" : typeof doc}.`);
  }
  const entries = Object.entries(doc as Record<string, unknown>);
  const isOutputMap =
    entries.length > 0 &&
    entries.every(([, v]) => v !== null && typeof v === "object" && "value" in (v as object) && typeof (v as { secret?: unknown }).secret === "boolean");
  if (!isOutputMap) return doc as Record<string, unknown>;
  return Object.fromEntries(entries.map(([k, v]) => [k, (v as { value: unknown }).value]));
}
