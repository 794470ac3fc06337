import { CONFIG_SCHEMA, PROJECT, type ConfigKeySchema } from "./config";

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
    runtime: { name: "nodejs", options: { typescript: true, packagemanager: "npm" } },
    main: "index.ts",
    config,
  };
}
