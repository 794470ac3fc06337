/**
 * Composition root: read and validate the stack's config, build host → SGLang server → benchmark
 * for each replica (and the router in front of them when there are several), export what a user
 * needs. Logic lives in components/.
 */
import { benchmarkOutputs, deployStack, deploymentOutputs, loadStackConfig, routerOutputs } from "./components/stack";

const config = loadStackConfig();
const stack = deployStack(config);
const deployments = stack.deployments.map(deploymentOutputs);
const [primary] = deployments;

/** The first (usually only) replica, flattened for `pulumi stack output`. */
export const host = primary?.host;
export const server = primary?.server;
/** The benchmark: of the only replica, or through the router when there is one. */
export const benchmark = stack.router
  ? stack.router.benchmark && { ...benchmarkOutputs(stack.router.benchmark), scalingEfficiency: stack.router.scalingEfficiency }
  : primary?.benchmark;
/** Every replica, in order (`hgx`, `hgx-2`, ...). */
export const replicas = deployments;
/** With `replicas` > 1: the one endpoint in front of them, its metrics and the workers behind it. */
/** The one build every replica (and a router on the SGLang image) runs: a digest (`repo@sha256:...`, or the image ID of an image built on this engine). */
export const imageDigest = stack.imageDigest;
/** The model commit every replica's weights step got ("" without a pre-download, e.g. the local stack). */
export const weightsCommit = stack.weightsCommit;
export const router = stack.router && routerOutputs(stack.router.router, stack.deployments, stack.router.rollout, stack.router.host);
