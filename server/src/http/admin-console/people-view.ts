/**
 * The admin console's pages about people: the access matrix (`access.matrix`: per resource, scope → roles →
 * IdP groups → known accounts), one person (`access.person` with `accounts.show`: their access, the delegation
 * hops their tokens may take, live grants and tokens, recent activity, and the write forms), and what a
 * "revoke everything" reached (`revoke.user`).
 */
import type { ChainedRow } from '../../audit/chain.ts';
import type {
  AccessMatrix,
  AccountRef,
  DelegationHop,
  MatrixScope,
  PersonAccess,
  PersonResource,
} from '../../policy/access-matrix.ts';
import type { RevocationCounts } from '../../revocation/revoke.ts';
import type { AccountShow, Holdings } from '../../admin/account-operations.ts';
import { clientCell, eventsTable } from './audit-view.ts';
import { consolePaths, layout, postForm, type Chrome } from './layout.ts';
import {
  code,
  codeOr,
  facts,
  h,
  join,
  none,
  plural,
  table,
  tag,
  time,
  withQuery,
  type Html,
  type Part,
} from './markup.ts';

const codes = (values: readonly string[], empty = 'none'): Part =>
  values.length > 0 ? join(values.map(code), ', ') : none(empty);

function accountItem(base: string, a: AccountRef): Html {
  const seen = a.last_sign_in ? h`last sign-in ${time(a.last_sign_in)}` : 'never signed in';
  const disabled = a.disabled ? h` ${tag('disabled')}` : '';
  return h`<li><a href="${consolePaths(base).person(a.id)}">${a.subject}</a> <span class="meta">${a.idp ?? 'unknown IdP'} · ${seen}</span>${disabled}</li>`;
}

function scopeRows(base: string, s: MatrixScope): Part[][] {
  if (s.roles.length === 0) return [[code(s.scope), none('no role grants it'), '', '']];
  return s.roles.flatMap(({ role, groups }): Part[][] =>
    groups.length === 0
      ? [[code(s.scope), code(role), none('no group is bound to it'), '']]
      : groups.map((g) => [
          code(s.scope),
          code(role),
          code(`${g.idp}:${g.group}`),
          g.accounts.length > 0 ? h`<ul>${g.accounts.map((a) => accountItem(base, a))}</ul>` : none('no known account'),
        ]),
  );
}

/** Who can reach which resource, with which scopes, and why. */
export function accessPage(chrome: Chrome, matrix: AccessMatrix): string {
  const head = ['Scope', 'Role', 'IdP group', 'Known accounts'];
  const resources = matrix.resources.map((r) => {
    const rows = r.scopes.flatMap((s) => scopeRows(chrome.base, s));
    return h`<section><h2>${r.name}</h2><p class="sub">${code(r.uri)}</p>
${table(`Who can get each scope of ${r.name}`, head, rows, 'This resource has no scope.')}</section>`;
  });
  // the admin API: reached by people through the console only, by role like any resource
  const people = matrix.builtin_resources.flatMap((b) => {
    if (!b.people) return [];
    const rows = b.people.scopes.flatMap((s) => scopeRows(chrome.base, s));
    return [
      h`<section><h2>${b.name}</h2><p class="sub">${code(b.uri)} · people through ${code(b.people.through)} only</p>
${table(`Who can get each scope of ${b.name}`, head, rows, 'This resource has no scope.')}</section>`,
    ];
  });
  const builtins = table(
    "baton's own resources",
    ['Resource', 'Name', 'Scopes'],
    matrix.builtin_resources.map((b) => [code(b.uri), b.name, codes(b.scopes)]),
    'None.',
  );
  const body = h`<h1>Access matrix</h1>
<p class="sub">Who can reach which MCP server, with which scopes, and why: each scope, the roles granting it, the IdP groups bound to those roles, and the accounts baton knows in them.</p>
<p class="note">${matrix.note}</p>
${resources.length > 0 ? resources : h`<p class="empty">No resource is configured.</p>`}
${people}
<h2>baton's own resources</h2>
<p>Reached through <code>client_credentials</code> by the configured clients their rules admit; the admin API also by people, through the admin console only, by the roles above.</p>
${builtins}`;
  return layout(chrome, 'Access matrix', 'access', body);
}

/** the exchanges a token may take, hop after hop (RFC 8693), as nested lists */
function hopList(hops: readonly DelegationHop[]): Part {
  if (hops.length === 0) return '';
  const items = hops.map((hop) => {
    const chain = hop.impersonation
      ? 'impersonating: no actor chain'
      : `actor chain ${hop.depth} of at most ${hop.max_chain}`;
    return h`<li><code>${hop.actor}</code> may exchange it for <code>${hop.target}</code> with ${codes(hop.scopes)} <span class="meta">(${chain})</span>${hopList(hop.hops)}</li>`;
  });
  return h`<ul class="hops">${items}</ul>`;
}

function resourceAccess(idp: string | null, r: PersonResource): Html {
  const rows = r.scopes.map((s) => [
    code(s.scope),
    join(
      s.via.map((v) => h`group ${code(`${idp ?? '-'}:${v.group}`)} → role ${code(v.role)}`),
      h`<br>`,
    ),
  ]);
  const hops =
    r.delegation.length > 0
      ? h`<p>Delegation: tokens for ${r.name} may be exchanged onward (RFC 8693):</p>${hopList(r.delegation)}`
      : '';
  return h`<section><h3>${r.name}</h3><p class="sub">${code(r.uri)}</p>
${table(`Scopes of ${r.name}`, ['Scope', 'Through'], rows, 'No scope.')}${hops}</section>`;
}

/**
 * A holder's live grants and tokens (an account's: each with its client; a client's: each with its account),
 * a page of each, with links to the next pages of `page`.
 */
export function holdingsSection(base: string, show: Holdings, page: string, by: 'client' | 'account'): Html {
  const p = consolePaths(base);
  const whoCell = (x: { client: string | null; account?: string | null | undefined }): Part =>
    by === 'client'
      ? clientCell(base, x.client)
      : x.account
        ? h`<a href="${p.person(x.account)}">${code(x.account)}</a>`
        : none('the client itself');
  const who = by === 'client' ? 'Client' : 'Account';
  const grants = table(
    'Live grants',
    ['Grant', who, 'Expires'],
    show.grants.map((g) => [code(g.id), whoCell(g), time(g.expires_at)]),
    'No live grant.',
  );
  const tokens = table(
    'Live access tokens',
    ['Token (jti)', who, 'Grant', 'Expires', 'Status'],
    show.tokens.map((t) => [
      h`<a href="${p.trace(t.jti)}">${code(t.jti)}</a>`,
      whoCell(t),
      codeOr(t.grant),
      time(t.expires_at),
      t.status === 'valid' ? tag('valid', 'ok') : tag(t.status),
    ]),
    'No live access token.',
  );
  const more = (key: 'grants_after' | 'tokens_after', after: string | null, label: string) =>
    after ? h`<p class="pager"><a href="${withQuery(page, { [key]: after })}">${label}</a></p>` : '';
  return h`<h2>Grants and tokens</h2>${grants}${more('grants_after', show.next_grants_after, 'More grants')}
${tokens}${more('tokens_after', show.next_tokens_after, 'More access tokens')}`;
}

const liveSection = (base: string, show: AccountShow): Html =>
  holdingsSection(base, show, consolePaths(base).person(show.account.id), 'client');

function actionsSection(chrome: Chrome, id: string, name: string, disabled: boolean): Part {
  if (!chrome.canWrite) return '';
  const p = consolePaths(chrome.base);
  const toggle = disabled
    ? postForm(
        chrome.csrf,
        p.personAction(id, 'enable'),
        h`<p>baton issues ${name} tokens again (the revoked ones stay revoked).</p>
<p><button type="submit">Enable account</button></p>`,
      )
    : postForm(
        chrome.csrf,
        p.personAction(id, 'disable'),
        h`<p>baton issues ${name} no token, and refuses every token they hold, until the account is enabled again.</p>
<p><button type="submit">Disable account</button></p>`,
      );
  const revoke = postForm(
    chrome.csrf,
    p.personAction(id, 'revoke'),
    h`<p>Ends the sessions of ${name} and revokes their grants, refresh tokens, consents and every access token, exchanged ones included. They can sign in again unless the account is disabled.</p>
<p class="confirm"><input type="checkbox" id="revoke-confirm" name="confirm" value="yes" required>
<label for="revoke-confirm">I understand this signs ${name} out everywhere and revokes every token</label></p>
<p><button type="submit" class="danger">Revoke everything</button></p>`,
  );
  return h`<h2>Actions</h2><div class="actions">
<section><h3>${disabled ? 'Enable the account' : 'Disable the account'}</h3>${toggle}</section>
<section class="danger-zone"><h3>Revoke everything</h3>${revoke}</section></div>`;
}

/** One person: who they are, their access and why, their live grants and tokens, recent activity, actions. */
export function personPage(
  chrome: Chrome,
  person: PersonAccess,
  show: AccountShow,
  activity?: readonly ChainedRow[],
): string {
  const a = show.account;
  const about = facts([
    ['Account id', code(a.id)],
    ['Identity provider', codeOr(a.idp, 'unknown')],
    ['Subject at the IdP', code(a.subject)],
    ['Groups', codes(person.account.groups)],
    ['Roles', codes(person.account.roles)],
    ['Created', time(a.created_at)],
    ['Last sign-in', time(a.last_sign_in, 'never signed in')],
    ['Status', a.disabled ? tag('disabled') : tag('enabled', 'ok')],
  ]);
  const access =
    person.resources.length > 0
      ? person.resources.map((r) => resourceAccess(a.idp, r))
      : h`<p class="empty">No resource: no role of this account grants a scope.</p>`;
  const trail = withQuery(consolePaths(chrome.base).audit, { account: a.id });
  const recent = activity
    ? eventsTable(chrome.base, activity, `Recent events of ${a.subject}`, 'No recent event.')
    : '';
  const note = person.account.note ? h`<p class="note">${person.account.note}</p>` : '';
  const body = h`<h1>${a.subject}</h1>
<p class="sub">${a.idp ?? 'unknown IdP'} · account ${code(a.id)}${a.disabled ? h` ${tag('disabled')}` : ''}</p>
${note}${about}
<h2>Access</h2>${access}<p class="note">${person.note}</p>
${liveSection(chrome.base, show)}
<h2>Activity</h2>${recent}<p><a href="${trail}">The audit trail of ${a.subject}</a></p>
${actionsSection(chrome, a.id, a.subject, a.disabled)}`;
  return layout(chrome, a.subject, 'accounts', body);
}

const COUNTS: readonly [keyof RevocationCounts, string][] = [
  ['tokens', 'access token'],
  ['grants', 'grant'],
  ['refresh_tokens', 'refresh token'],
  ['consents', 'consent'],
  ['sessions', 'session'],
];

/** what a revocation reached, in words (for a flash message): `3 access tokens, 1 grant, …` */
export const revokeSummary = (counts: RevocationCounts): string =>
  COUNTS.map(([k, word]) => plural(counts[k], word)).join(', ');

/** After "revoke everything": what it reached, and the way back to the person. */
export function revokeDonePage(chrome: Chrome, who: { id: string; label: string }, counts: RevocationCounts): string {
  const p = consolePaths(chrome.base);
  const rows = COUNTS.map(([k, word]) => [`${word}s`, counts[k]]);
  const body = h`<h1>Revoked everything of ${who.label}</h1>
<p role="status">${who.label} is signed out everywhere: ${revokeSummary(counts)} revoked.</p>
${table('What the revocation reached', ['Revoked', 'Count'], rows, 'Nothing.')}
<p><a href="${p.person(who.id)}">Back to ${who.label}</a> · <a href="${withQuery(p.audit, { account: who.id })}">Their audit trail</a></p>`;
  return layout(chrome, 'Revoked', 'accounts', body);
}
