/** Router layer: SGLang's router in front of the replicas, its plan and the rolling steps. */
export * from "./routerPlan";
export * from "./workerSteps";
export * from "./sglangRouter";
export * from "./rollout";
export * from "./tunnel";
