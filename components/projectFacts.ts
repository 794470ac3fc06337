/**
 * Facts about the whole project that several layers need. A leaf: it imports nothing, so the host,
 * ops and config layers can name these without importing config (or one another) for them.
 */

/** The Pulumi project name; config keys are `<project>:<key>`. */
export const PROJECT = "hgx-inference";

/**
 * Stacks whose instance is always protected: no expiry, never reaped, SSH never open to the
 * world. The policy pack's default, the reaper and the config read this one list, so they agree.
 */
export const PRODUCTION_STACKS: readonly string[] = ["prod", "production"];

/** A GPU model word as nvidia-smi prints it (the host readiness checks grep for it). */
export const GPU_MODEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;
