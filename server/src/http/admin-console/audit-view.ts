/**
 * The admin console's audit trail page (`audit.search`, audit/store.ts searchEvents): a GET filter form whose
 * fields are re-filled from the query, a table of events (each token linking to its trace), and the next page
 * by seq, with the filters kept. The events table is shared with the person page (recent activity).
 */
import type { ChainedRow } from '../../audit/chain.ts';
import { consolePaths, layout, type Chrome } from './layout.ts';
import { code, codeOr, h, none, outcome, table, time, withQuery, type Html, type Part } from './markup.ts';

/** The filters of the audit page, as the GET form sends them (audit.search's arguments of the same names). */
export const AUDIT_FILTERS = [
  'account',
  'client',
  'agent',
  'resource',
  'tool',
  'type',
  'jti',
  'outcome',
  'since',
  'until',
] as const;
export type AuditFilter = (typeof AUDIT_FILTERS)[number];
export type AuditQuery = Partial<Record<AuditFilter, string>>;

const OUTCOMES = ['success', 'refused', 'failure'] as const;

const FIELDS: Record<Exclude<AuditFilter, 'outcome'>, [label: string, hint: string]> = {
  account: ['Account', 'baton account id, or the subject at the IdP'],
  client: ['Client', 'the client id that asked'],
  agent: ['Agent', 'the client, or any actor of the chain'],
  resource: ['Resource', 'the audience URI'],
  tool: ['Tool', 'a tool an MCP server reported'],
  type: ['Event type', 'e.g. token.issued, tool.called'],
  jti: ['Token (jti)', 'the events of one token'],
  since: ['Since', 'ISO 8601, inclusive: 2026-12-01T09:00Z'],
  until: ['Until', 'ISO 8601, exclusive'],
};

/** what a reported call was: `tools/call read_logs → 200` (tool.called, api.called; as the CLI's trace) */
export function callOf(e: ChainedRow): string {
  if (e.type !== 'tool.called' && e.type !== 'api.called') return '';
  const d = (e.event.details ?? {}) as { method?: unknown; name?: unknown; status?: unknown };
  const call = [d.method, d.name].filter((v) => typeof v === 'string').join(' ');
  return typeof d.status === 'number' ? `${call} → ${d.status}` : call;
}

/** why: the wire error and baton's reason */
export const reasonOf = (e: ChainedRow): string => [e.event.error, e.event.reason].filter(Boolean).join(': ');

/** the person of an event, linked to their page: shown by their IdP subject when the event has it */
export function personCell(base: string, e: ChainedRow): Part {
  const sub = e.event.idp?.sub;
  if (!e.account_id) return sub ? code(sub) : none('—');
  return h`<a href="${consolePaths(base).person(e.account_id)}">${sub ?? e.account_id}</a>`;
}

export const clientCell = (base: string, client: string | null | undefined): Part =>
  client ? h`<a href="${consolePaths(base).client(client)}">${client}</a>` : none('—');

export const tokenCell = (base: string, jti: string | null): Part =>
  jti ? h`<a href="${consolePaths(base).trace(jti)}">${code(jti)}</a>` : none('—');

/** A table of audit events, one row each, in the trail's order (seq). */
export function eventsTable(base: string, rows: readonly ChainedRow[], caption: string, empty: string): Html {
  const head = ['Seq', 'Time', 'Type', 'Outcome', 'Account', 'Client', 'Resource', 'Tool / call', 'Token', 'Reason'];
  const cells = rows.map((e): Part[] => [
    e.seq,
    time(e.at),
    h`<code class="kw">${e.type}</code>`,
    outcome(e.outcome),
    personCell(base, e),
    clientCell(base, e.client_id),
    codeOr(e.resource, '—'),
    callOf(e) || none('—'),
    tokenCell(base, e.jti),
    reasonOf(e) || none('—'),
  ]);
  return table(caption, head, cells, empty);
}

function textField(name: Exclude<AuditFilter, 'outcome'>, value: string | undefined): Html {
  const [label, hint] = FIELDS[name];
  const id = `audit-${name}`;
  return h`<div class="field"><label for="${id}">${label}</label>
<input type="text" id="${id}" name="${name}" value="${value ?? ''}" aria-describedby="${id}-hint" maxlength="1024">
<small id="${id}-hint">${hint}</small></div>`;
}

function outcomeField(value: string | undefined): Html {
  const option = (v: string, label: string) =>
    h`<option value="${v}"${(value ?? '') === v ? h` selected` : ''}>${label}</option>`;
  return h`<div class="field"><label for="audit-outcome">Outcome</label>
<select id="audit-outcome" name="outcome">${option('', 'any')}${OUTCOMES.map((o) => option(o, o))}</select></div>`;
}

function filterForm(base: string, query: AuditQuery): Html {
  const audit = consolePaths(base).audit;
  const fields = AUDIT_FILTERS.map((f) => (f === 'outcome' ? outcomeField(query.outcome) : textField(f, query[f])));
  return h`<form class="filters" method="get" action="${audit}" role="search" aria-label="Filter the audit trail">
${fields}<div class="buttons"><button type="submit">Search</button><a href="${audit}">Clear the filters</a></div></form>`;
}

/** The audit trail: the filters, a page of events, and the next page (`after` the last seq) with the filters. */
export function auditPage(
  chrome: Chrome,
  query: AuditQuery,
  rows: readonly ChainedRow[],
  nextAfter: number | null,
): string {
  const filters = Object.fromEntries(AUDIT_FILTERS.map((f) => [f, query[f]]));
  const next = withQuery(consolePaths(chrome.base).audit, { ...filters, after: nextAfter });
  const pager = nextAfter === null ? '' : h`<p class="pager"><a href="${next}" rel="next">Next page</a></p>`;
  const body = h`<h1>Audit trail</h1>
<p class="sub">Every decision baton made, and the tool calls MCP servers reported, in the order of the hash chain.</p>
${filterForm(chrome.base, query)}
<h2>Events</h2>
${eventsTable(chrome.base, rows, `Audit events (${rows.length} on this page)`, 'No event matches these filters.')}
${pager}`;
  return layout(chrome, 'Audit trail', 'audit', body);
}
