/**
 * Runs once before the integration tests: the Docker engine must be up, and the GPU runtime
 * stand-in hook must be on dockerd's PATH before dockerd starts (dockerd only enables `--gpus`
 * when it finds the hook at start-up), so it is installed here, before any container exists.
 */
import { ensureDocker, ensureGpuRuntimeStandIn } from "./fixtures/ssh-host/docker";

export default async function setup(): Promise<void> {
  await ensureDocker();
  await ensureGpuRuntimeStandIn();
}
