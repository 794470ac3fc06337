/**
 * A PNG of a report chart, for places that show images but not SVG (a GitHub PR comment). Rendered by resvg (a
 * maintained SVG renderer with prebuilt binaries), with the font loaded from a file: resvg draws no text at all when
 * it finds no font, and system font discovery differs between machines, so the PNG would differ too.
 */
import * as fs from "node:fs";
import { Resvg } from "@resvg/resvg-js";

/** DejaVu Sans, regular and bold: Debian's fonts-dejavu-core (scripts/setup-machine.sh installs it). */
export const CHART_FONT_FILES: readonly string[] = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"];

/** The PNG, or why there is none (the SVG is still the report; the PNG is a copy for a PR comment). */
export type PngOutcome = { readonly png: Buffer } | { readonly problem: string };

export interface PngOptions {
  /** Font files to draw the text with. @default CHART_FONT_FILES */
  readonly fontFiles?: readonly string[];
  /** Pixels per SVG unit (2 = sharp on a high-density screen). @default 2 */
  readonly scale?: number;
}

/** Renders an SVG document to PNG; a missing font file is a problem naming the file and the fix, not a PNG without text. */
export function renderPng(svg: string, opts: PngOptions = {}): PngOutcome {
  const fontFiles = opts.fontFiles ?? CHART_FONT_FILES;
  const missing = fontFiles.filter((f) => !fs.existsSync(f));
  if (missing.length > 0 || fontFiles.length === 0) {
    return {
      problem: `font file ${missing.join(", ") || "(none given)"} not found, and the PNG would have no text. Fix: install the DejaVu fonts (Debian/Ubuntu: apt-get install fonts-dejavu-core; scripts/setup-machine.sh does).`,
    };
  }
  const resvg = new Resvg(svg, {
    // Only the given fonts: the charts ask for Helvetica/Arial/sans-serif, which all resolve to the loaded family.
    font: { loadSystemFonts: false, fontFiles: [...fontFiles], defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
    fitTo: { mode: "zoom", value: opts.scale ?? 2 },
    background: "#ffffff",
  });
  return { png: resvg.render().asPng() };
}
