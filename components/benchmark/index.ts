// The benchmark layer: one parser for both runners' results, the seed baseline and thresholds,
// cost per token, the PR report, the two runners' command lines and the Benchmark component.
export * from "./workload";
export * from "./results";
export * from "./baseline";
export * from "./cost";
export * from "./report";
export * from "./remoteRunner";
export * from "./nativeCommand";
export * from "./benchmark";
// The native runner keeps its own namespace (its stats types share names with the parser's).
export * as runner from "./runner";
