import type { Layer } from "./analysis";

/**
 * The declared layer order of the program, lowest first. A file may import files of its own
 * layer and of lower ones; an import of a higher layer is an arrow running back up. Every file
 * under components/ (and index.ts) must belong to a layer, so a new folder has to be placed here.
 */
export const LAYERS: readonly Layer[] = [
  // Project-wide facts (project name, production stacks, GPU model word): a leaf that imports
  // nothing, so any layer can name them without reaching into config.
  { name: "facts", paths: ["components/projectFacts.ts"] },
  // Plain helpers with no domain knowledge: shell quoting, durations, addresses, container image references.
  { name: "util", paths: ["components/shell.ts", "components/duration.ts", "components/network.ts", "components/image.ts"] },
  // What a layer's config slice is made of (schema entries, the reader its parser uses, problems): below
  // the layers so each can declare its own keys without importing config, which assembles them.
  { name: "configSlice", paths: ["components/configSlice.ts"] },
  // The machine: one folder per host provider (lambda/, existing/, local/; registered in host/providers.ts), readiness,
  // host keys, and the commands run on a host.
  { name: "host", paths: ["components/host/"] },
  // The inference server on a host: image, SGLang flags, weights, container, readiness gate.
  { name: "serving", paths: ["components/serving/"] },
  // The SGLang router in front of several replicas (uses serving's container and image helpers).
  { name: "router", paths: ["components/router/"] },
  // Benchmarks against an endpoint: workload, runners (vllm bench serve, native), reports, capacity.
  { name: "benchmark", paths: ["components/benchmark/"] },
  // Operations outside `pulumi up`: policy rules, reaper, promotion gate, down targets, breakdowns.
  { name: "ops", paths: ["components/ops/"] },
  // Stack configuration: the schema every key is read by, and Pulumi.yaml generated from it.
  { name: "config", paths: ["components/config.ts", "components/projectFile.ts"] },
  // Composition: config → hosts → servers → router → benchmarks, and the outputs.
  { name: "stack", paths: ["components/stack.ts"] },
  // Entry points: the Pulumi program and the library's barrel.
  { name: "entry", paths: ["components/index.ts", "index.ts"] },
];
