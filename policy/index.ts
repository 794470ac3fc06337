/**
 * Policy pack for the HGX inference stack. Wiring only: the rules live in
 * `components/ops/policyRules.ts` as plain functions with unit tests.
 *
 * Run (from the repository root, no separate install: the pack resolves @pulumi/policy from the
 * root node_modules):
 *
 *   pulumi preview --policy-pack policy [--policy-pack-config policy/config.json]
 *
 * Resource policies run before each resource is created or updated, so they block `up`; stack
 * policies see the whole stack and run after the resources are registered (in preview, on the
 * planned state).
 */
import { PolicyPack, type PolicyResource, type ReportViolation, type ResourceValidationArgs } from "@pulumi/policy";
import {
  containerExposureViolations,
  firewallExposureViolations,
  instanceCostViolations,
  pinnedImageViolations,
  POLICY_DEFAULTS,
  snapshotProps,
  stackCostViolations,
  stackExposureViolations,
  ttlBoundViolations,
  sshExposureViolations,
  ttlViolations,
  type PolicyResourceView,
} from "../components/ops/policyRules";

/** The engine's view of a resource as plain data, unknown preview values marked. */
function view(r: ResourceValidationArgs | PolicyResource): PolicyResourceView {
  return { type: r.type, name: r.name, urn: r.urn, props: snapshotProps(r.props) as Record<string, unknown> };
}

function reportAll(messages: readonly string[], report: ReportViolation, urn?: string): void {
  for (const m of messages) report(m, urn);
}

interface TtlConfig {
  productionStacks: string[];
  maxTtlDays: number;
}
interface PinConfig {
  immutableTagPattern: string;
}
interface PortConfig {
  servingPorts: number[];
}
interface CostConfig {
  maxUsdPerHour: number;
}

const servingPortsSchema = {
  servingPorts: {
    type: "array" as const,
    items: { type: "integer" as const, minimum: 1, maximum: 65535 },
    default: [...POLICY_DEFAULTS.servingPorts],
    description: "Ports the inference server listens on.",
  },
};
const productionStacksSchema = (description: string) => ({
  productionStacks: {
    type: "array" as const,
    items: { type: "string" as const },
    default: [...POLICY_DEFAULTS.productionStacks],
    description,
  },
});

const costSchema = {
  maxUsdPerHour: {
    type: "number" as const,
    minimum: 0,
    default: POLICY_DEFAULTS.maxHourlyCostUsd,
    description: "Ceiling for the compute spend in US dollars per hour.",
  },
};

new PolicyPack("hgx-inference-ops", {
  description: "Guards for the HGX inference stack: pinned images, expiring dev hosts, no open unauthenticated endpoint, a spend ceiling.",
  enforcementLevel: "mandatory",
  policies: [
    {
      name: "pinned-images",
      description: "Container images are pinned to a real digest (sha256 + 64 hex) or a tag the immutable-tag rule accepts (release versions); `latest`, `nightly`, untagged and fake digests are refused.",
      severity: "medium",
      configSchema: {
        properties: {
          immutableTagPattern: {
            type: "string",
            default: POLICY_DEFAULTS.immutableTagPattern,
            description: "Regular expression for tags that never move (default: release versions such as v0.5.14 or 0.5.4-cu129).",
          },
        },
      },
      validateResource: (args, report) =>
        reportAll(pinnedImageViolations(view(args), args.getConfig<PinConfig>().immutableTagPattern ?? POLICY_DEFAULTS.immutableTagPattern), report),
    },
    {
      name: "ttl-outside-prod",
      description: "Outside production stacks every Lambda instance carries an expiry, at most maxTtlDays ahead, so a forgotten host is reaped.",
      severity: "high",
      configSchema: {
        properties: {
          ...productionStacksSchema("Stack names exempt from the expiry requirement."),
          maxTtlDays: {
            type: "number",
            minimum: 0,
            default: POLICY_DEFAULTS.maxTtlSeconds / 86_400,
            description: "Longest lifetime an instance outside production may be given, in days.",
          },
        },
      },
      validateResource: (args, report) => {
        const config = args.getConfig<TtlConfig>();
        const productionStacks = config.productionStacks ?? POLICY_DEFAULTS.productionStacks;
        const maxTtlSeconds = (config.maxTtlDays ?? POLICY_DEFAULTS.maxTtlSeconds / 86_400) * 86_400;
        const v = view(args);
        reportAll([...ttlViolations(v, productionStacks), ...ttlBoundViolations(v, { productionStacks, maxTtlSeconds })], report);
      },
    },
    {
      name: "serving-port-requires-api-key",
      description: "A container publishing the serving port on all interfaces, or a firewall opening it to the world, requires an API key.",
      severity: "critical",
      configSchema: { properties: servingPortsSchema },
      validateResource: (args, report) => {
        const ports = args.getConfig<PortConfig>().servingPorts ?? POLICY_DEFAULTS.servingPorts;
        const v = view(args);
        reportAll([...containerExposureViolations(v, ports), ...firewallExposureViolations(v, ports)], report);
      },
    },
    {
      name: "firewall-serving-port-requires-api-key",
      description: "A firewall rule opening the serving port to 0.0.0.0/0 or ::/0 needs an API key on the server behind it.",
      severity: "critical",
      configSchema: { properties: servingPortsSchema },
      validateStack: (args, report) => {
        const ports = args.getConfig<PortConfig>().servingPorts ?? POLICY_DEFAULTS.servingPorts;
        // Container findings are reported by the resource policy above; here only the firewall ones.
        const views = args.resources.map(view);
        const containerOnly = new Set(views.flatMap((v) => containerExposureViolations(v, ports)));
        reportAll(stackExposureViolations(views, ports).filter((m) => !containerOnly.has(m)), report);
      },
    },
    {
      name: "ssh-not-world-open-in-prod",
      description: "On production stacks the firewall does not open SSH (TCP 22) to the world: lambdaSshAllowlist lists the operators' networks.",
      severity: "high",
      configSchema: { properties: productionStacksSchema("Stack names held to the rule.") },
      validateResource: (args, report) =>
        reportAll(sshExposureViolations(view(args), args.getConfig<TtlConfig>().productionStacks ?? POLICY_DEFAULTS.productionStacks), report),
    },
    {
      name: "max-hourly-cost",
      description: "No single instance may cost more than the hourly ceiling, judged at preview on the launch's price ceiling (an instance without one is refused).",
      severity: "high",
      configSchema: { properties: costSchema },
      validateResource: (args, report) =>
        reportAll(instanceCostViolations(view(args), args.getConfig<CostConfig>().maxUsdPerHour ?? POLICY_DEFAULTS.maxHourlyCostUsd), report),
    },
    {
      name: "max-hourly-cost-stack",
      description: "All instances of the stack together stay under the hourly ceiling.",
      severity: "high",
      configSchema: { properties: costSchema },
      validateStack: (args, report) =>
        reportAll(stackCostViolations(args.resources.map(view), args.getConfig<CostConfig>().maxUsdPerHour ?? POLICY_DEFAULTS.maxHourlyCostUsd), report),
    },
  ],
});
