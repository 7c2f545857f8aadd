// Markdown -> HTML for the replies, written here so the page downloads nothing at run time.
// Everything the model wrote is escaped first; markup comes only from the rules below:
// fenced code (with a language label, light highlighting and a copy button), headings,
// paragraphs, block quotes, lists, tables, rules, and inline code, bold, italic, strike-through
// and http(s) links. A fence still open while a reply streams renders as code already.

const html_escapes = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escape_html = (text) => text.replace(/[&<>"']/g, (c) => html_escapes[c]);

const keywords = new Set(`and as async await auto bool break case catch char class const constexpr continue def
default del do done double elif else enum esac except export extern false False fi final finally float fn for
from func function go if impl import in include int interface is lambda let long loop match mod mut namespace
new nil None not null nullptr or package pass private protected pub public raise return self short static
struct super switch template then this throw true True try type typedef typename union unsigned use using var
void while with yield`.split(/\s+/));
const hash_comment_languages = new Set(['python', 'py', 'sh', 'bash', 'shell', 'zsh', 'ruby', 'rb', 'yaml', 'yml',
  'toml', 'perl', 'r', 'makefile', 'cmake', 'dockerfile', 'ini', 'conf']);
const dash_comment_languages = new Set(['sql', 'lua', 'haskell', 'hs']);

// Comments, strings, numbers and keywords get a class each; the rest is escaped text.
export function highlight(code, language) {
  const lang = language.toLowerCase();
  const comment = hash_comment_languages.has(lang) ? '#[^\\n]*'
    : dash_comment_languages.has(lang) ? '--[^\\n]*' : '\\/\\/[^\\n]*|\\/\\*[\\s\\S]*?\\*\\/';
  const pattern = new RegExp(`(${comment})|("(?:[^"\\\\\\n]|\\\\.)*"|'(?:[^'\\\\\\n]|\\\\.)*'|\`(?:[^\`\\\\]|\\\\.)*\`)` +
    '|(\\b0x[0-9a-fA-F]+\\b|\\b\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?\\b)|(\\b[A-Za-z_]\\w*\\b)', 'g');
  let html = '';
  let last = 0;
  for (const match of code.matchAll(pattern)) {
    const [text, is_comment, is_string, is_number, word] = match;
    const kind = is_comment ? 'comment' : is_string ? 'string' : is_number ? 'number'
      : word && keywords.has(word) ? 'keyword' : '';
    if (!kind) continue;
    html += escape_html(code.slice(last, match.index)) + `<span class="tok-${kind}">${escape_html(text)}</span>`;
    last = match.index + text.length;
  }
  return html + escape_html(code.slice(last));
}

function code_block(code, language) {
  const label = language ? `<span class="language">${escape_html(language)}</span>` : '';
  const css = language ? ` class="language-${escape_html(language)}"` : '';
  return `<pre>${label}<button class="copy" type="button">Copy</button><code${css}>${highlight(code, language)}</code></pre>`;
}

// Inline markup on one block of text. Code spans and links are set aside as placeholders
// first, so emphasis never reaches into them.
export function render_inline(text) {
  const held = [];
  const hold = (html) => `\u0000${held.push(html) - 1}\u0000`;
  let out = text.replace(/\u0000/g, '');
  out = out.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, (_, ticks, code) => hold(`<code>${escape_html(code.trim() || code)}</code>`));
  out = out.replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g, (_, label, url) =>
    hold(`<a href="${escape_html(url)}" target="_blank" rel="noopener noreferrer">${escape_html(label)}</a>`));
  out = escape_html(out);
  out = out.replace(/(\*\*|__)(?=\S)([\s\S]*?\S)\1/g, '<strong>$2</strong>');
  out = out.replace(/(^|[^*\w])\*(?=\S)([^*\n]*?\S)\*(?![*\w])/g, '$1<em>$2</em>');
  out = out.replace(/(^|[^_\w])_(?=\S)([^_\n]*?\S)_(?![_\w])/g, '$1<em>$2</em>');
  out = out.replace(/~~(?=\S)([\s\S]*?\S)~~/g, '<del>$1</del>');
  return out.replace(/\u0000(\d+)\u0000/g, (_, index) => held[Number(index)]);
}

const fence_pattern = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
const heading_pattern = /^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
const rule_pattern = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const item_pattern = /^( {0,3})([-*+]|\d{1,9}[.)])\s+(.*)$/;
const table_divider_pattern = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

const split_row = (line) => line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((cell) => cell.trim());

function render_table(lines) {
  const [head, , ...rows] = lines;
  const cells = (row, tag) => split_row(row).map((cell) => `<${tag}>${render_inline(cell)}</${tag}>`).join('');
  return `<table><thead><tr>${cells(head, 'th')}</tr></thead><tbody>` +
    rows.map((row) => `<tr>${cells(row, 'td')}</tr>`).join('') + '</tbody></table>';
}

// A list item's own lines, rendered as blocks; a lone paragraph stays inline (a tight list).
function render_item(lines) {
  const html = render_markdown(lines.join('\n'));
  const single = /^<p>([\s\S]*)<\/p>$/.exec(html);
  return single && !single[1].includes('<p>') ? single[1] : html;
}

function render_list(lines, start) {
  const first = item_pattern.exec(lines[start]);
  const ordered = /\d/.test(first[2]);
  const items = [];
  let i = start;
  while (i < lines.length) {
    const item = item_pattern.exec(lines[i]);
    if (item && item[1].length <= first[1].length + 1 && /\d/.test(item[2]) === ordered) {
      items.push([item[3]]);
      i++;
    } else if (/^\s*$/.test(lines[i]) && i + 1 < lines.length && /^(\s{2,}|\s*([-*+]|\d{1,9}[.)])\s)/.test(lines[i + 1])) {
      items[items.length - 1].push('');
      i++;
    } else if (/^\s{2,}\S/.test(lines[i])) {
      items[items.length - 1].push(lines[i].replace(/^ {2,4}/, ''));  // continuation or nested list
      i++;
    } else {
      break;
    }
  }
  const tag = ordered ? 'ol' : 'ul';
  const number = ordered ? parseInt(first[2], 10) : 1;
  const start_attribute = ordered && number !== 1 ? ` start="${number}"` : '';
  return [`<${tag}${start_attribute}>${items.map((item) => `<li>${render_item(item)}</li>`).join('')}</${tag}>`, i];
}

export function render_markdown(source) {
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  const out = [];
  let paragraph = [];
  const end_paragraph = () => {
    if (paragraph.length) out.push(`<p>${render_inline(paragraph.join('\n')).replace(/\n/g, '<br>')}</p>`);
    paragraph = [];
  };
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let match;
    if ((match = fence_pattern.exec(line))) {
      end_paragraph();
      const fence = match[1];
      const body = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence); i++) body.push(lines[i]);
      i++;
      out.push(code_block(body.join('\n'), match[2]));
    } else if (/^\s*$/.test(line)) {
      end_paragraph();
      i++;
    } else if ((match = heading_pattern.exec(line))) {
      end_paragraph();
      const level = match[1].length;
      out.push(`<h${level}>${render_inline(match[2])}</h${level}>`);
      i++;
    } else if (rule_pattern.test(line)) {
      end_paragraph();
      out.push('<hr>');
      i++;
    } else if (/^ {0,3}>/.test(line)) {
      end_paragraph();
      const quoted = [];
      for (; i < lines.length && /^ {0,3}>/.test(lines[i]); i++) quoted.push(lines[i].replace(/^ {0,3}> ?/, ''));
      out.push(`<blockquote>${render_markdown(quoted.join('\n'))}</blockquote>`);
    } else if (item_pattern.test(line)) {
      end_paragraph();
      const [html, next] = render_list(lines, i);
      out.push(html);
      i = next;
    } else if (line.includes('|') && i + 1 < lines.length && table_divider_pattern.test(lines[i + 1]) &&
               lines[i + 1].includes('-')) {
      end_paragraph();
      const table = [line, lines[i + 1]];
      for (i += 2; i < lines.length && lines[i].includes('|') && !/^\s*$/.test(lines[i]); i++) table.push(lines[i]);
      out.push(render_table(table));
    } else {
      paragraph.push(line);
      i++;
    }
  }
  end_paragraph();
  return out.join('\n');
}
