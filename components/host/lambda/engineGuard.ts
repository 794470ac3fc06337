// A dynamic provider whose engine is gone must stop. Killing `pulumi up` (SIGKILL, a CI job
// cancelled) leaves its provider processes running: the Node.js provider host is started through
// a shell wrapper, so nothing ties its life to the engine's. Left alone it goes on with a launch
// failover (deletes and re-creates a filesystem, launches in the next region) while the user's
// re-run launches its own instance: two machines bill. Every API request of the client first
// checks that the engine still answers; once it does not, nothing more is sent and the process ends.
//
// Free of module-level state (Pulumi serializes this code into the provider process); the one
// process-wide flag lives on `globalThis`.

/** Thrown instead of sending a request once the engine that started this provider is gone. */
export const ENGINE_GONE = "engine-gone";

/**
 * The engine's gRPC address when this process is Pulumi's Node.js dynamic-provider host
 * (`node …/cmd/dynamic-provider/index.js <engine address>`); undefined anywhere else (tests
 * calling providers in-process, scripts such as the reaper), where there is no engine to lose.
 */
export function providerEngineAddress(argv: readonly string[] = process.argv): string | undefined {
  const script = argv[1] ?? "";
  if (!/[\\/]cmd[\\/]dynamic-provider([\\/]index(\.js)?)?$/.test(script)) return undefined;
  const address = argv[2] ?? "";
  return /^[^\s:]+:\d{1,5}$/.test(address) ? address : undefined;
}

/**
 * Whether something accepts connections at `address` (host:port). A refused connection means the
 * engine's process is gone (its listening socket went with it); a slow answer on a loaded machine
 * counts as alive, so a busy engine never stops its own provider.
 */
export function engineAnswers(address: string, timeoutMs = 3_000): Promise<boolean> {
  const net = require("node:net") as typeof import("node:net");
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon);
  const port = Number(address.slice(colon + 1));
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (alive: boolean) => {
      socket.destroy();
      resolve(alive);
    };
    socket.setTimeout(timeoutMs, () => done(true));
    socket.once("connect", () => done(true));
    socket.once("error", (e: NodeJS.ErrnoException) => done(e.code !== "ECONNREFUSED" && e.code !== "ENOENT"));
  });
}

interface GuardState {
  gone: boolean;
  watching: boolean;
}

function guardState(): GuardState {
  const store = globalThis as unknown as Record<symbol, GuardState | undefined>;
  const key = Symbol.for("hgx.lambda-cloud.engine-guard");
  let state = store[key];
  if (!state) {
    state = { gone: false, watching: false };
    store[key] = state;
  }
  return state;
}

/** Records that the engine is gone (once) and ends this process shortly after. */
function engineGone(state: GuardState, address: string, exit: (code: number) => void): void {
  if (state.gone) return;
  state.gone = true;
  console.error(
    `[lambda] the Pulumi engine that started this provider (${address}) is gone (the deployment was killed): ` +
      "sending no further Lambda API request and exiting. Recover with `pulumi cancel` (if the stack is locked), " +
      "`pulumi refresh --clear-pending-creates`, then `pulumi up`.",
  );
  // Every other call in flight in this process belongs to the same dead deployment: end them all.
  setTimeout(() => exit(70), 200).unref();
}

/**
 * Throws (and ends this provider process shortly after) when the engine that started it no longer
 * answers. Called before every Lambda API request; a no-op outside the dynamic-provider host. The
 * first call also starts a watch every `watchEveryMs`, so a provider left idle by the kill (its
 * step done, the next never sent) ends too instead of lingering.
 */
export async function assertEngineAlive(
  address: string | undefined = providerEngineAddress(),
  exit: (code: number) => void = (code) => process.exit(code),
  watchEveryMs = 2_000,
): Promise<void> {
  if (!address) return;
  const state = guardState();
  if (!state.watching) {
    state.watching = true;
    const timer = setInterval(() => {
      void engineAnswers(address).then((alive) => {
        if (alive) return;
        clearInterval(timer);
        engineGone(state, address, exit);
      });
    }, watchEveryMs);
    timer.unref();
  }
  if (!state.gone && (await engineAnswers(address))) return;
  engineGone(state, address, exit);
  const err = new Error(`The Pulumi engine that started this provider is gone; no Lambda API request was sent.`);
  (err as Error & { kind: string }).kind = ENGINE_GONE;
  throw err;
}
