/** Serving layer: SGLang flags/presets, container spec, weights pre-download, readiness gate, SglangServer. */
export * from "./sglang/args";
export * from "../image";
export * from "./containerSpec";
export * from "./engine";
export * from "./engines";
export * from "./sglang/engine";
export * from "./weights";
export * from "./readinessGate";
export * from "./timeline";
export * from "./servingPlan";
export * from "./sglangServer";
export * from "./problem";
