/**
 * Pure parts of the architecture check: source text in, findings out, no file system. The CLI
 * (scripts/check-architecture.ts) reads the tree and the baseline and prints what these return.
 */
import * as path from "node:path";
import ts from "typescript";

/** One relative import of a module, as written. */
export interface ImportRef {
  /** The specifier as written (`"../config"`). */
  readonly specifier: string;
  /** 1-based line of the import. */
  readonly line: number;
  /** Erased at compile time (`import type`, every named binding type-only, or `import("x").T`). */
  readonly typeOnly: boolean;
}

/** A resolved import between two files of the tree (paths relative to the repo root, `/`-separated). */
export interface ImportEdge {
  readonly from: string;
  readonly to: string;
  readonly line: number;
  readonly typeOnly: boolean;
}

/** One layer of the declared order: files matching `paths` may import only their own or lower layers. */
export interface Layer {
  readonly name: string;
  /** Files (`components/shell.ts`) or folders ending in `/` (`components/host/`); the longest match wins. */
  readonly paths: readonly string[];
}

/** A function-like node longer than the limit. */
export interface LongFunction {
  /** `file#Qualified.name`, unique within the tree (a repeated name in one file gets `@2`, `@3`...). */
  readonly id: string;
  readonly file: string;
  /** 1-based line where the function starts. */
  readonly line: number;
  /** Lines from its first to its last (inclusive). */
  readonly lines: number;
}

function scriptKind(file: string): ts.ScriptKind {
  return file.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
}

function parse(file: string, text: string): ts.SourceFile {
  return ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, scriptKind(file));
}

function lineOf(source: ts.SourceFile, pos: number): number {
  return source.getLineAndCharacterOfPosition(pos).line + 1;
}

function importIsTypeOnly(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (!clause) return false; // `import "./x"` runs the module
  if (clause.isTypeOnly) return true;
  if (clause.name) return false;
  const bindings = clause.namedBindings;
  if (!bindings || !ts.isNamedImports(bindings)) return false;
  return bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly);
}

function exportIsTypeOnly(node: ts.ExportDeclaration): boolean {
  if (node.isTypeOnly) return true;
  const clause = node.exportClause;
  return clause !== undefined && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly);
}

/**
 * Every module a file names: import/export declarations, `import x = require()`, dynamic
 * `import()`, `require()` and `import("x").T` in types. Non-relative specifiers (packages) are
 * kept too; the caller resolves what it can.
 */
export function importsOf(file: string, text: string): ImportRef[] {
  const source = parse(file, text);
  const refs: ImportRef[] = [];
  const add = (literal: ts.Node, typeOnly: boolean) => {
    if (ts.isStringLiteralLike(literal)) refs.push({ specifier: literal.text, line: lineOf(source, literal.getStart(source)), typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) add(node.moduleSpecifier, importIsTypeOnly(node));
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier) add(node.moduleSpecifier, exportIsTypeOnly(node));
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference))
      add(node.moduleReference.expression, node.isTypeOnly);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal, true);
    else if (ts.isCallExpression(node) && node.arguments.length === 1) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === "require")) add(node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return refs;
}

/**
 * The tree file a relative specifier names (`./x` → `x.ts`, `x/index.ts`, or the file itself for
 * `.json`), or undefined for packages and names outside `files`.
 */
export function resolveImport(from: string, specifier: string, files: ReadonlySet<string>): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  for (const candidate of [base, `${base}.ts`, `${base}.d.ts`, `${base}/index.ts`]) if (files.has(candidate)) return candidate;
  return undefined;
}

/** The edges between files of `sources` (path → text); imports of anything else are left out. */
export function importGraph(sources: ReadonlyMap<string, string>): ImportEdge[] {
  const files = new Set(sources.keys());
  const edges: ImportEdge[] = [];
  for (const [from, text] of sources) {
    if (!/\.tsx?$/.test(from)) continue;
    for (const ref of importsOf(from, text)) {
      const to = resolveImport(from, ref.specifier, files);
      if (to !== undefined && to !== from) edges.push({ from, to, line: ref.line, typeOnly: ref.typeOnly });
    }
  }
  return edges;
}

/** Index into `layers` of the layer `file` belongs to (longest matching entry), or undefined. */
export function layerIndexOf(file: string, layers: readonly Layer[]): number | undefined {
  let best: { index: number; length: number } | undefined;
  layers.forEach((layer, index) => {
    for (const p of layer.paths) {
      const hit = p.endsWith("/") ? file.startsWith(p) : file === p;
      if (hit && (best === undefined || p.length > best.length)) best = { index, length: p.length };
    }
  });
  return best?.index;
}

/** `from -> to` for the ratchet file: the same arrow keeps its key when lines move. */
export function arrowKey(edge: Pick<ImportEdge, "from" | "to">): string {
  return `${edge.from} -> ${edge.to}`;
}

export interface LayerFindings {
  /** Imports from a lower layer to a higher one. */
  readonly upward: ImportEdge[];
  /** Files no layer claims (the table must name every file, so a new folder gets a place). */
  readonly unlayered: string[];
}

/** Checks every edge against the declared order (`layers[0]` lowest). */
export function layerFindings(files: Iterable<string>, edges: readonly ImportEdge[], layers: readonly Layer[]): LayerFindings {
  const unlayered = [...files].filter((f) => layerIndexOf(f, layers) === undefined).sort();
  const upward = edges.filter((e) => {
    const from = layerIndexOf(e.from, layers);
    const to = layerIndexOf(e.to, layers);
    return from !== undefined && to !== undefined && to > from;
  });
  return { upward, unlayered };
}

/**
 * Groups of files that import each other, directly or around a loop (strongly connected
 * components of two or more files; Tarjan's algorithm, iterative so deep trees cannot overflow
 * the stack). Each group is sorted; groups are sorted by their first file.
 */
export function cycles(edges: readonly Pick<ImportEdge, "from" | "to">[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (!next.has(e.from)) next.set(e.from, []);
    if (!next.has(e.to)) next.set(e.to, []);
    next.get(e.from)!.push(e.to);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const groups: string[][] = [];
  let counter = 0;
  for (const root of [...next.keys()].sort()) {
    if (index.has(root)) continue;
    const work: { node: string; child: number }[] = [{ node: root, child: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const children = next.get(frame.node)!;
      if (frame.child < children.length) {
        const child = children[frame.child++];
        if (!index.has(child)) {
          index.set(child, counter);
          low.set(child, counter++);
          stack.push(child);
          onStack.add(child);
          work.push({ node: child, child: 0 });
        } else if (onStack.has(child)) low.set(frame.node, Math.min(low.get(frame.node)!, index.get(child)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(frame.node)!));
      }
      if (low.get(frame.node) === index.get(frame.node)) {
        const group: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          group.push(member);
        } while (member !== frame.node);
        if (group.length > 1) groups.push(group.sort());
      }
    }
  }
  return groups.sort((a, b) => a[0].localeCompare(b[0]));
}

/** Key of a cycle group for the ratchet file. */
export function cycleKey(group: readonly string[]): string {
  return group.join(" <-> ");
}

function nameText(name: ts.PropertyName | ts.BindingName | undefined, source: ts.SourceFile): string | undefined {
  if (name === undefined) return undefined;
  if (ts.isIdentifier(name) || ts.isPrivateIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
  return name.getText(source);
}

/** A readable name for a function-like node: `Class.method`, `Class.constructor`, `outer.inner`, `fn`. */
function functionName(node: ts.Node, source: ts.SourceFile): string {
  if (ts.isConstructorDeclaration(node)) return "constructor";
  if (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isGetAccessor(node) || ts.isSetAccessor(node))
    return nameText(node.name, source) ?? "<default>";
  if (ts.isFunctionExpression(node) && node.name) return node.name.text;
  // Arrow functions and anonymous function expressions take the name of what holds them.
  const holder = node.parent;
  if (ts.isVariableDeclaration(holder) || ts.isPropertyAssignment(holder) || ts.isPropertyDeclaration(holder))
    return nameText(holder.name, source) ?? "<anonymous>";
  if (ts.isCallExpression(holder) || ts.isNewExpression(holder)) {
    const callee = holder.expression;
    const calleeName = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) ? callee.name.text : "call";
    return `${ts.isNewExpression(holder) ? "new " : ""}${calleeName}(<callback>)`;
  }
  return "<anonymous>";
}

function isFunctionLike(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isArrowFunction(node) ||
    ts.isFunctionExpression(node) ||
    ts.isGetAccessor(node) ||
    ts.isSetAccessor(node)
  );
}

/**
 * Functions, methods, constructors, accessors and arrow functions with a body of more than
 * `maxLines` lines (counted from the declaration's first line to its closing brace). Nested
 * functions are measured on their own as well; overloads without a body are skipped.
 */
export function longFunctions(file: string, text: string, maxLines: number): LongFunction[] {
  const source = parse(file, text);
  const found: LongFunction[] = [];
  const seen = new Map<string, number>();
  const visit = (node: ts.Node, scope: readonly string[]): void => {
    let inner = scope;
    if (ts.isClassLike(node)) inner = [...scope, node.name?.text ?? "<class>"];
    else if (isFunctionLike(node) && node.body !== undefined) {
      const qualified = [...scope, functionName(node, source)].join(".");
      inner = [...scope, functionName(node, source)];
      const first = lineOf(source, node.getStart(source));
      const lines = lineOf(source, node.getEnd()) - first + 1;
      if (lines > maxLines) {
        const n = (seen.get(qualified) ?? 0) + 1;
        seen.set(qualified, n);
        found.push({ id: `${file}#${qualified}${n > 1 ? `@${n}` : ""}`, file, line: first, lines });
      }
    }
    ts.forEachChild(node, (child) => visit(child, inner));
  };
  visit(source, []);
  return found;
}

/** The ratchet file: what the tree is allowed to keep today. Entries only ever go away. */
export interface ArchitectureBaseline {
  /** `from -> to` imports from a lower layer to a higher one. */
  readonly upwardImports: readonly string[];
  /** `a <-> b <-> ...` groups of files importing each other. */
  readonly cycles: readonly string[];
  /** Long function id → its length in lines today (it may shrink, never grow). */
  readonly longFunctions: Readonly<Record<string, number>>;
  /** Long function id → why it may stay long (only rendered shell text qualifies). */
  readonly allowedLongFunctions: Readonly<Record<string, string>>;
}

export interface Findings {
  readonly upward: readonly ImportEdge[];
  readonly unlayered: readonly string[];
  readonly cycles: readonly string[][];
  readonly longFunctions: readonly LongFunction[];
}

export interface Verdict {
  /** Regressions: each names the place and the fix. */
  readonly failures: string[];
  /** Baseline entries the tree no longer needs: the baseline must shrink (`--shrink` writes it). */
  readonly stale: string[];
}

/** Compares what the tree holds with what the baseline allows. */
export function judge(findings: Findings, baseline: ArchitectureBaseline, maxLines: number, baselineFile: string): Verdict {
  const failures: string[] = [];
  const stale: string[] = [];
  for (const file of findings.unlayered)
    failures.push(`${file}: no layer claims this file. Fix: add it (or its folder) to the layer table in scripts/architecture/layers.ts`);

  const allowedArrows = new Set(baseline.upwardImports);
  const foundArrows = new Set<string>();
  for (const e of findings.upward) {
    const key = arrowKey(e);
    foundArrows.add(key);
    if (!allowedArrows.has(key))
      failures.push(
        `${e.from}:${e.line}: imports ${e.to}, which sits in a higher layer. Fix: move what it needs down (a leaf module such as components/projectFacts.ts) or the importer up`,
      );
  }
  for (const key of allowedArrows) if (!foundArrows.has(key)) stale.push(`upwardImports: "${key}" is gone`);

  const allowedCycles = new Set(baseline.cycles);
  const foundCycles = new Set<string>();
  for (const group of findings.cycles) {
    const key = cycleKey(group);
    foundCycles.add(key);
    if (!allowedCycles.has(key))
      failures.push(`import cycle: ${key}. Fix: move what these files share into a module none of them imports (type-only imports count)`);
  }
  for (const key of allowedCycles) if (!foundCycles.has(key)) stale.push(`cycles: "${key}" is gone`);

  const foundLong = new Map(findings.longFunctions.map((f) => [f.id, f]));
  for (const f of findings.longFunctions) {
    if (f.id in baseline.allowedLongFunctions) continue;
    const allowed = baseline.longFunctions[f.id];
    if (allowed === undefined)
      failures.push(`${f.file}:${f.line}: ${f.id.split("#")[1]} is ${f.lines} lines (limit ${maxLines}). Fix: split it into named steps`);
    else if (f.lines > allowed)
      failures.push(`${f.file}:${f.line}: ${f.id.split("#")[1]} grew to ${f.lines} lines (baseline ${allowed}, limit ${maxLines}). Fix: split it rather than grow it`);
    else if (f.lines < allowed) stale.push(`longFunctions: "${f.id}" is now ${f.lines} lines (baseline ${allowed})`);
  }
  for (const id of Object.keys(baseline.longFunctions))
    if (!foundLong.has(id)) stale.push(`longFunctions: "${id}" is no longer over ${maxLines} lines (or was renamed)`);
  for (const id of Object.keys(baseline.allowedLongFunctions))
    if (!foundLong.has(id)) stale.push(`allowedLongFunctions: "${id}" is no longer over ${maxLines} lines (or was renamed)`);
  if (stale.length > 0) stale.push(`Fix: shrink ${baselineFile} (npm run check:architecture -- --shrink), so the list only gets shorter`);
  return { failures, stale };
}

/** The baseline with every stale entry dropped and every shrunk length lowered; nothing is added or raised. */
export function shrunkBaseline(findings: Findings, baseline: ArchitectureBaseline): ArchitectureBaseline {
  const arrows = new Set(findings.upward.map(arrowKey));
  const groups = new Set(findings.cycles.map(cycleKey));
  const lengths = new Map(findings.longFunctions.map((f) => [f.id, f.lines]));
  const longFunctions: Record<string, number> = {};
  for (const [id, allowed] of Object.entries(baseline.longFunctions)) {
    const now = lengths.get(id);
    if (now !== undefined) longFunctions[id] = Math.min(now, allowed);
  }
  return {
    upwardImports: baseline.upwardImports.filter((k) => arrows.has(k)),
    cycles: baseline.cycles.filter((k) => groups.has(k)),
    longFunctions,
    allowedLongFunctions: Object.fromEntries(Object.entries(baseline.allowedLongFunctions).filter(([id]) => lengths.has(id))),
  };
}
