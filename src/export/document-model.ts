// A small document model (sections of paragraphs, tables, lists and code) rendered to Markdown or
// HTML, so the regenerated SLO document has one structure and two faithful renderings.
// Inline text may use `code` and **bold**; everything else is literal.

export type Block =
  | { readonly kind: 'paragraph'; readonly text: string }
  | { readonly kind: 'quote'; readonly text: string }
  | {
      readonly kind: 'table';
      readonly head: readonly string[];
      readonly rows: readonly (readonly string[])[];
      /** This column holds verdicts: HTML colours its cells (breach red, ok green, at risk amber). */
      readonly verdictColumn?: number;
    }
  | { readonly kind: 'list'; readonly items: readonly string[]; readonly ordered?: boolean }
  | { readonly kind: 'code'; readonly language: string; readonly text: string }
  | { readonly kind: 'heading'; readonly text: string }
  | { readonly kind: 'rule' };

export interface Section {
  readonly title: string;
  readonly blocks: readonly Block[];
}

export interface DocumentModel {
  readonly title: string;
  /** Shown above the title, like the seed's navigation line. */
  readonly preamble: readonly Block[];
  readonly intro: readonly Block[];
  readonly sections: readonly Section[];
}

export function renderMarkdown(doc: DocumentModel): string {
  const out: string[] = [];
  for (const b of doc.preamble) out.push(markdownBlock(b));
  out.push(`# ${doc.title}`);
  for (const b of doc.intro) out.push(markdownBlock(b));
  for (const s of doc.sections) {
    out.push('---');
    out.push(`## ${s.title}`);
    for (const b of s.blocks) out.push(markdownBlock(b));
  }
  return `${out.join('\n\n')}\n`;
}

function markdownBlock(b: Block): string {
  switch (b.kind) {
    case 'paragraph':
      return b.text;
    case 'quote':
      return `> ${b.text}`;
    case 'heading':
      return `### ${b.text}`;
    case 'rule':
      return '---';
    case 'list':
      return b.items.map((item, i) => `${b.ordered ? `${i + 1}.` : '-'} ${item}`).join('\n');
    case 'code':
      return `\`\`\`${b.language}\n${b.text}\n\`\`\``;
    case 'table': {
      const cell = (c: string): string => c.replace(/\|/g, '\\|').replace(/\n/g, ' ');
      const lines = [
        `| ${b.head.map(cell).join(' | ')} |`,
        `|${b.head.map((h) => '-'.repeat(h.length + 2)).join('|')}|`,
      ];
      for (const row of b.rows) lines.push(`| ${row.map(cell).join(' | ')} |`);
      return lines.join('\n');
    }
  }
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** `code` → <code>, **bold** → <strong>, the rest escaped. */
export function inlineHtml(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part) =>
      part.startsWith('`') && part.endsWith('`') && part.length >= 2
        ? `<code>${escapeHtml(part.slice(1, -1))}</code>`
        : escapeHtml(part).replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>'),
    )
    .join('');
}

function htmlBlock(b: Block): string {
  switch (b.kind) {
    case 'paragraph':
      return `<p>${inlineHtml(b.text)}</p>`;
    case 'quote':
      return `<blockquote><p>${inlineHtml(b.text)}</p></blockquote>`;
    case 'heading':
      return `<h3>${inlineHtml(b.text)}</h3>`;
    case 'rule':
      return '<hr>';
    case 'list': {
      const tag = b.ordered ? 'ol' : 'ul';
      return `<${tag}>\n${b.items.map((i) => `  <li>${inlineHtml(i)}</li>`).join('\n')}\n</${tag}>`;
    }
    case 'code':
      return `<pre><code class="language-${escapeHtml(b.language)}">${escapeHtml(b.text)}</code></pre>`;
    case 'table':
      return [
        '<table>',
        `  <thead><tr>${b.head.map((h) => `<th>${inlineHtml(h)}</th>`).join('')}</tr></thead>`,
        '  <tbody>',
        ...b.rows.map(
          (r) =>
            `    <tr>${r.map((c, i) => `<td${i === b.verdictColumn ? ` class="verdict ${verdictClass(c)}"` : ''}>${inlineHtml(c)}</td>`).join('')}</tr>`,
        ),
        '  </tbody>',
        '</table>',
      ].join('\n');
  }
}

/** The colour class of a verdict cell, from its words. */
export function verdictClass(text: string): 'breach' | 'at-risk' | 'ok' | 'unjudged' {
  const t = text.toLowerCase();
  if (t.includes('breach') && !t.startsWith('not judged')) return 'breach';
  if (t.startsWith('at risk') || t.includes('burn)')) return 'at-risk';
  if (t.startsWith('ok')) return 'ok';
  return 'unjudged';
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{background:#f6f8fa;padding:0 .2rem;border-radius:3px}pre{background:#f6f8fa;padding:.8rem;overflow:auto}
blockquote{border-left:4px solid #d0d7de;margin:0;padding:0 1rem;color:#57606a}
td.verdict{font-weight:600;white-space:nowrap}td.breach{background:#ffebe9;color:#a40e26}td.at-risk{background:#fff8c5;color:#7d4e00}
td.ok{background:#dafbe1;color:#116329}td.unjudged{background:#f6f8fa;color:#57606a;font-weight:400}`;

/** A standalone HTML page (no scripts, no external resources). */
export function renderHtml(doc: DocumentModel): string {
  const body: string[] = [];
  for (const b of doc.preamble) body.push(htmlBlock(b));
  body.push(`<h1>${inlineHtml(doc.title)}</h1>`);
  for (const b of doc.intro) body.push(htmlBlock(b));
  for (const s of doc.sections) {
    body.push('<hr>', `<h2>${inlineHtml(s.title)}</h2>`);
    for (const b of s.blocks) body.push(htmlBlock(b));
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(doc.title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body.join('\n')}
</body>
</html>
`;
}
