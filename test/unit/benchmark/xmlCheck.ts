/**
 * A tiny XML well-formedness check for the report's SVG (no XML parser is installed): one root
 * element, every tag closed in order, attributes quoted and unique, text and attribute values
 * free of raw `<` and of `&` that does not start an entity. Returns the problems found.
 */
export function xmlProblems(xml: string): string[] {
  const problems: string[] = [];
  let text = xml.replace(/^\uFEFF/, "");
  const decl = /^<\?xml[^?]*\?>\s*/.exec(text);
  if (decl) text = text.slice(decl[0].length);
  const stack: string[] = [];
  let roots = 0;
  let i = 0;
  const checkEntities = (s: string, where: string): void => {
    const bad = /&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.exec(s);
    if (bad) problems.push(`unescaped & in ${where}: ${JSON.stringify(s.slice(Math.max(0, bad.index - 10), bad.index + 10))}`);
  };
  while (i < text.length) {
    const lt = text.indexOf("<", i);
    const chunk = lt < 0 ? text.slice(i) : text.slice(i, lt);
    if (chunk.trim() && stack.length === 0) problems.push(`text outside the root element: ${JSON.stringify(chunk.trim().slice(0, 30))}`);
    if (chunk.includes(">")) problems.push(`raw > in text is legal but suspicious: ${JSON.stringify(chunk.slice(0, 30))}`);
    checkEntities(chunk, "text");
    if (lt < 0) break;
    if (text.startsWith("<!--", lt)) {
      const end = text.indexOf("-->", lt);
      if (end < 0) { problems.push("unterminated comment"); break; }
      i = end + 3;
      continue;
    }
    const gt = text.indexOf(">", lt);
    if (gt < 0) { problems.push("unterminated tag"); break; }
    const tag = text.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith("/")) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open !== name) problems.push(`closing </${name}> does not match <${open ?? "nothing"}>`);
      continue;
    }
    const selfClosing = tag.endsWith("/");
    const body = selfClosing ? tag.slice(0, -1) : tag;
    const m = /^([A-Za-z_][\w:.-]*)([\s\S]*)$/.exec(body);
    if (!m) { problems.push(`bad tag <${tag.slice(0, 30)}>`); continue; }
    const [, name, attrText] = m;
    const seen = new Set<string>();
    const attrRe = /\s+([A-Za-z_][\w:.-]*)\s*=\s*("([^"<]*)"|'([^'<]*)')/y;
    let pos = 0;
    while (pos < attrText.length) {
      if (/^\s*$/.test(attrText.slice(pos))) break;
      attrRe.lastIndex = pos;
      const a = attrRe.exec(attrText);
      if (!a) { problems.push(`bad attribute syntax in <${name}>: ${JSON.stringify(attrText.slice(pos, pos + 30))}`); break; }
      if (seen.has(a[1])) problems.push(`duplicate attribute ${a[1]} in <${name}>`);
      seen.add(a[1]);
      checkEntities(a[3] ?? a[4] ?? "", `attribute ${a[1]}`);
      pos = attrRe.lastIndex;
    }
    if (stack.length === 0) roots++;
    if (!selfClosing) stack.push(name);
  }
  if (stack.length > 0) problems.push(`unclosed elements: ${stack.join(" > ")}`);
  if (roots !== 1) problems.push(`expected one root element, found ${roots}`);
  return problems;
}
