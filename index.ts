/**
 * Composition root: read and validate the stack's config, build host → SGLang server → benchmark
 * for each replica, export what a user needs. Logic lives in components/.
 */
import { deployStack, deploymentOutputs, loadStackConfig } from "./components/stack";

const config = loadStackConfig();
const deployments = deployStack(config).map(deploymentOutputs);
const [primary] = deployments;

/** The first (usually only) replica, flattened for `pulumi stack output`. */
export const host = primary?.host;
export const server = primary?.server;
export const benchmark = primary?.benchmark;
/** Every replica, in order (`hgx`, `hgx-2`, ...). */
export const replicas = deployments;
