/**
 * SGLang as a serving engine (`python -m sglang.launch_server`). Its typed flags, presets, checks and
 * the argv renderer are `args.ts` here (its generated value lists: `../sglangChoices.generated.json`).
 */
import { apiKeyWrapperScript, type ServingEngine } from "../engine";

export const SGLANG_ENGINE: ServingEngine = {
  name: "sglang",
  launcher: ["python", "-m", "sglang.launch_server"],
  // SGLang reads the key only from argv (`--api-key`); the wrapper puts it there at exec time.
  apiKeyFlag: "--api-key",
  apiKeyEnv: "SGLANG_API_KEY",
  wrapperArgv0: "sglang-launch",
  healthPath: "/health",
  // SGLang's own default `--port`.
  defaultPort: 30000,
};

/** Env var carrying the SGLang API key into the launch wrapper. */
export const API_KEY_ENV = SGLANG_ENGINE.apiKeyEnv;

/** SGLang's launch wrapper: `--api-key` appended by the shell at exec time, from `API_KEY_ENV`. */
export const API_KEY_WRAPPER_SCRIPT = apiKeyWrapperScript(SGLANG_ENGINE);
