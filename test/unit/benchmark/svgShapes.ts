/**
 * Reads the report charts' texts and circles back out of the SVG (the flat markup they are written as: one element
 * per line, attributes in double quotes), with document order, so tests can check what is drawn where and over what.
 */
export interface SvgText {
  readonly index: number;
  readonly x: number;
  readonly y: number;
  readonly text: string;
  readonly anchor: "start" | "middle" | "end";
  readonly fontSize: number;
  readonly bold: boolean;
  /** Rotated (the y axis title): its x/y are not where it is drawn. */
  readonly transformed: boolean;
}

export interface SvgCircle {
  readonly index: number;
  readonly cx: number;
  readonly cy: number;
  readonly r: number;
  readonly fill: string;
  readonly className: string | undefined;
  /** The tooltip: data points have one, legend keys and markers do not. */
  readonly title: string | undefined;
}

export interface Box {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

const unescape = (s: string): string => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, "&");

function attr(attrs: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)${name}="([^"]*)"`).exec(attrs);
  return m ? unescape(m[1]) : undefined;
}

export function svgTexts(svg: string): SvgText[] {
  return [...svg.matchAll(/<text ([^>]*)>([^<]*)<\/text>/g)].map((m) => ({
    index: m.index ?? 0,
    x: Number(attr(m[1], "x")),
    y: Number(attr(m[1], "y")),
    text: unescape(m[2]),
    anchor: (attr(m[1], "text-anchor") ?? "start") as SvgText["anchor"],
    fontSize: Number(attr(m[1], "font-size") ?? 12),
    bold: attr(m[1], "font-weight") === "bold",
    transformed: attr(m[1], "transform") !== undefined,
  }));
}

export function svgCircles(svg: string): SvgCircle[] {
  return [...svg.matchAll(/<circle ([^>]*?)\/?>(?:<title>([^<]*)<\/title><\/circle>)?/g)].map((m) => ({
    index: m.index ?? 0,
    cx: Number(attr(m[1], "cx")),
    cy: Number(attr(m[1], "cy")),
    r: Number(attr(m[1], "r")),
    fill: attr(m[1], "fill") ?? "",
    className: attr(m[1], "class"),
    title: m[2] === undefined ? undefined : unescape(m[2]),
  }));
}

/**
 * Where a text is drawn, estimated generously: DejaVu Sans (the PNG's font) is at most ~0.64 em a character in
 * these labels (0.7 bold), ascent 0.8 em above the baseline, descent 0.25 em below.
 */
export function textBox(t: SvgText): Box {
  const w = t.text.length * t.fontSize * (t.bold ? 0.7 : 0.64);
  const x0 = t.anchor === "start" ? t.x : t.anchor === "middle" ? t.x - w / 2 : t.x - w;
  return { x0, x1: x0 + w, y0: t.y - t.fontSize * 0.8, y1: t.y + t.fontSize * 0.25 };
}

export function circleBox(c: SvgCircle): Box {
  return { x0: c.cx - c.r, x1: c.cx + c.r, y0: c.cy - c.r, y1: c.cy + c.r };
}

export function boxesOverlap(a: Box, b: Box): boolean {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

/** The plot frame: the chart's one `<rect … fill="none">`. */
export function plotFrame(svg: string): Box {
  const m = /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="none"/.exec(svg);
  if (!m) throw new Error("no plot frame in the SVG");
  const [x, y, w, h] = m.slice(1).map(Number);
  return { x0: x, y0: y, x1: x + w, y1: y + h };
}
