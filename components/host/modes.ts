/** Where the GPU host comes from: a Lambda Cloud instance, an SSH host that already exists, or this machine's Docker engine. */
export const HOST_MODES = ["lambda", "existing", "local"] as const;
export type HostMode = (typeof HOST_MODES)[number];
