import { describe, expect, it } from "vitest";
import { deployBreakdown, renderDeployBreakdown, unionSeconds, waitRoleOf, type EngineEventLike } from "../../../components/ops/deployBreakdown";

const T0 = 1_800_000_000;
let seq = 0;
function step(name: string, type: string, op: string, start: number, end: number, failed = false): EngineEventLike[] {
  const metadata = { urn: `urn:pulumi:local::hgx-inference::${type}::${name}`, type, op };
  return [
    { sequence: seq++, timestamp: T0 + start, resourcePreEvent: { metadata } },
    { sequence: seq++, timestamp: T0 + end, ...(failed ? { resOpFailedEvent: { metadata } } : { resOutputsEvent: { metadata } }) },
  ];
}

/** The local stack's update as the engine reports it: program start 3 s, gate 9 s, benchmark 10 s. */
function localUp(): EngineEventLike[] {
  seq = 0;
  const events: EngineEventLike[] = [
    { sequence: seq++, timestamp: T0, preludeEvent: {} },
    ...step("hgx-inference-local", "pulumi:pulumi:Stack", "create", 0, 25),
  ];
  // Interleave as the engine does: sort by time afterwards.
  events.push(
    ...step("hgx", "hgx:host:HgxHost", "create", 3, 3),
    ...step("hgx-readiness-docker", "command:local:Command", "create", 3, 4),
    ...step("hgx-docker-provider", "pulumi:providers:docker", "create", 4, 5),
    ...step("hgx-image", "docker:index/remoteImage:RemoteImage", "create", 5, 6),
    ...step("hgx-image-pulled", "command:local:Command", "create", 6, 6),
    ...step("hgx-container", "docker:index/container:Container", "create", 6, 7),
    ...step("hgx-ready", "command:local:Command", "create", 7, 16),
    ...step("hgx-run", "command:local:Command", "create", 16, 26),
    ...step("hgx-inference-local-unchanged", "command:local:Command", "same", 5, 5),
  );
  events.push({ sequence: seq++, timestamp: T0 + 27, summaryEvent: {} });
  return events.sort((a, b) => a.timestamp - b.timestamp);
}

describe("deploy breakdown from engine events", () => {
  it("splits an update into waits and the stack's own overhead", () => {
    const b = deployBreakdown(localUp());
    expect(b.totalSeconds).toBe(27);
    expect(b.programStartSeconds).toBe(3);
    // Waits: host check 3-4, image 5-6, gate 7-16, benchmark 16-26 = 1 + 1 + 9 + 10.
    expect(b.waitSeconds).toBe(21);
    expect(b.overheadSeconds).toBe(6);
    expect(b.steps.map((s) => s.name)).not.toContain("hgx-inference-local-unchanged");
    expect(b.steps.find((s) => s.name === "hgx")?.waitRole).toBeUndefined(); // a component is never a wait
    expect(b.steps.find((s) => s.name === "hgx-image-pulled")?.waitRole).toBeUndefined();
  });

  it("counts overlapping waits once (image pull beside the weights download)", () => {
    seq = 0;
    const b = deployBreakdown([
      ...step("hgx-image", "docker:index/remoteImage:RemoteImage", "create", 0, 60),
      ...step("hgx-weights", "command:remote:Command", "create", 0, 90),
      ...step("hgx-ready", "command:remote:Command", "create", 90, 135),
    ]);
    expect(b.waitSeconds).toBe(135);
    expect(b.overheadSeconds).toBe(0);
  });

  it("keeps a failed step, marked", () => {
    seq = 0;
    const b = deployBreakdown([...step("hgx-container", "docker:index/container:Container", "create", 0, 2, true)]);
    expect(b.steps[0]).toMatchObject({ name: "hgx-container", failed: true });
    expect(renderDeployBreakdown(b)).toContain("FAILED");
  });

  it("names the roles of the stack's children", () => {
    expect(waitRoleOf("hgx-ready")).toBe("ready");
    expect(waitRoleOf("hgx-2-run")).toBe("run");
    expect(waitRoleOf("hgx-readiness-gpus")).toBe("readiness");
    expect(waitRoleOf("hgx-machine-instance")).toBe("instance");
    expect(waitRoleOf("hgx-boot-wait")).toBe("wait");
    expect(waitRoleOf("hgx-container")).toBeUndefined();
    expect(waitRoleOf("hgx-image-pulled")).toBeUndefined();
  });

  it("unions intervals", () => {
    expect(unionSeconds([[0, 10], [5, 20], [30, 31], [31, 31]])).toBe(21);
    expect(unionSeconds([])).toBe(0);
  });

  it("refuses an empty log with what to pass", () => {
    expect(() => deployBreakdown([])).toThrow(/--event-log/);
  });

  it("renders a table with the totals", () => {
    const text = renderDeployBreakdown(deployBreakdown(localUp()));
    expect(text).toMatch(/\+7s\s+9s\s+create\s+hgx-ready\s+wait: server boot/);
    expect(text).toContain("total 27 s = waits 21 s + the stack's own overhead 6 s (program start 3 s)");
  });
});
