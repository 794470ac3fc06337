/** The project's component library: host, serving, benchmark, and the stack composition. */
export * as host from "./host";
export * as serving from "./serving";
export * as benchmark from "./benchmark";
export * from "./config";
export * from "./stack";
