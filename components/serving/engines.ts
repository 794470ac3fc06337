/**
 * The serving engines, by name: a new engine is a folder beside `sglang/` exporting a `ServingEngine`,
 * plus one line here.
 */
import type { ServingEngine } from "./engine";
import { SGLANG_ENGINE } from "./sglang/engine";

export const SERVING_ENGINES = {
  sglang: SGLANG_ENGINE,
} as const satisfies Readonly<Record<string, ServingEngine>>;

export type ServingEngineName = keyof typeof SERVING_ENGINES;

/** The engine a server runs when its settings name none. */
export const DEFAULT_SERVING_ENGINE: ServingEngineName = "sglang";
