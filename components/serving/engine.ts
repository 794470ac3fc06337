/**
 * A serving engine as the container sees it: how its server starts, takes its API key, reports health
 * and which port it listens on by default. The container spec, the plan and the server component read
 * only this; an engine's flags, presets and their checks live in the engine's own module
 * (`sglang/args.ts` for SGLang). Engines are registered by name in `engines.ts`.
 */
export interface ServingEngine {
  /** Registry name (`SERVING_ENGINES`), e.g. "sglang". */
  readonly name: string;
  /** argv that starts the server; the rendered flags follow it. */
  readonly launcher: readonly string[];
  /** The server's API-key flag; its value is appended at exec time from `apiKeyEnv`, never stored in argv. */
  readonly apiKeyFlag: string;
  /** Env var carrying the API key (a secret) into the launch wrapper. */
  readonly apiKeyEnv: string;
  /** argv[0] of the key-appending `sh -c` wrapper: what `ps` shows instead of a bare "sh". */
  readonly wrapperArgv0: string;
  /** HTTP path answering 200 once the server serves (the Docker health probe). */
  readonly healthPath: string;
  /** Port the server listens on inside the container when its flags name none. */
  readonly defaultPort: number;
}

/**
 * The `sh -c` script that appends the API key from the environment at exec time, and refuses to start
 * an unauthenticated server when the variable is empty (exit 64).
 */
export function apiKeyWrapperScript(engine: ServingEngine): string {
  return (
    `[ -n "$${engine.apiKeyEnv}" ] || { echo "${engine.apiKeyEnv} is empty: refusing to start an unauthenticated server" >&2; exit 64; }; ` +
    `exec ${engine.launcher.join(" ")} "$@" ${engine.apiKeyFlag} "$${engine.apiKeyEnv}"`
  );
}

/** The container's command: the launcher and the flags, or, with an API key, the wrapper that appends it. */
export function engineCommand(engine: ServingEngine, argv: readonly string[], apiKey: boolean): string[] {
  return apiKey ? ["sh", "-c", apiKeyWrapperScript(engine), engine.wrapperArgv0, ...argv] : [...engine.launcher, ...argv];
}
