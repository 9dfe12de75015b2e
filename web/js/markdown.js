// Markdown as the assistant writes it (paragraphs, headings, lists, quotes, code, tables,
// emphasis, links), turned into DOM nodes. Text only ever becomes text nodes, so HTML in a model
// answer or a user message shows as the characters it is; a link is made only for an http(s)
// URL, anything else (javascript:, data:, ...) stays plain text. Unclosed constructs (a code
// fence still streaming in) render as far as they go.

import { h } from './dom.js';

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}>\s?/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_SEPARATOR = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;

export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  blocks(text.replace(/\r\n?/g, '\n').split('\n'), fragment);
  return fragment;
}

function blocks(lines, into) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i += 1; continue; }
    let m;
    if ((m = FENCE.exec(line))) {
      const close = new RegExp(`^ {0,3}${m[1][0]}{${m[1].length},}\\s*$`);
      const code = [];
      i += 1;
      while (i < lines.length && !close.test(lines[i])) code.push(lines[i++]);
      i += 1;
      const pre = h('pre', {}, h('code', { text: code.join('\n') }));
      if (m[2]) pre.dataset.language = m[2];
      into.append(pre);
    } else if ((m = HEADING.exec(line))) {
      // Inside a message the page's own headings come first: # is a third-level heading.
      into.append(h(`h${Math.min(6, m[1].length + 2)}`, {}, inline(m[2])));
      i += 1;
    } else if (RULE.test(line)) {
      into.append(h('hr'));
      i += 1;
    } else if (QUOTE.test(line)) {
      const quoted = [];
      while (i < lines.length && QUOTE.test(lines[i])) quoted.push(lines[i++].replace(QUOTE, ''));
      const quote = h('blockquote');
      blocks(quoted, quote);
      into.append(quote);
    } else if ((m = ITEM.exec(line))) {
      i = list(lines, i, into);
    } else if (line.includes('|') && i + 1 < lines.length && TABLE_SEPARATOR.test(lines[i + 1])) {
      i = table(lines, i, into);
    } else {
      const paragraph = [];
      while (i < lines.length && lines[i].trim() && !startsBlock(lines, i)) paragraph.push(lines[i++]);
      if (!paragraph.length) paragraph.push(lines[i++]);
      const p = h('p');
      paragraph.forEach((l, n) => {
        if (n > 0) p.append(h('br'));
        p.append(inline(l.trim()));
      });
      into.append(p);
    }
  }
}

function startsBlock(lines, i) {
  const line = lines[i];
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line)
    || (line.includes('|') && i + 1 < lines.length && TABLE_SEPARATOR.test(lines[i + 1]));
}

function list(lines, start, into) {
  const first = ITEM.exec(lines[start]);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const el = h(ordered ? 'ol' : 'ul');
  if (ordered && parseInt(first[2], 10) !== 1) el.start = parseInt(first[2], 10);
  let i = start;
  while (i < lines.length) {
    const m = ITEM.exec(lines[i]);
    if (!m || m[1].length !== indent || /\d/.test(m[2]) !== ordered) break;
    const body = [m[3]];
    i += 1;
    // The item goes on while lines are indented deeper (nested lists, continued text).
    while (i < lines.length) {
      const next = lines[i];
      if (!next.trim()) {
        const following = lines[i + 1];
        if (following && following.length - following.trimStart().length > indent) { body.push(''); i += 1; continue; }
        break;
      }
      const deeper = next.length - next.trimStart().length > indent;
      if (!deeper && (ITEM.test(next) || startsBlock(lines, i))) break;
      body.push(deeper ? next.slice(Math.min(next.length - next.trimStart().length, indent + 2)) : next.trim());
      i += 1;
    }
    const li = h('li');
    if (body.length === 1) li.append(inline(body[0]));
    else blocks(body, li);
    el.append(li);
    while (i < lines.length && !lines[i].trim() && ITEM.exec(lines[i + 1] || '')?.[1].length === indent) i += 1;
  }
  into.append(el);
  return i;
}

function cells(line) {
  return line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
}

function table(lines, start, into) {
  const head = cells(lines[start]);
  const rows = [];
  let i = start + 2;
  while (i < lines.length && lines[i].includes('|') && lines[i].trim()) rows.push(cells(lines[i++]));
  into.append(h('div', { class: 'table-wrap' },
    h('table', {},
      h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, inline(c))))),
      h('tbody', {}, rows.map((r) => h('tr', {}, head.map((_, n) => h('td', {}, inline(r[n] || '')))))))));
  return i;
}

/** Only absolute http and https URLs become links. */
export function safeUrl(raw) {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

function link(label, href) {
  return h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow' }, label);
}

const BARE_URL = /^https?:\/\/[^\s<>"']+/;

/** Inline Markdown of one line to a fragment. */
function inline(text) {
  const out = document.createDocumentFragment();
  let plain = '';
  const flush = () => { if (plain) { out.append(document.createTextNode(plain)); plain = ''; } };
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const c = text[i];
    let m;
    if (c === '\\' && i + 1 < text.length && /[\\`*_{}[\]()#+\-.!|~<>]/.test(text[i + 1])) {
      plain += text[i + 1];
      i += 2;
    } else if (c === '`' && (m = /^(`+)([\s\S]*?[^`])\1(?!`)/.exec(rest))) {
      flush();
      out.append(h('code', { text: m[2].trim() ? m[2].replace(/^ (.*) $/, '$1') : m[2] }));
      i += m[0].length;
    } else if (c === '[' && (m = /^\[([^\]]*)\]\(\s*<?([^()\s>]*(?:\([^()\s]*\)[^()\s>]*)*)>?(?:\s+"[^"]*")?\s*\)/.exec(rest))) {
      const href = safeUrl(m[2]);
      if (href) {
        flush();
        out.append(link(inline(m[1]), href));
      } else {
        plain += m[0]; // shown as written: never a link to javascript:, data: or a relative path
      }
      i += m[0].length;
    } else if (c === '<' && (m = /^<(https?:\/\/[^\s<>]+)>/.exec(rest)) && safeUrl(m[1])) {
      flush();
      out.append(link(m[1], safeUrl(m[1])));
      i += m[0].length;
    } else if ((c === 'h' || c === 'H') && (i === 0 || /[\s(]/.test(text[i - 1])) && (m = BARE_URL.exec(rest))) {
      const url = m[0].replace(/[.,;:!?)\]]+$/, '');
      const href = safeUrl(url);
      if (href) {
        flush();
        out.append(link(url, href));
      } else {
        plain += url;
      }
      i += url.length;
    } else if ((c === '*' || c === '_' || c === '~') && (m = emphasis(text, i))) {
      flush();
      out.append(h(m.tag, {}, inline(m.inner)));
      i = m.end;
    } else {
      plain += c;
      i += 1;
    }
  }
  flush();
  return out;
}

/** `**strong**`, `*em*`, `_em_`, `__strong__`, `~~del~~` starting at `i`, if closed. */
function emphasis(text, i) {
  const c = text[i];
  const double = text[i + 1] === c;
  if (c === '~' && !double) return null;
  const marker = double ? c + c : c;
  const start = i + marker.length;
  if (start >= text.length || /\s/.test(text[start])) return null;
  // `_` only at word edges: snake_case stays as written.
  if (c === '_' && i > 0 && /\w/.test(text[i - 1])) return null;
  let at = start;
  while ((at = text.indexOf(marker, at + 1)) !== -1) {
    if (/\s/.test(text[at - 1])) continue;
    if (!double && text[at + 1] === c) { at += 1; continue; }
    if (c === '_' && /\w/.test(text[at + marker.length] || '')) continue;
    return { tag: c === '~' ? 'del' : double ? 'strong' : 'em', inner: text.slice(start, at), end: at + marker.length };
  }
  return null;
}
