// The host layer: where the GPU machine comes from and whether it is ready for GPU containers.
export * from "./connection";
export * from "./readiness";
export * from "./lambdaMachine";
export * from "./hgxHost";
export * from "./dockerEndpoint";
export * from "./hostCommand";
