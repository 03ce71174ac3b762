/**
 * The admin console's views: pure functions from admin-operation results to complete HTML documents (no
 * script, no inline style: one stylesheet, console.css.ts). Every value is escaped by the `h` tag
 * (markup.ts); path segments go through encodeURIComponent. The overview, accounts, clients, keys and the
 * error pages are here; the people pages in people-view.ts, the audit trail in audit-view.ts and the trace
 * in trace-view.ts, all exported from here.
 */
import type { ClientList, ClientSummary } from '../../admin/client-operations.ts';
import type { Holdings } from '../../admin/account-operations.ts';
import type { Health } from '../../admin/health-operations.ts';
import { barePage, consolePaths, csrfField, layout, postForm, type BareFrame, type Chrome } from './layout.ts';
import { code, codeOr, facts, h, join, none, table, tag, time, withQuery, type Html, type Part } from './markup.ts';

export { CONSOLE_CSS } from './console.css.ts';
export { consolePaths, type BareFrame, type Chrome, type Section } from './layout.ts';
export { accessPage, personPage, revokeDonePage, revokeSummary } from './people-view.ts';
import { holdingsSection } from './people-view.ts';
export { AUDIT_FILTERS, auditPage, type AuditFilter, type AuditQuery } from './audit-view.ts';
export { tracePage } from './trace-view.ts';

/** The overview's figures (the integrator counts them; `since`: the start of the last hour, ISO 8601). */
export interface OverviewData {
  resources: number;
  clients: number;
  accounts: number;
  issuedLastHour: number;
  refusedLastHour: number;
  health: Health;
  since?: string;
}

/** `accounts.list`'s result (admin/operations.ts) */
export interface AccountList {
  accounts: { id: string; idp: string | null; subject: string; roles: string[]; disabled: boolean }[];
  next_after: string | null;
}

/** one row of `keys.list` (admin/operations.ts); the later dates when the operation gives them */
export interface KeyListing {
  kid: string;
  alg: string;
  state: string;
  created_at: string;
  activated_at?: string | null;
  retiring_at?: string | null;
  retired_at?: string | null;
}

const codes = (values: readonly string[]): Part => (values.length > 0 ? join(values.map(code), ', ') : none());
const noun = (n: number, one: string, many: string) => (n === 1 ? one : many);

function healthTable(health: Health): Html {
  const { checks } = health;
  const word = (ok: boolean) => (ok ? tag('ok', 'ok') : tag('failing'));
  const migrations = !checks.postgres
    ? tag('unknown', 'info')
    : checks.migrations
      ? tag('current', 'ok')
      : h`${tag('pending')} run <code>baton migrate latest</code>`;
  const rows: Part[][] = [
    ['PostgreSQL', word(checks.postgres)],
    ['Migrations', migrations],
    ...(checks.redis === undefined ? [] : [['Redis', word(checks.redis)]]),
  ];
  const status = health.status === 'ok' ? tag('ok', 'ok') : tag('unavailable');
  return h`<p>Storage is ${status}</p>${table('Storage checks', ['Store', 'State'], rows, '')}`;
}

/** Counts of resources, clients, accounts and tokens of the last hour, and the storage's health. */
export function overviewPage(chrome: Chrome, data: OverviewData): string {
  const p = consolePaths(chrome.base);
  const since = data.since;
  const stat = (n: number, label: string, href: string) =>
    h`<li><span class="figure">${n}</span><a href="${href}">${label}</a></li>`;
  const stats = [
    stat(data.resources, noun(data.resources, 'resource', 'resources'), p.access),
    stat(data.clients, noun(data.clients, 'client', 'clients'), p.clients),
    stat(data.accounts, noun(data.accounts, 'known account', 'known accounts'), p.accounts),
    stat(
      data.issuedLastHour,
      `${noun(data.issuedLastHour, 'token', 'tokens')} issued in the last hour`,
      withQuery(p.audit, { type: 'token.issued', since }),
    ),
    stat(
      data.refusedLastHour,
      `${noun(data.refusedLastHour, 'request', 'requests')} refused in the last hour`,
      withQuery(p.audit, { outcome: 'refused', since }),
    ),
  ];
  const body = h`<h1>Overview</h1><ul class="stats">${stats}</ul><h2>Storage</h2>${healthTable(data.health)}`;
  return layout(chrome, 'Overview', 'overview', body);
}

const nextLink = (target: string, after: string | null, keep: Record<string, string | undefined> = {}): Part =>
  after ? h`<p class="pager"><a href="${withQuery(target, { ...keep, after })}" rel="next">Next page</a></p>` : '';

/** The accounts baton knows, a page at a time. */
export function accountsPage(chrome: Chrome, list: AccountList, search?: string): string {
  const p = consolePaths(chrome.base);
  const form = h`<form class="filters" method="get" action="${p.accounts}" role="search" aria-label="Search the accounts">
<p><label for="accounts-search">Subject, email or name contains</label><br><input id="accounts-search" name="search" maxlength="200" value="${search ?? ''}">
<button type="submit">Search</button></p></form>`;
  const rows = list.accounts.map((a) => [
    h`<a href="${p.person(a.id)}">${a.subject}</a>`,
    codeOr(a.idp, 'unknown'),
    code(a.id),
    codes(a.roles),
    a.disabled ? tag('disabled') : tag('enabled', 'ok'),
  ]);
  const body = h`<h1>Accounts</h1>
<p class="sub">The people baton knows: those who signed in, or were provisioned. People who never signed in are known only to the identity provider.</p>
${form}${table('Accounts', ['Subject', 'IdP', 'Account id', 'Roles', 'Status'], rows, search ? 'No account matches.' : 'No account on this page.')}
${nextLink(p.accounts, list.next_after, { search })}`;
  return layout(chrome, 'Accounts', 'accounts', body);
}

const blocked = (c: ClientSummary): Html => (c.blocked ? tag('blocked') : tag('allowed', 'ok'));

function clientRows(base: string, clients: readonly ClientSummary[], registered: boolean): Part[][] {
  return clients.map((c) => [
    h`<a href="${consolePaths(base).client(c.client_id)}">${c.client_id}</a>`,
    c.name ?? none(),
    registered ? time(c.expires_at, 'no expiry') : (c.kind ?? none()),
    codes(c.grant_types),
    codes(c.redirect_hosts),
    c.live_grants,
    c.live_tokens,
    blocked(c),
  ]);
}

/** The configured clients (on the first page) and a page of the registered ones. */
export function clientsPage(chrome: Chrome, list: ClientList): string {
  const head = (third: string) => [
    'Client',
    'Name',
    third,
    'Grant types',
    'Redirect hosts',
    'Live grants',
    'Live tokens',
    'Status',
  ];
  const configured = table(
    'Configured clients',
    head('Kind'),
    clientRows(chrome.base, list.static, false),
    'None on this page: they are listed on the first page.',
  );
  const registered = table(
    'Registered clients',
    head('Expires if unused'),
    clientRows(chrome.base, list.registered, true),
    'No registered client on this page.',
  );
  const body = h`<h1>Clients</h1>
<h2>Configured clients</h2>${configured}
<h2>Registered clients</h2>
<p class="sub">Registered through dynamic client registration (RFC 7591); a registration expires while unused.</p>
${registered}${nextLink(consolePaths(chrome.base).clients, list.next_after)}`;
  return layout(chrome, 'Clients', 'clients', body);
}

/** One client: how it is registered, what it may do, its live grants and tokens, the way to its events. */
/**
 * Block (revokes its tokens and every token whose chain passes through it) or unblock, for a writer; a
 * client the configuration blocks is unblocked there, not here.
 */
function clientActions(chrome: Chrome, client: ClientSummary): Part {
  if (!chrome.canWrite) return '';
  const p = consolePaths(chrome.base);
  if (client.blocked_by?.source === 'configuration')
    return h`<p class="note">Blocked by the configuration (<code>clients.blocked</code>): unblock it there.</p>`;
  if (client.blocked)
    return postForm(
      chrome.csrf,
      p.clientAction(client.client_id, 'unblock'),
      h`<button type="submit">Unblock</button>`,
    );
  return h`<section class="danger-zone"><h2>Block this client</h2>${postForm(
    chrome.csrf,
    p.clientAction(client.client_id, 'block'),
    h`<p><label for="block-reason">Reason (kept with the block)</label><br><input id="block-reason" name="reason" maxlength="500"></p>
<p><button type="submit" class="danger">Block and revoke its tokens</button></p>`,
  )}</section>`;
}

export function clientPage(chrome: Chrome, client: ClientSummary, holdings?: Holdings): string {
  const p = consolePaths(chrome.base);
  const expiry: [string, Part][] =
    client.registration === 'dcr' ? [['Expires if unused', time(client.expires_at, 'no expiry')]] : [];
  const about = facts([
    ['Client id', code(client.client_id)],
    ['Registration', client.registration === 'static' ? 'configured (static)' : 'registered (RFC 7591)'],
    ['Kind', client.kind ?? none()],
    ['Token endpoint authentication', codeOr(client.auth)],
    ['Grant types', codes(client.grant_types)],
    ['Redirect hosts', codes(client.redirect_hosts)],
    ['Live grants', client.live_grants],
    ['Live access tokens', client.live_tokens],
    ['Status', blocked(client)],
    ...expiry,
  ]);
  const body = h`<h1>${client.name ?? client.client_id}</h1>
<p class="sub">Client ${code(client.client_id)}</p>${about}${clientActions(chrome, client)}
${holdings ? holdingsSection(chrome.base, holdings, p.client(client.client_id), 'account') : ''}
<h2>Activity</h2><ul>
<li><a href="${withQuery(p.audit, { client: client.client_id })}">Events where it is the client</a></li>
<li><a href="${withQuery(p.audit, { agent: client.client_id })}">Events where it acted (the client, or an actor of the chain)</a></li></ul>`;
  return layout(chrome, client.name ?? client.client_id, 'clients', body);
}

const LATER = { activated_at: 'Activated', retiring_at: 'Retiring since', retired_at: 'Retired' } as const;

/** The signing keys: kid, algorithm, state and dates. */
export function keysPage(chrome: Chrome, keys: readonly KeyListing[]): string {
  const later = (Object.keys(LATER) as (keyof typeof LATER)[]).filter((d) => keys.some((k) => k[d]));
  const rows = keys.map((k) => [
    code(k.kid),
    code(k.alg),
    k.state === 'active' ? tag('active', 'ok') : tag(k.state, 'info'),
    time(k.created_at),
    ...later.map((d) => time(k[d], '—')),
  ]);
  const head = ['Key id (kid)', 'Algorithm', 'State', 'Created', ...later.map((d) => LATER[d])];
  const body = h`<h1>Signing keys</h1>
<p class="sub">A published key is in the JWKS but does not sign; the active key signs; a retiring key still verifies the tokens it signed.</p>
${table('Signing keys', head, rows, 'No signing key.')}`;
  return layout(chrome, 'Keys', 'keys', body);
}

const isChrome = (frame: Chrome | BareFrame): frame is Chrome => 'csrf' in frame;

/** An error: within the console's frame when the admin is signed in, else a bare page. */
export function errorPage(
  frame: Chrome | BareFrame | undefined,
  status: number,
  title: string,
  message: string,
): string {
  const body = h`<h1>${title}</h1><p>${message}</p><p class="meta">HTTP status ${status}</p>`;
  if (frame && isChrome(frame)) return layout(frame, title, undefined, body);
  const back = frame ? h`<p><a href="${consolePaths(frame.base).overview}">Go to the console</a></p>` : '';
  return barePage(frame, title, [body, back]);
}

/** After sign-out: a way to sign in again. */
export function signedOutPage(base: string): string {
  const body = h`<h1>Signed out</h1><p>You are signed out of the baton admin console.</p>
<p><a href="${consolePaths(base).overview}">Sign in again</a></p>`;
  return barePage({ base }, 'Signed out', body);
}

/** Signed in, but not an admin. With the session's `csrf`, a sign-out form; without it, none can be sent. */
export function forbiddenPage(base: string, message: string, csrf?: string): string {
  const action = consolePaths(base).signOut;
  const signOut = csrf
    ? h`<form class="action" method="post" action="${action}">${csrfField(csrf)}<button type="submit">Sign out</button></form>`
    : '';
  const body = h`<h1>No admin access</h1><p>You are signed in, but your account has no admin role.</p>
${message ? h`<p>${message}</p>` : ''}${signOut}`;
  return barePage({ base }, 'No admin access', body);
}
