import * as fs from "node:fs";
import { parse } from "yaml";
import { CONFIG_SCHEMA, PROJECT, type ConfigKeySchema, type RawConfig } from "./config";

/** The content of Pulumi.yaml, derived from the config schema so the two cannot drift. */
export function projectFileDocument(): Record<string, unknown> {
  const config: Record<string, Record<string, unknown>> = {};
  for (const [key, schema] of Object.entries(CONFIG_SCHEMA) as [string, ConfigKeySchema][]) {
    const entry: Record<string, unknown> = {
      type: schema.type,
      description: schema.secret ? `${schema.description} Set with --secret.` : schema.description,
      default: schema.default,
    };
    if (schema.type === "array") entry.items = { type: "string" };
    config[key] = entry;
  }
  return {
    name: PROJECT,
    description: "8x B200 on Lambda Cloud (or any SSH host), SGLang serving Qwen3.5-397B-A17B, benchmarked after every deploy",
    // tsconfig.pulumi.json turns off type checking at `pulumi up`: ts-node's check took 6 of the
    // program's 8 s start; `npm run typecheck` (in `npm test` and CI) checks the same files.
    runtime: { name: "nodejs", options: { typescript: true, tsconfig: "tsconfig.pulumi.json", packagemanager: "npm" } },
    main: "index.ts",
    config,
  };
}

/**
 * A stack file's settings (`Pulumi.<stack>.yaml`) as Pulumi hands them to a program: full keys
 * (`hgx-inference:sglangPort`) → strings, structured values as JSON text. Secure values stay
 * ciphertext objects rendered as JSON; they are not decrypted here.
 */
export function readStackFileConfig(file: string): Record<string, string> {
  const doc = parse(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null;
  return Object.fromEntries(
    Object.entries(doc?.config ?? {}).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]),
  );
}

/** The same settings keyed without the project prefix: the `RawConfig` that `parseStackConfig` reads. */
export function rawConfigFromStackFile(file: string, project: string = PROJECT): RawConfig {
  const prefix = `${project}:`;
  return Object.fromEntries(
    Object.entries(readStackFileConfig(file)).map(([key, value]) => [key.startsWith(prefix) ? key.slice(prefix.length) : key, value]),
  );
}
