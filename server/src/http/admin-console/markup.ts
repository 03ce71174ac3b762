/**
 * The admin console's markup: the `h` template tag, which escapes every interpolated value with pages.ts's
 * escapeHtml unless it is already markup (an `Html`), so a page cannot forget to escape (named `h`, not
 * `html`, so that the formatter leaves the markup as written); path building (each segment through
 * encodeURIComponent); and the small pieces the pages share (tables, times, outcomes).
 */
import { escapeHtml } from '../../pages.ts';

/** Markup: text already escaped, or built by `h` from escaped parts. */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

export type Part = string | number | Html | null | undefined | false | readonly Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof Html) return part.text;
  if (typeof part === 'object') return part.map(render).join('');
  return escapeHtml(String(part));
}

/** A template whose interpolations are escaped (text and attribute values alike); markup goes in as is. */
export function h(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new Html(out);
}

/** parts joined by a separator (both escaped unless markup) */
export const join = (parts: readonly Part[], separator: Part): Html =>
  new Html(parts.map(render).join(render(separator)));

/** `base` followed by each segment, encoded (RFC 3986 §3.3: a segment carries no `/`, `?` or `#`) */
export const path = (base: string, ...segments: readonly string[]): string =>
  `${base}${segments.map((s) => `/${encodeURIComponent(s)}`).join('')}`;

/** a path with the query's non-empty values (application/x-www-form-urlencoded, as a GET form sends them) */
export function withQuery(target: string, query: Readonly<Record<string, string | number | null | undefined>>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const q = params.toString();
  return q ? `${target}?${q}` : target;
}

export const code = (value: string): Html => h`<code>${value}</code>`;

/** a missing value, said in words */
export const none = (words = 'none'): Html => h`<span class="none">${words}</span>`;

export const codeOr = (value: string | null | undefined, words?: string): Html => (value ? code(value) : none(words));

/** an ISO 8601 instant as `2026-12-01 10:00:00 UTC` (breaking after the date only), `datetime` for machines */
export function time(iso: string | null | undefined, words = 'never'): Html {
  if (!iso) return none(words);
  const shown = iso.replace('T', ' ').replace(/(\.\d+)?Z$/, '\u00a0UTC');
  return h`<time datetime="${iso}">${shown}</time>`;
}

/** an outcome as a word (and a mark drawn by the stylesheet): never by colour alone */
export const outcome = (value: string): Html => {
  const known = ['success', 'refused', 'failure'].includes(value) ? value : 'other';
  return h`<span class="outcome outcome-${known}">${value}</span>`;
};

/** a state shown as a tag, with its word: disabled, blocked, revoked, … */
export const tag = (word: string, kind: 'warn' | 'ok' | 'info' = 'warn'): Html =>
  h`<span class="tag tag-${kind}">${word}</span>`;

/**
 * A table: a caption naming it, column headers (`scope="col"`), each row's first cell its header
 * (`scope="row"`); wrapped in a focusable region so that a wide one scrolls with the keyboard.
 */
export function table(caption: string, head: readonly string[], rows: readonly (readonly Part[])[], empty: string) {
  if (rows.length === 0) return h`<p class="empty">${empty}</p>`;
  const cols = head.map((label) => h`<th scope="col">${label}</th>`);
  const body = rows.map(
    ([first, ...rest]) => h`<tr><th scope="row">${first}</th>${rest.map((c) => h`<td>${c}</td>`)}</tr>`,
  );
  return h`<div class="table-wrap" role="region" aria-label="${caption}" tabindex="0"><table>
<caption>${caption}</caption><thead><tr>${cols}</tr></thead><tbody>${body}</tbody></table></div>`;
}

/** a definition list of label → value */
export const facts = (items: readonly (readonly [string, Part])[]): Html =>
  h`<dl class="facts">${items.map(([k, v]) => h`<div><dt>${k}</dt><dd>${v}</dd></div>`)}</dl>`;

export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
