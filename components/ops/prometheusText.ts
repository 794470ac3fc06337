/**
 * A small strict reader of the Prometheus text exposition format (version 0.0.4), enough for the counters and gauges
 * the idle decision reads from SGLang's and the router's /metrics. No npm parser is in the project's dependencies; this
 * one refuses what it does not understand (naming the line) instead of guessing, since a misread counter could tear a
 * busy stack down.
 */

/** One sample line: `name{label="v",...} value [timestamp]`. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** What a scrape holds: samples and each family's declared `# TYPE`. */
export interface PromScrape {
  readonly samples: readonly PromSample[];
  readonly types: Readonly<Record<string, string>>;
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})?[ \\t]+(\\S+)(?:[ \\t]+-?\\d+)?$`);
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
const TYPE_LINE = new RegExp(`^#\\s*TYPE\\s+(${NAME})\\s+(counter|gauge|histogram|summary|untyped)\\s*$`);

function parseValue(raw: string): number | undefined {
  if (raw === "+Inf" || raw === "Inf") return Infinity;
  if (raw === "-Inf") return -Infinity;
  if (raw === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) return undefined;
  return Number(raw);
}

function parseLabels(text: string, lineNo: number): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const start = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (!m || m.index !== start) throw new Error(`metrics line ${lineNo}: cannot read the labels {${text}}; expected name="value" pairs`);
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    if (m[3] === "") break;
  }
  return labels;
}

/** Parses exposition text; throws on a line that is neither a comment, blank, nor a well-formed sample. */
export function parsePrometheusText(text: string): PromScrape {
  const samples: PromSample[] = [];
  const types: Record<string, string> = {};
  text.split("\n").forEach((rawLine, i) => {
    const line = rawLine.replace(/\r$/, "").trim();
    if (line === "") return;
    if (line.startsWith("#")) {
      const t = TYPE_LINE.exec(line);
      if (t) types[t[1]] = t[2];
      return;
    }
    const m = SAMPLE.exec(line);
    const value = m ? parseValue(m[3]) : undefined;
    if (!m || value === undefined) throw new Error(`metrics line ${i + 1} is not a Prometheus sample: ${JSON.stringify(line.slice(0, 120))}`);
    samples.push({ name: m[1], labels: m[2] !== undefined && m[2] !== "" ? parseLabels(m[2], i + 1) : {}, value });
  });
  return { samples, types };
}

/** The sum of a metric's samples over all label sets, or undefined when the scrape has none of it. */
export function sumMetric(scrape: PromScrape, name: string): number | undefined {
  const values = scrape.samples.filter((s) => s.name === name).map((s) => s.value);
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);
}
