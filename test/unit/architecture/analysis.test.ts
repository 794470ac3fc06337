import { describe, expect, it } from "vitest";
import {
  cycles,
  importGraph,
  importsOf,
  judge,
  layerFindings,
  longFunctions,
  resolveImport,
  shrunkBaseline,
  type ArchitectureBaseline,
  type Findings,
  type Layer,
} from "../../../scripts/architecture/analysis";

/** A function whose body spans exactly `lines` lines (declaration line to closing brace). */
function fnOfLines(name: string, lines: number): string {
  const body = Array.from({ length: lines - 2 }, (_, i) => `  const v${i} = ${i};`).join("\n");
  return `export function ${name}(): void {\n${body}\n}\n`;
}

const EMPTY: ArchitectureBaseline = { upwardImports: [], cycles: [], longFunctions: {}, allowedLongFunctions: {} };
const NO_FINDINGS: Findings = { upward: [], unlayered: [], cycles: [], longFunctions: [] };

describe("importsOf", () => {
  it("finds every way a module is named and tells type-only imports apart", () => {
    const refs = importsOf(
      "a.ts",
      [
        `import { x } from "./runs";`,
        `import type { T } from "./types";`,
        `import { type U, type V } from "./alltypes";`,
        `import { type W, y } from "./mixed";`,
        `export { z } from "./reexport";`,
        `export type { Q } from "./retype";`,
        `import "./sideEffect";`,
        `const lazy = () => import("./dynamic");`,
        `const req = require("./required");`,
        `let t: import("./inType").T;`,
        `import * as fs from "node:fs";`,
      ].join("\n"),
    );
    expect(refs.map((r) => [r.specifier, r.typeOnly, r.line])).toEqual([
      ["./runs", false, 1],
      ["./types", true, 2],
      ["./alltypes", true, 3],
      ["./mixed", false, 4],
      ["./reexport", false, 5],
      ["./retype", true, 6],
      ["./sideEffect", false, 7],
      ["./dynamic", false, 8],
      ["./required", false, 9],
      ["./inType", true, 10],
      ["node:fs", false, 11],
    ]);
  });
});

describe("resolveImport", () => {
  const files = new Set(["c/a.ts", "c/b.ts", "c/dir/index.ts", "c/data.json", "c/x/y.ts"]);
  it("resolves a file, a folder's index and JSON; leaves packages and unknown names out", () => {
    expect(resolveImport("c/a.ts", "./b", files)).toBe("c/b.ts");
    expect(resolveImport("c/a.ts", "./dir", files)).toBe("c/dir/index.ts");
    expect(resolveImport("c/a.ts", "./data.json", files)).toBe("c/data.json");
    expect(resolveImport("c/x/y.ts", "../a", files)).toBe("c/a.ts");
    expect(resolveImport("c/a.ts", "yaml", files)).toBeUndefined();
    expect(resolveImport("c/a.ts", "./missing", files)).toBeUndefined();
  });
});

describe("layerFindings", () => {
  const layers: Layer[] = [
    { name: "leaf", paths: ["c/facts.ts"] },
    { name: "low", paths: ["c/low/"] },
    { name: "high", paths: ["c/high.ts"] },
  ];
  it("flags an import from a lower layer to a higher one, and only that", () => {
    const sources = new Map([
      ["c/facts.ts", `export const P = 1;`],
      ["c/low/a.ts", `import { P } from "../facts";\nimport { b } from "./b";\nimport type { H } from "../high";`],
      ["c/low/b.ts", `export const b = 1;`],
      ["c/high.ts", `import { b } from "./low/b";\nexport type H = number;`],
    ]);
    const { upward, unlayered } = layerFindings(sources.keys(), importGraph(sources), layers);
    expect(upward).toEqual([{ from: "c/low/a.ts", to: "c/high.ts", line: 3, typeOnly: true }]);
    expect(unlayered).toEqual([]);
  });
  it("names files no layer claims", () => {
    const sources = new Map([["c/new/thing.ts", ``], ["c/high.ts", ``]]);
    expect(layerFindings(sources.keys(), importGraph(sources), layers).unlayered).toEqual(["c/new/thing.ts"]);
  });
  it("lets a file entry beat its folder's entry (longest match)", () => {
    const nested: Layer[] = [
      { name: "leaf", paths: ["c/low/leaf.ts"] },
      { name: "low", paths: ["c/low/"] },
    ];
    const sources = new Map([["c/low/leaf.ts", `import { a } from "./a";`], ["c/low/a.ts", ``]]);
    expect(layerFindings(sources.keys(), importGraph(sources), nested).upward.map((e) => e.to)).toEqual(["c/low/a.ts"]);
  });
});

describe("cycles", () => {
  it("finds a two-file cycle made of type-only imports", () => {
    const sources = new Map([
      ["r/result.ts", `import type { Run } from "./runner";`],
      ["r/runner.ts", `import { summarize } from "./result";`],
    ]);
    expect(cycles(importGraph(sources))).toEqual([["r/result.ts", "r/runner.ts"]]);
  });
  it("finds a longer loop as one group and leaves the files outside it out", () => {
    const edges = [
      { from: "a", to: "b" },
      { from: "b", to: "c" },
      { from: "c", to: "a" },
      { from: "c", to: "d" },
      { from: "x", to: "y" },
      { from: "y", to: "x" },
    ];
    expect(cycles(edges)).toEqual([
      ["a", "b", "c"],
      ["x", "y"],
    ]);
  });
  it("finds none in a tree without loops, however deep", () => {
    const chain = Array.from({ length: 5000 }, (_, i) => ({ from: `f${i}`, to: `f${i + 1}` }));
    expect(cycles(chain)).toEqual([]);
  });
});

describe("longFunctions", () => {
  it("flags a function of 81 lines and passes one of 80", () => {
    const found = longFunctions("c/f.ts", fnOfLines("ok", 80) + fnOfLines("tooLong", 81), 80);
    expect(found).toEqual([{ id: "c/f.ts#tooLong", file: "c/f.ts", line: 81, lines: 81 }]);
  });
  it("names constructors, methods, arrow functions and callbacks by where they sit", () => {
    const body = (n: number) => Array.from({ length: n }, (_, i) => `    void ${i};`).join("\n");
    const text = [
      `class Box {`,
      `  constructor() {`,
      body(4),
      `  }`,
      `  open(): void {`,
      body(4),
      `  }`,
      `}`,
      `const arrow = () => {`,
      body(4),
      `};`,
      `items.forEach((item) => {`,
      body(4),
      `});`,
    ].join("\n");
    expect(longFunctions("c/g.ts", text, 3).map((f) => [f.id, f.line, f.lines])).toEqual([
      ["c/g.ts#Box.constructor", 2, 6],
      ["c/g.ts#Box.open", 8, 6],
      ["c/g.ts#arrow", 15, 6],
      ["c/g.ts#forEach(<callback>)", 21, 6],
    ]);
  });
  it("skips overload signatures and keeps repeated names apart", () => {
    const text = `export function f(a: string): void;\n${fnOfLines("f", 5)}const xs = [1].map(() => {\n\n\n\n});\nconst ys = [1].map(() => {\n\n\n\n});\n`;
    expect(longFunctions("c/h.ts", text, 4).map((f) => f.id)).toEqual(["c/h.ts#f", "c/h.ts#map(<callback>)", "c/h.ts#map(<callback>)@2"]);
  });
});

describe("judge", () => {
  const upward = { from: "c/low.ts", to: "c/high.ts", line: 4, typeOnly: false };
  const long = { id: "c/f.ts#big", file: "c/f.ts", line: 10, lines: 120 };

  it("passes a tree that matches its baseline", () => {
    const findings: Findings = { ...NO_FINDINGS, upward: [upward], cycles: [["a", "b"]], longFunctions: [long] };
    const baseline: ArchitectureBaseline = { ...EMPTY, upwardImports: ["c/low.ts -> c/high.ts"], cycles: ["a <-> b"], longFunctions: { "c/f.ts#big": 120 } };
    expect(judge(findings, baseline, 80, "b.json")).toEqual({ failures: [], stale: [] });
  });

  it("fails a new upward import, a new cycle, a new long function, a grown one and an unlayered file", () => {
    const findings: Findings = {
      upward: [upward],
      unlayered: ["c/new.ts"],
      cycles: [["a", "b"]],
      longFunctions: [long, { id: "c/f.ts#other", file: "c/f.ts", line: 200, lines: 90 }],
    };
    const baseline: ArchitectureBaseline = { ...EMPTY, longFunctions: { "c/f.ts#big": 100 } };
    const { failures } = judge(findings, baseline, 80, "b.json");
    expect(failures).toHaveLength(5);
    expect(failures.join("\n")).toContain("c/new.ts: no layer claims this file");
    expect(failures.join("\n")).toContain("c/low.ts:4: imports c/high.ts, which sits in a higher layer");
    expect(failures.join("\n")).toContain("import cycle: a <-> b");
    expect(failures.join("\n")).toContain("c/f.ts:200: other is 90 lines (limit 80)");
    expect(failures.join("\n")).toContain("c/f.ts:10: big grew to 120 lines (baseline 100");
  });

  it("calls entries the tree no longer needs stale, and says how to shrink the file", () => {
    const baseline: ArchitectureBaseline = {
      upwardImports: ["c/low.ts -> c/high.ts"],
      cycles: ["a <-> b"],
      longFunctions: { "c/f.ts#big": 130, "c/f.ts#gone": 100 },
      allowedLongFunctions: { "c/t.ts#renderScript": "shell text" },
    };
    const { failures, stale } = judge({ ...NO_FINDINGS, longFunctions: [long] }, baseline, 80, "b.json");
    expect(failures).toEqual([]);
    expect(stale).toHaveLength(6);
    expect(stale[stale.length - 1]).toContain("Fix: shrink b.json");
  });

  it("lets an allowed function be long without a length entry", () => {
    const allowed = { id: "c/t.ts#renderScript", file: "c/t.ts", line: 1, lines: 300 };
    const baseline: ArchitectureBaseline = { ...EMPTY, allowedLongFunctions: { "c/t.ts#renderScript": "shell text" } };
    expect(judge({ ...NO_FINDINGS, longFunctions: [allowed] }, baseline, 80, "b.json")).toEqual({ failures: [], stale: [] });
  });
});

describe("shrunkBaseline", () => {
  it("drops what is gone and lowers what shrank, but never adds or raises", () => {
    const findings: Findings = {
      ...NO_FINDINGS,
      upward: [{ from: "c/new.ts", to: "c/high.ts", line: 1, typeOnly: false }],
      longFunctions: [
        { id: "c/f.ts#shrank", file: "c/f.ts", line: 1, lines: 90 },
        { id: "c/f.ts#grew", file: "c/f.ts", line: 1, lines: 200 },
        { id: "c/f.ts#new", file: "c/f.ts", line: 1, lines: 95 },
      ],
    };
    const baseline: ArchitectureBaseline = {
      upwardImports: ["c/low.ts -> c/high.ts"],
      cycles: ["a <-> b"],
      longFunctions: { "c/f.ts#shrank": 120, "c/f.ts#grew": 150, "c/f.ts#gone": 100 },
      allowedLongFunctions: { "c/t.ts#renderScript": "shell text" },
    };
    expect(shrunkBaseline(findings, baseline)).toEqual({
      upwardImports: [],
      cycles: [],
      longFunctions: { "c/f.ts#shrank": 90, "c/f.ts#grew": 150 },
      allowedLongFunctions: {},
    });
  });
});
