import { describe, expect, it } from "vitest";
import { asIsoTime, buildTimeline, criticalPath, parseTimelineMarkers, TIMELINE_PHASES } from "../../../components/serving/timeline";

describe("timeline", () => {
  it("parses TIMELINE lines and ignores everything else", () => {
    const text = "noise\nTIMELINE weights_start 2026-01-01T00:00:00Z\nPROGRESS x\nTIMELINE bad not-a-date\r\nTIMELINE weights_done 2026-01-01T00:30:00Z\n";
    expect(parseTimelineMarkers(text)).toEqual({ weights_start: "2026-01-01T00:00:00.000Z", weights_done: "2026-01-01T00:30:00.000Z" });
    expect(parseTimelineMarkers(undefined)).toEqual({});
  });

  it("builds the five phases with durations", () => {
    const t = buildTimeline({
      hostReadyAt: "2026-01-01T00:00:00Z",
      imagePulledAt: "2026-01-01T00:04:00Z\n",
      weightsLog: "TIMELINE weights_start 2026-01-01T00:00:05Z\nTIMELINE weights_done 2026-01-01T00:40:05Z\n",
      gateLog: [
        "TIMELINE gate_start 2026-01-01T01:00:00Z",
        "TIMELINE container_started 2026-01-01T00:40:06.123456789Z",
        "TIMELINE health_ok 2026-01-01T01:00:01Z",
        "TIMELINE models_ok 2026-01-01T01:00:01Z",
        "TIMELINE ready 2026-01-01T01:00:03Z",
      ].join("\n"),
    });
    expect(t.map((p) => p.phase)).toEqual([...TIMELINE_PHASES]);
    expect(t.map((p) => p.seconds)).toEqual([undefined, 240, 2400, 1195, 2]);
    expect(t[0]).toMatchObject({ end: "2026-01-01T00:00:00.000Z" });
    expect(t[3]).toMatchObject({ start: "2026-01-01T00:40:06.123Z", end: "2026-01-01T01:00:01.000Z" });
    for (const p of t) expect(p.meaning.length).toBeGreaterThan(20);
    // Critical path: the download (ends last) gates the container; 5 s before the download started
    // and 1 s between it and the container start were the stack's own.
    expect(criticalPath(t)).toEqual({ phases: ["hostReady", "weightsPresent", "containerHealthy", "ready"], totalSeconds: 3603, phaseSeconds: 3597, stackAddedSeconds: 6 });
  });

  it("puts the image pull on the critical path when it ends last, and skips a download that did not run", () => {
    const t = buildTimeline({
      hostReadyAt: "2026-01-01T00:00:00Z",
      imagePulledAt: "2026-01-01T00:10:00Z",
      gateLog: "TIMELINE container_started 2026-01-01T00:10:02Z\nTIMELINE health_ok 2026-01-01T00:20:00Z\nTIMELINE ready 2026-01-01T00:20:01Z",
    });
    expect(criticalPath(t)).toEqual({ phases: ["hostReady", "imagePulled", "containerHealthy", "ready"], totalSeconds: 1201, phaseSeconds: 600 + 598 + 1, stackAddedSeconds: 2 });
    expect(criticalPath(buildTimeline({ hostReadyAt: "x" }))).toBeUndefined();
  });

  it("tolerates missing sources (non-ISO hostReady, no download)", () => {
    const t = buildTimeline({ hostReadyAt: "i-0abc ready", gateLog: "" });
    expect(t.every((p) => p.start === undefined && p.end === undefined && p.seconds === undefined)).toBe(true);
    expect(asIsoTime("2026-02-03T04:05:06Z")).toBe("2026-02-03T04:05:06.000Z");
    expect(asIsoTime("yesterday")).toBeUndefined();
  });
});
