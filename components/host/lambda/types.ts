// Wire shapes of the Lambda Cloud API v1 that this project reads or sends, written from the
// vendor's OpenAPI document 1.8.3 (/work/shared/reference/lambda-cloud-openapi-1.8.3.json).
// Only the fields we use are typed; the API may add more.

export type InstanceStatus = "booting" | "active" | "unhealthy" | "terminated" | "terminating" | "preempted";

/** Statuses from which an instance never becomes usable again. */
export const DEAD_STATUSES: readonly InstanceStatus[] = ["unhealthy", "terminated", "terminating", "preempted"];

export interface Region {
  name: string;
  description?: string;
}

export interface InstanceType {
  name: string;
  description?: string;
  gpu_description?: string;
  price_cents_per_hour: number;
  specs?: { vcpus: number; memory_gib: number; storage_gib: number; gpus: number };
}

export interface InstanceTypesItem {
  instance_type: InstanceType;
  regions_with_capacity_available: Region[];
}

export interface Tag {
  key: string;
  value: string;
}

export interface Instance {
  id: string;
  name?: string;
  ip?: string;
  private_ip?: string;
  status: InstanceStatus;
  ssh_key_names: string[];
  file_system_names: string[];
  region: Region;
  instance_type: InstanceType;
  hostname?: string;
  tags?: Tag[];
  firewall_rulesets?: { id: string }[];
}

export interface LaunchRequest {
  region_name: string;
  instance_type_name: string;
  ssh_key_names: string[];
  file_system_names?: string[];
  file_system_mounts?: { file_system_id: string; mount_point: string }[];
  hostname?: string;
  name?: string;
  image?: { id: string } | { family: string };
  user_data?: string;
  tags?: Tag[];
  firewall_rulesets?: { id: string }[];
}

export interface SshKey {
  id: string;
  name: string;
  public_key: string;
}

export interface GeneratedSshKey extends SshKey {
  private_key: string;
}

export interface Filesystem {
  id: string;
  name: string;
  mount_point: string;
  created: string;
  is_in_use: boolean;
  region: Region;
  bytes_used?: number;
}

export interface Image {
  id: string;
  name: string;
  family: string;
  version: string;
  architecture: string;
  region: Region;
}

export type NetworkProtocol = "tcp" | "udp" | "icmp" | "all";

export interface FirewallRule {
  protocol: NetworkProtocol;
  /** Inclusive [min, max]; absent for icmp. */
  port_range?: [number, number];
  source_network: string;
  description: string;
}

export interface FirewallRuleset {
  id: string;
  name: string;
  region: Region;
  rules: FirewallRule[];
  created: string;
  instance_ids: string[];
}

/** Error body: `{"error": {code, message, suggestion?}}`. Branch on `code` only. */
export interface ApiErrorBody {
  code: string;
  message?: string;
  suggestion?: string;
}
