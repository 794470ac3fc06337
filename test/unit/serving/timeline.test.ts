import { describe, expect, it } from "vitest";
import { asIsoTime, BOOT_PHASES, buildTimeline, criticalPath, parseTimelineMarkers, TIMELINE_PHASES } from "../../../components/serving/timeline";

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

  it("with boot work: the boot phases come first, and the path is max(boot, pull, download) + load", () => {
    // Launch at 0; boot 30 s (+5 s checks); boot pull 0-60, boot download 0-90; wait 35-91; load 45.
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();
    const bootWaitLog = [
      "BOOT pull done",
      `TIMELINE boot_wait_start ${at(35)}`,
      `TIMELINE boot_wait_done ${at(91)}`,
      `TIMELINE boot_start ${at(0)}`,
      `TIMELINE boot_pull_start ${at(0)}`,
      `TIMELINE boot_weights_start ${at(0)}`,
      `TIMELINE boot_pull_done ${at(60)}`,
      `TIMELINE boot_weights_done ${at(90)}`,
    ].join("\n");
    const t = buildTimeline({
      hostReadyAt: at(35),
      bootWaitLog,
      imagePulledAt: at(92),
      weightsLog: `TIMELINE weights_start ${at(92)}\nTIMELINE weights_done ${at(93)}`,
      gateLog: `TIMELINE container_started ${at(94)}\nTIMELINE health_ok ${at(139)}\nTIMELINE ready ${at(140)}`,
    });
    expect(t.map((p) => p.phase)).toEqual([...BOOT_PHASES, ...TIMELINE_PHASES]);
    expect(t.map((p) => p.seconds)).toEqual([35, 60, 90, 56, undefined, 1, 1, 45, 1]);
    // The stack's own pull starts when the wait ended, not at host ready.
    expect(t.find((p) => p.phase === "imagePulled")).toMatchObject({ start: at(91), end: at(92) });
    // 140 s from the boot work's start; 90 + 45 + 1 waited for; 4 s added (wait poll, skips, container start).
    expect(criticalPath(t)).toEqual({ phases: ["bootWeights", "containerHealthy", "ready"], totalSeconds: 140, phaseSeconds: 136, stackAddedSeconds: 4 });
  });

  it("with boot work that finished early, the boot itself is the longest chain", () => {
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();
    const t = buildTimeline({
      hostReadyAt: at(600),
      bootWaitLog: [`TIMELINE boot_start ${at(0)}`, `TIMELINE boot_pull_start ${at(1)}`, `TIMELINE boot_pull_done ${at(200)}`, `TIMELINE boot_weights_start ${at(1)}`, `TIMELINE boot_weights_done ${at(400)}`].join("\n"),
      imagePulledAt: at(601),
      gateLog: `TIMELINE container_started ${at(603)}\nTIMELINE health_ok ${at(903)}\nTIMELINE ready ${at(904)}`,
    });
    // [boot 600, imagePulled 1] beats the 399 s boot download.
    expect(criticalPath(t)).toMatchObject({ phases: ["boot", "imagePulled", "containerHealthy", "ready"], totalSeconds: 904, phaseSeconds: 600 + 1 + 300 + 1 });
  });
});
