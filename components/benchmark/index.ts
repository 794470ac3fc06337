// The benchmark layer: one parser for both runners' results, the seed baseline and thresholds,
// cost per token, the PR report, the two runners' command lines and the Benchmark component.
export * from "./workload";
export * from "./resultParser";
export * from "./baseline";
export * from "./cost";
export * from "./benchmarkReport";
export * from "./remoteRunner";
export * from "./nativeCommand";
export * from "./benchmark";
export { serverFlagsHash, type ServerProvenanceFacts } from "./provenance";
export * from "./stackPlan";
// The native runner keeps its own namespace (its CLI-facing helpers are not the component API).
export * as runner from "./runner";
