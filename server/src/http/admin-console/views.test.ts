/**
 * The admin console's views, rendered from fixtures typed with the operations' own result types (the access
 * matrix and a person computed by policy/access-matrix.ts itself): key texts and links, the write forms only
 * for a writer, the trace's nesting, and, over every page, escaping of hostile values, no script and no
 * inline style (the console's CSP allows neither), labelled inputs and CSRF on every POST form.
 */
import { describe, expect, it } from 'vitest';
import type { ChainedRow } from '../../audit/chain.ts';
import type { AuditEvent } from '../../audit/record.ts';
import type { Trace } from '../../audit/store.ts';
import { accessMatrix, personAccess, type KnownAccount } from '../../policy/access-matrix.ts';
import { Policy } from '../../policy/policy.ts';
import type { RevocationCounts } from '../../revocation/revoke.ts';
import type { AccountShow } from '../../admin/account-operations.ts';
import type { ClientList, ClientSummary } from '../../admin/client-operations.ts';
import type { Health } from '../../admin/health-operations.ts';
import {
  CONSOLE_CSS,
  accessPage,
  accountsPage,
  auditPage,
  clientPage,
  clientsPage,
  errorPage,
  forbiddenPage,
  keysPage,
  overviewPage,
  personPage,
  revokeDonePage,
  revokeSummary,
  signedOutPage,
  tracePage,
  type AccountList,
  type AuditQuery,
  type Chrome,
  type KeyListing,
  type OverviewData,
} from './views.ts';

const LOGS = 'https://logs.mcp.example.com/mcp';
const COST = 'https://cost.internal.example.com';
const policy = new Policy({
  issuer: 'https://baton.example.com',
  roles: { developer: ['logs.read'], sre: ['logs.read', 'logs.debug.write'], finance: ['cost.read'] },
  role_bindings: { local: { developers: ['developer'], oncall: ['sre'] } },
  resources: [
    {
      uri: LOGS,
      name: 'Logs',
      scopes: ['logs.read', 'logs.debug.write'],
      client_id: 'logs-mcp',
      scope_descriptions: {},
    },
    { uri: COST, name: 'Cost', scopes: ['cost.read'], client_id: 'cost-svc', scope_descriptions: {} },
  ],
  delegation: [
    { actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'], max_chain: 3, impersonation: false, workloads: [] },
  ],
  clients: { static: [] },
} as unknown as ConstructorParameters<typeof Policy>[0]);

const alice: KnownAccount = {
  id: 'u_alice',
  idp: 'local',
  subject: 'alice',
  groups: ['developers'],
  last_sign_in: '2026-12-01T10:00:00.000Z',
  disabled: false,
};
const bob: KnownAccount = { ...alice, id: 'u/bob 2', subject: 'bob', last_sign_in: null, disabled: true };

const chrome: Chrome = { base: '/admin', admin: { name: 'Ada', account: 'u_ada' }, csrf: 'csrf-123', canWrite: true };
const reader: Chrome = { ...chrome, canWrite: false };

const show: AccountShow = {
  account: {
    id: 'u_alice',
    idp: 'local',
    subject: 'alice',
    groups: ['developers'],
    roles: ['developer'],
    created_at: '2026-11-01T09:00:00.000Z',
    last_sign_in: '2026-12-01T10:00:00.000Z',
    disabled: false,
  },
  grants: [{ id: 'grant-1', client: 'agent-cli', expires_at: '2026-12-15T10:00:00.000Z' }],
  next_grants_after: 'grant-1',
  tokens: [
    { jti: 'jti-1', client: 'agent-cli', grant: 'grant-1', expires_at: '2026-12-01T11:00:00.000Z', status: 'valid' },
    { jti: 'jti-0', client: 'agent-cli', grant: null, expires_at: '2026-12-01T10:30:00.000Z', status: 'revoked' },
  ],
  next_tokens_after: null,
};
const counts: RevocationCounts = { tokens: 3, grants: 1, refresh_tokens: 2, consents: 1, sessions: 1 };
const health: Health = { status: 'unavailable', checks: { postgres: true, migrations: false, redis: true } };
const overview: OverviewData = {
  resources: 2,
  clients: 5,
  accounts: 1,
  issuedLastHour: 42,
  refusedLastHour: 7,
  health,
  since: '2026-12-01T09:00:00.000Z',
};
const accountList: AccountList = {
  accounts: [
    { id: 'u_alice', idp: 'local', subject: 'alice', roles: ['developer'], disabled: false },
    { id: 'u/bob 2', idp: null, subject: 'bob', roles: [], disabled: true },
  ],
  next_after: 'u/bob 2',
};
const agent: ClientSummary = {
  client_id: 'agent-cli',
  name: 'Agent CLI',
  registration: 'static',
  kind: 'agent',
  auth: 'none',
  redirect_hosts: ['127.0.0.1'],
  grant_types: ['authorization_code', 'refresh_token'],
  blocked: false,
  blocked_by: null,
  expires_at: null,
  live_grants: 1,
  live_tokens: 2,
};
const registered: ClientSummary = {
  ...agent,
  client_id: 'dcr-xyz',
  name: null,
  registration: 'dcr',
  kind: null,
  blocked: true,
  expires_at: '2027-01-01T00:00:00.000Z',
};
const clients: ClientList = { static: [agent], registered: [registered], next_after: 'dcr-xyz' };
const keys: KeyListing[] = [
  { kid: 'kid-new', alg: 'ES256', state: 'active', created_at: '2026-12-01T00:00:00.000Z' },
  { kid: 'kid-old', alg: 'EdDSA', state: 'retiring', created_at: '2026-11-01T00:00:00.000Z' },
];

let seq = 0;
function row(event: AuditEvent): ChainedRow {
  seq += 1;
  return {
    seq,
    at: new Date(Date.UTC(2026, 11, 1, 10, 0, seq)).toISOString(),
    type: event.type,
    outcome: event.outcome,
    account_id: event.account ?? null,
    client_id: event.client ?? null,
    resource: event.resource ?? null,
    jti: event.jti ?? null,
    parent_jti: event.parent_jti ?? null,
    grant_id: event.gid ?? null,
    event,
    prev_hash: '0'.repeat(64),
    hash: '1'.repeat(64),
  };
}
const idp = { iss: 'https://idp.example.com', sub: 'alice' };
const person = { account: 'u_alice', idp };
const events: ChainedRow[] = [
  row({ type: 'login.success', outcome: 'success', ...person, details: { auth_time: 1700 } }),
  row({
    type: 'consent.given',
    outcome: 'success',
    ...person,
    client: 'agent-cli',
    gid: 'G1',
    details: { auth_time: 1700 },
  }),
  row({
    type: 'token.issued',
    outcome: 'success',
    ...person,
    client: 'agent-cli',
    resource: LOGS,
    jti: 'T1',
    gid: 'G1',
    scope: 'logs.read',
  }),
  row({
    type: 'tool.called',
    outcome: 'success',
    ...person,
    client: 'agent-cli',
    resource: LOGS,
    jti: 'T1',
    gid: 'G1',
    details: { method: 'tools/call', name: 'read_logs', status: 200 },
  }),
  row({
    type: 'tool.called',
    outcome: 'refused',
    ...person,
    client: 'agent-cli',
    resource: LOGS,
    jti: 'T1',
    gid: 'G1',
    reason: 'insufficient_scope',
    details: { method: 'tools/call', name: 'delete_logs', status: 403 },
  }),
  row({
    type: 'token.issued',
    outcome: 'success',
    ...person,
    client: 'logs-mcp',
    act: { sub: 'logs-mcp' },
    resource: COST,
    jti: 'T2',
    parent_jti: 'T1',
    gid: 'G1',
    scope: 'cost.read',
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  }),
  row({
    type: 'api.called',
    outcome: 'failure',
    ...person,
    client: 'logs-mcp',
    resource: COST,
    jti: 'T2',
    gid: 'G1',
    details: { method: 'GET', name: '/costs', status: 500 },
  }),
  row({
    type: 'token.issued',
    outcome: 'success',
    ...person,
    client: 'cost-svc',
    act: { sub: 'cost-svc', act: { sub: 'logs-mcp' } },
    resource: 'https://tickets.example.com',
    jti: 'T3',
    parent_jti: 'T2',
    gid: 'G1',
  }),
  row({
    type: 'token.refused',
    outcome: 'refused',
    client: 'cost-svc',
    parent_jti: 'T3',
    error: 'invalid_target',
    reason: 'delegation_denied',
  }),
];
const trace: Trace = {
  tokens: [
    { jti: 'T1', parent_jti: null, depth: 0 },
    { jti: 'T2', parent_jti: 'T1', depth: 1 },
    { jti: 'T3', parent_jti: 'T2', depth: 2 },
  ],
  events,
};
const query: AuditQuery = { account: 'alice', outcome: 'refused', tool: 'read_logs', since: '2026-12-01T09:00Z' };

/** every page, each with its fixtures (given, so that the hostile test can swap them) */
function allPages(c: Chrome, f = fixtures()): Record<string, string> {
  return {
    overview: overviewPage(c, f.overview),
    access: accessPage(c, f.matrix),
    person: personPage(c, f.person, f.show, f.events),
    revoked: revokeDonePage(c, { id: f.show.account.id, label: f.show.account.subject }, counts),
    accounts: accountsPage(c, f.accountList),
    clients: clientsPage(c, f.clients),
    client: clientPage(c, f.agent),
    audit: auditPage(c, f.query, f.events, 9),
    trace: tracePage(c, f.trace, f.trace.tokens[1]?.jti),
    keys: keysPage(c, f.keys),
    error: errorPage(c, 404, f.show.account.subject, f.show.account.id),
    bareError: errorPage(undefined, 500, f.show.account.subject, f.show.account.id),
    signedOut: signedOutPage(c.base),
    forbidden: forbiddenPage(c.base, f.show.account.subject, c.csrf),
  };
}

function fixtures() {
  const matrix = accessMatrix(policy, [alice, bob]);
  return {
    overview,
    matrix,
    person: personAccess(policy, alice),
    show,
    events,
    accountList,
    clients,
    agent,
    query,
    trace,
    keys,
  };
}

/** the number of `<ul>` open at `index` (the nesting depth of a list item there) */
function listDepth(page: string, index: number): number {
  const before = page.slice(0, index);
  return (before.match(/<ul[\s>]/g) ?? []).length - (before.match(/<\/ul>/g) ?? []).length;
}

/** the form whose action is `action` (its whole text) */
function formOf(page: string, action: string): string {
  const start = page.indexOf(`<form class="action" method="post" action="${action}">`);
  expect(start, `a form posting to ${action}`).toBeGreaterThanOrEqual(0);
  return page.slice(start, page.indexOf('</form>', start) + '</form>'.length);
}

describe('every page', () => {
  const pages = { ...allPages(chrome), ...allPages({ ...reader, flash: 'Done.' }) };

  it('is a complete document: doctype, lang, viewport, the stylesheet, one h1', () => {
    for (const [name, page] of Object.entries(allPages(chrome))) {
      expect(page.startsWith('<!doctype html>\n<html lang="en">'), name).toBe(true);
      expect(page, name).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
      if (name !== 'bareError')
        expect(page, name).toContain('<link rel="stylesheet" href="/admin/assets/console.css">');
      expect(page.match(/<h1[\s>]/g), name).toHaveLength(1);
      expect(page.trimEnd().endsWith('</html>'), name).toBe(true);
    }
  });

  it('has no script and no inline style (the CSP allows neither)', () => {
    for (const [name, page] of Object.entries(pages)) {
      expect(page, name).not.toMatch(/<script/i);
      expect(page, name).not.toMatch(/\sstyle=/i);
      expect(page, name).not.toMatch(/<style/i);
      expect(page, name).not.toMatch(/\son[a-z]+=/i);
      expect(page, name).not.toMatch(/(href|src|action)="(?!\/admin|#main")/);
    }
  });

  it('labels every input and select, sends the CSRF token with every POST form, scopes every th, repeats no id', () => {
    for (const [name, page] of Object.entries(pages)) {
      for (const [control] of page.matchAll(/<(input|select)\b[^>]*>/g)) {
        if (control.includes('type="hidden"')) continue;
        const id = /\sid="([^"]+)"/.exec(control)?.[1];
        expect(id, `${name}: ${control}`).toBeDefined();
        expect(page, name).toContain(`<label for="${id}">`);
      }
      for (const [form] of page.matchAll(/<form\b[^>]*method="post"[^]*?<\/form>/g))
        expect(form, name).toContain('<input type="hidden" name="csrf" value="csrf-123">');
      for (const [th] of page.matchAll(/<th\b[^>]*>/g)) expect(th, name).toMatch(/scope="(col|row)"/);
      const ids = [...page.matchAll(/\sid="([^"]+)"/g)].map(([, id]) => id);
      expect(new Set(ids).size, `${name}: unique ids`).toBe(ids.length);
    }
  });

  it('escapes a hostile value in every string of every fixture, text and attributes alike', () => {
    const HOSTILE = `<script>alert(1)</script>"'><img src=x>`;
    const hostile = <T>(v: T): T =>
      (typeof v === 'string'
        ? HOSTILE
        : Array.isArray(v)
          ? v.map(hostile)
          : v && typeof v === 'object'
            ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, hostile(x)]))
            : v) as T;
    const c = { ...hostile(chrome), flash: HOSTILE };
    const pages = allPages(c, hostile(fixtures()));
    for (const [name, page] of Object.entries(pages)) {
      expect(page, name).not.toMatch(/<script|<img|"'>/i);
      expect(page, name).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img src=x&gt;');
    }
    // a path segment is encoded as well as escaped
    expect(pages.access).toContain(`/people/${encodeURIComponent(HOSTILE).replace(/'/g, '&#39;')}"`);
  });

  it('shows no write form to a reader (admin.read only)', () => {
    for (const [name, page] of Object.entries(allPages(reader))) {
      const posts = [...page.matchAll(/<form\b[^>]*method="post"[^>]*>/g)].map(([f]) => f);
      // the sign-out form alone
      expect(posts, name).toEqual(
        name === 'signedOut' || name === 'bareError' ? [] : [expect.stringContaining('action="/admin/sign-out"')],
      );
    }
  });
});

describe('the layout', () => {
  it('has the navigation, the current page marked, and the sign-out form with the CSRF token', () => {
    const page = overviewPage({ ...chrome, flash: 'Alice was revoked.' }, overview);
    for (const [href, label] of [
      ['/admin', 'Overview'],
      ['/admin/access', 'Access'],
      ['/admin/accounts', 'Accounts'],
      ['/admin/clients', 'Clients'],
      ['/admin/audit', 'Audit'],
      ['/admin/keys', 'Keys'],
    ])
      expect(page).toMatch(new RegExp(`<a href="${href}"( aria-current="page")?>${label}</a>`));
    expect(page).toContain('<a href="/admin" aria-current="page">Overview</a>');
    expect(page).toContain(
      '<form class="sign-out" method="post" action="/admin/sign-out"><input type="hidden" name="csrf" value="csrf-123">',
    );
    expect(page).toContain('Signed in as <strong>Ada</strong>');
    expect(page).toContain('<p class="flash" role="status">Alice was revoked.</p>');
  });

  it('says a reader is read-only; a tenant prefix leads every link', () => {
    const page = accessPage({ ...reader, base: '/tenant/admin' }, fixtures().matrix);
    expect(page).toContain('<span class="tag tag-info">read-only</span>');
    expect(page).toContain('<link rel="stylesheet" href="/tenant/admin/assets/console.css">');
    expect(page).toContain('href="/tenant/admin/people/u_alice"');
    expect(page).not.toMatch(/href="\/admin/);
  });
});

describe('overview', () => {
  it('shows the counts, links to the last hour of the trail, and the storage checks', () => {
    const page = overviewPage(chrome, overview);
    expect(page).toContain(
      '<span class="figure">42</span><a href="/admin/audit?type=token.issued&amp;since=2026-12-01T09%3A00%3A00.000Z">tokens issued in the last hour</a>',
    );
    // every refusal of the hour (token endpoint, tool calls, admin operations): the trail's refused outcomes
    expect(page).toContain(
      '<span class="figure">7</span><a href="/admin/audit?outcome=refused&amp;since=2026-12-01T09%3A00%3A00.000Z">requests refused in the last hour</a>',
    );
    expect(page).toContain('<span class="figure">1</span><a href="/admin/accounts">known account</a>');
    expect(page).toContain('Storage is <span class="tag tag-warn">unavailable</span>');
    expect(page).toContain('<span class="tag tag-warn">pending</span> run <code>baton migrate latest</code>');
    expect(page).toContain('<th scope="row">Redis</th><td><span class="tag tag-ok">ok</span></td>');
  });
});

describe('access matrix', () => {
  const page = accessPage(chrome, fixtures().matrix);

  it('lists each scope → role → group → known accounts, linked to their pages with last sign-in', () => {
    expect(page).toContain('<h2>Logs</h2>');
    expect(page).toContain(`<code>${LOGS}</code>`);
    expect(page).toContain(
      '<li><a href="/admin/people/u_alice">alice</a> <span class="meta">local · last sign-in <time datetime="2026-12-01T10:00:00.000Z">2026-12-01 10:00:00\u00a0UTC</time></span></li>',
    );
    expect(page).toContain(
      '<a href="/admin/people/u%2Fbob%202">bob</a> <span class="meta">local · never signed in</span> <span class="tag tag-warn">disabled</span>',
    );
    expect(page).toContain(
      '<th scope="row"><code>logs.debug.write</code></th><td><code>sre</code></td><td><code>local:oncall</code></td><td><span class="none">no known account</span></td>',
    );
    expect(page).toContain(
      '<th scope="row"><code>cost.read</code></th><td><code>finance</code></td><td><span class="none">no group is bound to it</span></td>',
    );
  });

  it("lists baton's own resources and says who is not listed", () => {
    expect(page).toContain('<code>https://baton.example.com/admin/api</code>');
    expect(page).toContain('People who never signed in are known only to the identity provider');
  });
});

describe('a person', () => {
  const page = personPage(chrome, personAccess(policy, alice), show, events);

  it('shows their access, through which group and role, and the delegation hops', () => {
    expect(page).toContain('<h1>alice</h1>');
    expect(page).toContain(
      '<th scope="row"><code>logs.read</code></th><td>group <code>local:developers</code> → role <code>developer</code></td>',
    );
    expect(page).toContain(
      '<code>logs-mcp</code> may exchange it for <code>https://cost.internal.example.com</code> with <code>cost.read</code> <span class="meta">(actor chain 2 of at most 3)</span>',
    );
  });

  it('shows their live grants and tokens (each linked to its trace), the next page, and their audit trail', () => {
    expect(page).toContain(
      '<th scope="row"><code>grant-1</code></th><td><a href="/admin/clients/agent-cli">agent-cli</a></td>',
    );
    expect(page).toContain('<a href="/admin/audit/trace/jti-1"><code>jti-1</code></a>');
    expect(page).toContain('<span class="tag tag-warn">revoked</span>');
    expect(page).toContain('<a href="/admin/people/u_alice?grants_after=grant-1">More grants</a>');
    expect(page).not.toContain('More access tokens');
    expect(page).toContain('<a href="/admin/audit?account=u_alice">The audit trail of alice</a>');
    expect(page).toContain('<caption>Recent events of alice</caption>');
  });

  it('has the "revoke everything" form: its action, the CSRF token, a required labelled confirmation', () => {
    const form = formOf(page, '/admin/people/u_alice/revoke');
    expect(form).toContain('<input type="hidden" name="csrf" value="csrf-123">');
    expect(form).toContain('<input type="checkbox" id="revoke-confirm" name="confirm" value="yes" required>');
    expect(form).toContain(
      '<label for="revoke-confirm">I understand this signs alice out everywhere and revokes every token</label>',
    );
    expect(form).toContain('<button type="submit" class="danger">Revoke everything</button>');
  });

  it('offers to disable an enabled account, to enable a disabled one', () => {
    expect(formOf(page, '/admin/people/u_alice/disable')).toContain('<button type="submit">Disable account</button>');
    expect(page).not.toContain('/enable"');
    const disabled = { ...show, account: { ...show.account, id: 'u/bob 2', disabled: true } };
    const other = personPage(chrome, personAccess(policy, bob), disabled);
    expect(formOf(other, '/admin/people/u%2Fbob%202/enable')).toContain('Enable account');
    expect(other).toContain('This account is disabled');
  });

  it('has no write form for a reader', () => {
    const read = personPage(reader, personAccess(policy, alice), show);
    expect(read).not.toContain('/revoke"');
    expect(read).not.toContain('/disable"');
    expect(read).not.toContain('Revoke everything');
    expect(read).not.toContain('type="checkbox"');
  });

  it('says what a revocation reached', () => {
    expect(revokeSummary(counts)).toBe('3 access tokens, 1 grant, 2 refresh tokens, 1 consent, 1 session');
    const done = revokeDonePage(chrome, { id: 'u_alice', label: 'alice' }, counts);
    expect(done).toContain('<th scope="row">refresh tokens</th><td>2</td>');
    expect(done).toContain('<th scope="row">sessions</th><td>1</td>');
    expect(done).toContain('<a href="/admin/people/u_alice">Back to alice</a>');
  });
});

describe('accounts, clients, keys', () => {
  it('pages the accounts, each linked to the person', () => {
    const page = accountsPage(chrome, accountList);
    expect(page).toContain('<th scope="row"><a href="/admin/people/u_alice">alice</a></th>');
    expect(page).toContain('<a href="/admin/accounts?after=u%2Fbob+2" rel="next">Next page</a>');
    expect(accountsPage(chrome, { ...accountList, next_after: null })).not.toContain('Next page');
  });

  it('lists the configured and registered clients, each linked, blocked ones marked; pages the registered', () => {
    const page = clientsPage(chrome, clients);
    expect(page).toContain('<a href="/admin/clients/agent-cli">agent-cli</a>');
    expect(page).toContain('<a href="/admin/clients/dcr-xyz">dcr-xyz</a>');
    expect(page).toContain('<span class="tag tag-warn">blocked</span>');
    expect(page).toContain('<th scope="col">Expires if unused</th>');
    expect(page).toContain('<a href="/admin/clients?after=dcr-xyz" rel="next">Next page</a>');
  });

  it('shows one client and links to its events', () => {
    const page = clientPage(chrome, agent);
    expect(page).toContain('<h1>Agent CLI</h1>');
    expect(page).toContain('<dt>Live access tokens</dt><dd>2</dd>');
    expect(page).toContain('href="/admin/audit?client=agent-cli"');
    expect(page).toContain('href="/admin/audit?agent=agent-cli"');
  });

  it('lists the keys: kid, algorithm, state, dates', () => {
    const page = keysPage(chrome, keys);
    expect(page).toContain(
      '<th scope="row"><code>kid-new</code></th><td><code>ES256</code></td><td><span class="tag tag-ok">active</span></td><td><time datetime="2026-12-01T00:00:00.000Z">',
    );
    expect(page).toContain('<span class="tag tag-info">retiring</span>');
    expect(page).not.toContain('Retired');
    expect(keysPage(chrome, [{ ...keys[1]!, retired_at: '2026-12-02T00:00:00.000Z' }])).toContain(
      '<th scope="col">Retired</th>',
    );
  });
});

describe('audit trail', () => {
  const page = auditPage(chrome, query, events, 9);

  it('re-fills the filters from the query, each labelled', () => {
    expect(page).toContain('<form class="filters" method="get" action="/admin/audit"');
    expect(page).toContain('<label for="audit-account">Account</label>');
    expect(page).toContain('<input type="text" id="audit-account" name="account" value="alice"');
    expect(page).toContain('<input type="text" id="audit-agent" name="agent" value=""');
    expect(page).toContain('<option value="refused" selected>refused</option>');
    expect(page).toContain('<option value="">any</option>');
    for (const f of ['client', 'resource', 'tool', 'type', 'since', 'until'])
      expect(page).toContain(`<label for="audit-${f}">`);
  });

  it('shows each event, its token linked to the trace, and the next page with the filters', () => {
    expect(page).toContain('tools/call delete_logs → 403');
    expect(page).toContain('<a href="/admin/audit/trace/T1"><code>T1</code></a>');
    expect(page).toContain('<a href="/admin/people/u_alice">alice</a>');
    expect(page).toContain('<span class="outcome outcome-failure">failure</span>');
    expect(page).toContain('invalid_target: delegation_denied');
    expect(page).toContain(
      '<a href="/admin/audit?account=alice&amp;tool=read_logs&amp;outcome=refused&amp;since=2026-12-01T09%3A00Z&amp;after=9" rel="next">Next page</a>',
    );
    expect(auditPage(chrome, {}, [], null)).toContain('No event matches these filters.');
    expect(auditPage(chrome, {}, [], null)).not.toContain('Next page');
  });
});

describe('trace', () => {
  const page = tracePage(chrome, trace, 'T2');
  const at = (text: string) => {
    const i = page.indexOf(text);
    expect(i, text).toBeGreaterThanOrEqual(0);
    return i;
  };

  it('nests person → agent token → exchanged token → exchanged again', () => {
    const grant = at('<span class="node-kind">person</span><a href="/admin/people/u_alice">alice</a>');
    const t1 = at('jti <a href="/admin/audit/trace/T1">');
    const t2 = at('jti <a href="/admin/audit/trace/T2">');
    const t3 = at('jti <a href="/admin/audit/trace/T3">');
    expect(grant).toBeLessThan(t1);
    expect(t1).toBeLessThan(t2);
    expect(t2).toBeLessThan(t3);
    expect([t1, t2, t3].map((i) => listDepth(page, i))).toEqual([2, 3, 4].map((d) => d + listDepth(page, grant) - 1));
    expect(page).toContain(
      '<a href="/admin/clients/agent-cli">agent-cli</a> → <code>https://logs.mcp.example.com/mcp</code>',
    );
    expect(page).toContain('actor <code>cost-svc</code> (before it: <code>logs-mcp</code>)');
  });

  it('puts the sign-in and consent under the grant, each call under its token with its outcome in words', () => {
    expect(at('<code>login.success</code>')).toBeLessThan(at('jti <a href="/admin/audit/trace/T1">'));
    expect(at('<code>consent.given</code>')).toBeLessThan(at('jti <a href="/admin/audit/trace/T1">'));
    const read = at('<strong>tools/call read_logs → 200</strong>');
    const denied = at(
      '<span class="outcome outcome-refused">refused</span> <code>tool.called</code> <strong>tools/call delete_logs → 403</strong> — insufficient_scope',
    );
    for (const i of [read, denied]) {
      expect(i).toBeGreaterThan(at('jti <a href="/admin/audit/trace/T1">'));
      expect(i).toBeLessThan(at('jti <a href="/admin/audit/trace/T2">'));
    }
    expect(at('<strong>GET /costs → 500</strong>')).toBeGreaterThan(at('jti <a href="/admin/audit/trace/T2">'));
    expect(page).toContain('<span class="outcome outcome-success">success</span> <code>tool.called</code>');
    // a refused exchange of T3 (named as its parent_jti) goes under T3
    expect(at('invalid_target: delegation_denied')).toBeGreaterThan(at('jti <a href="/admin/audit/trace/T3">'));
  });

  it('draws each token once when the lineage loops (a token its own parent, two tokens each the parent of the other)', () => {
    const looped: Trace = {
      tokens: [
        { jti: 'L1', parent_jti: 'L1', depth: 0 },
        { jti: 'A', parent_jti: 'B', depth: 1 },
        { jti: 'B', parent_jti: 'A', depth: 1 },
      ],
      events: [
        row({ type: 'tool.called', outcome: 'success', jti: 'A', details: { method: 'tools/call', status: 200 } }),
      ],
    };
    const drawn = tracePage(chrome, looped, 'A');
    for (const jti of ['L1', 'A', 'B'])
      expect(drawn.split(`jti <a href="/admin/audit/trace/${jti}">`), jti).toHaveLength(2);
    expect(drawn).toContain('<strong>tools/call → 200</strong>');
  });

  it('marks the token asked for; says so when no event names it', () => {
    expect(page.indexOf('this token')).toBeLessThan(at('jti <a href="/admin/audit/trace/T2">'));
    expect(page.indexOf('this token')).toBeGreaterThan(at('jti <a href="/admin/audit/trace/T1">'));
    const empty = tracePage(chrome, { tokens: [{ jti: 'nope', parent_jti: null, depth: 0 }], events: [] }, 'nope');
    expect(empty).toContain('No event of the audit trail names the token <code>nope</code>.');
  });
});

describe('signed out, forbidden, errors', () => {
  it('a non-admin is told plainly, and can sign out', () => {
    const page = forbiddenPage('/admin', 'Ask for the admin role.', 'csrf-123');
    expect(page).toContain('You are signed in, but your account has no admin role.');
    expect(formOf(page, '/admin/sign-out')).toContain('<input type="hidden" name="csrf" value="csrf-123">');
    expect(forbiddenPage('/admin', '')).not.toContain('<form');
  });

  it('an error page within the console, or bare', () => {
    expect(errorPage(chrome, 404, 'Not found', 'No account matches.')).toContain('<nav aria-label="Console">');
    const bare = errorPage({ base: '/admin' }, 403, 'Forbidden', 'The form has expired.');
    expect(bare).not.toContain('<nav');
    expect(bare).toContain('<p>The form has expired.</p><p class="meta">HTTP status 403</p>');
    expect(signedOutPage('/admin')).toContain('<a href="/admin">Sign in again</a>');
  });

  it('the stylesheet shows focus and needs nothing from elsewhere', () => {
    expect(CONSOLE_CSS).toContain(':focus-visible{');
    expect(CONSOLE_CSS).toContain('max-width:72rem');
    expect(CONSOLE_CSS).not.toMatch(/url\(|@import/);
  });
});
