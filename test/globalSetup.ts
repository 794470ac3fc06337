/**
 * Runs once around the integration tests: takes a lease on the test rig's own Docker daemon
 * (fixtures/docker-rig: started here, or a healthy one reused) and points every test process at it
 * by exporting DOCKER_HOST before vitest forks its workers, so the docker CLI, the Pulumi docker
 * provider and every child process inherit it. Checks the GPU path (`docker run --gpus all` through
 * the NVIDIA hook stand-in) once. The returned teardown gives the lease back; the last one stops a
 * daemon that leases started. The machine's own dockerd is never used or touched.
 */
import { acquireRigDocker, pointAtRigDocker } from "./fixtures/docker-rig";
import { checkGpuRuntimeStandIn } from "./fixtures/ssh-host/docker";

export default async function setup(): Promise<() => Promise<void>> {
  const rig = await acquireRigDocker();
  pointAtRigDocker(process.env);
  try {
    await checkGpuRuntimeStandIn();
  } catch (err) {
    await rig.release();
    throw err;
  }
  return () => rig.release();
}
