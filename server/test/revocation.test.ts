/**
 * Issue #14 item 1: one operation cuts a person, a client, a grant or a token off. Alice has a code-flow
 * token for the logs MCP server (ide-agent's grant), exchanged by logs-mcp for the cost service (RFC 8693),
 * then by cost-svc for ticketing, and a second grant; Bob has his own. After each revocation every token it
 * reaches is inactive at RFC 7662 introspection and INVALID in the Token Status List
 * (draft-ietf-oauth-status-list-20 §7.1), what it does not reach is untouched, and the audit trail has one
 * `token.revoked` record with the `admin.operation` naming who asked.
 */
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import { decodeStatusList } from '../src/status-list/format.ts';
import request from 'supertest';
import { searchEvents } from '../src/audit/store.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOperation, type AdminStores } from '../src/admin/operations.ts';
import { AdminError } from '../src/admin/errors.ts';
import { RevocationIncomplete } from '../src/revocation/revoke.ts';
import { revokeDown } from '../src/revocation/reach.ts';
import { localIssuer } from '../src/idp/registry.ts';
import {
  adminStoresOf,
  exchangeToken,
  clientCredentialsRequest,
  makeConfig,
  RESOURCES,
  startTestServer,
  storedStatus,
  type TestServer,
} from './helpers.ts';
import { codeForm, seedAccount, seedCode } from './seed.ts';
import { runCli, writeConfig } from './processes.ts';
import { STATE_CACHE_MS } from '../src/provider/token-state.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const LOGS = RESOURCES[0]!.uri;
const COST = 'https://cost.internal.example.com';
const TICKETS = 'https://tickets.internal.example.com';
const SECRET = 'revocation-test-secret-0123456789abcdef';
const OPS_SECRET = 'ops-admin-secret-0123456789abcdefghijklm';
const READER_SECRET = 'ops-reader-secret-0123456789abcdefghijk';
const ADMIN = 'http://127.0.0.1:9400/admin/api';

const service = (client_id: string, kind: string, extra: Record<string, unknown> = {}) => ({
  client_id,
  kind,
  auth: 'client_secret_basic',
  client_secret: SECRET,
  grant_types: ['client_credentials'],
  ...extra,
});

const scenario = (base: ReturnType<typeof makeConfig>) => ({
  resources: [
    { ...RESOURCES[0]!, client_id: 'logs-mcp' },
    { ...RESOURCES[1]!, client_id: 'cost-svc' },
    { uri: TICKETS, name: 'Ticketing', scopes: ['tickets.create'] },
  ],
  clients: {
    static: [
      ...base.clients.static,
      service('logs-mcp', 'mcp_server'),
      service('cost-svc', 'service'),
      { ...service('ops-admin', 'service'), client_secret: OPS_SECRET, scopes: ['admin.read', 'admin.write'] },
      { ...service('ops-reader', 'service'), client_secret: READER_SECRET, scopes: ['admin.read'] },
    ],
  },
  delegation: [
    { actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'], max_chain: 3 },
    { actor: 'cost-svc', targets: [TICKETS], scopes: ['tickets.create'], max_chain: 3 },
  ],
});

/** a person's tokens: the code flow's (with its refresh token), and each hop of the chain */
interface Chain {
  account: string;
  grantId: string;
  logs: string;
  refresh: string;
  cost: string;
  tickets: string;
}

let t: TestServer;
let stores: AdminStores;

beforeAll(async () => {
  t = await startTestServer({ backend: 'postgres+redis', config: scenario });
  stores = adminStoresOf(t);
}, 60_000);
afterAll(async () => t?.close());

const jti = (token: string) => String(decodeJwt(token).jti);

const exchange = (actor: string, form: Record<string, string>) => exchangeToken(t.url, actor, SECRET, form);

/** Bob of the local directory (a refresh asks the directory whether its user still exists) */
async function bob(): Promise<string> {
  const a = await t.server.accounts.recordLogin({
    idpId: 'local',
    idpIssuer: localIssuer('local'),
    idpSubject: 'bob',
    profile: { email: 'bob@example.com' },
    groups: ['oncall'],
    roles: ['sre'],
  });
  return a.id;
}

/** a code-flow token of `account` for the logs MCP server, exchanged twice (logs-mcp → cost-svc) */
async function chainOf(account: string): Promise<Chain> {
  const seed = await seedCode(t.server.provider(), account);
  const code = await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200);
  const logs = code.body.access_token as string;
  const cost = await exchange('logs-mcp', { subject_token: logs, resource: COST, scope: 'cost.read' });
  const tickets = await exchange('cost-svc', { subject_token: cost, audience: TICKETS });
  return { account, grantId: seed.grantId, logs, refresh: code.body.refresh_token as string, cost, tickets };
}

/** RFC 7662: who may ask about each token (its resource server, or the client it was issued to) */
const asker = (token: string) =>
  ({ [LOGS]: 'logs-mcp', [COST]: 'cost-svc', [TICKETS]: 'cost-svc' })[String(decodeJwt(token).aud)]!;

async function active(token: string): Promise<boolean> {
  const res = await request(t.url)
    .post('/token/introspection')
    .auth(asker(token), SECRET)
    .type('form')
    .send({ token })
    .expect(200);
  return res.body.active === true;
}

/** polls introspection (each process caches token state for STATE_CACHE_MS: provider/token-state.ts) */
async function becomesInactive(token: string): Promise<void> {
  const until = Date.now() + 4 * STATE_CACHE_MS + 2000;
  while (Date.now() < until && (await active(token))) await sleep(25);
  expect(await active(token)).toBe(false);
}

/** the token's status in the Token Status List (§7.1: 0 VALID, 1 INVALID), as the list is stored */
const statusBit = (token: string) => storedStatus(stores.db, token);

/**
 * The token's bit as a resource server reads it: the served statuslist+jwt (draft-ietf-oauth-status-list-20
 * §8.3), verified with baton's JWKS and decoded; polled, as each process keeps its signed answer a moment.
 */
async function servedBitBecomes(token: string, want: number): Promise<void> {
  const { idx, uri } = (decodeJwt(token) as { status: { status_list: { idx: number; uri: string } } }).status
    .status_list;
  const jwks = createLocalJWKSet((await request(t.url).get('/jwks')).body as JSONWebKeySet);
  const read = async () => {
    const res = await request(t.url).get(new URL(uri).pathname).expect(200);
    const { payload } = await jwtVerify(res.text, jwks, { typ: 'statuslist+jwt', subject: uri });
    return decodeStatusList(payload.status_list).get(idx);
  };
  const until = Date.now() + 4 * STATE_CACHE_MS + 2000;
  while (Date.now() < until && (await read()) !== want) await sleep(25);
  expect(await read()).toBe(want);
}

async function expectRevoked(tokens: string[]): Promise<void> {
  for (const token of tokens) {
    await becomesInactive(token);
    expect(await statusBit(token)).toBe(1);
  }
}

async function expectUntouched(tokens: string[]): Promise<void> {
  for (const token of tokens) {
    expect(await active(token)).toBe(true);
    expect(await statusBit(token)).toBe(0);
  }
}

const refresh = (c: Chain) =>
  request(t.url)
    .post('/token')
    .type('form')
    .send({ grant_type: 'refresh_token', refresh_token: c.refresh, client_id: 'ide-agent', resource: LOGS });

/** an audit_events row's record (jsonb) */
type EventRow = { event: { reason?: string; details: Record<string, unknown> } & Record<string, unknown> };

const revokedRecords = (id: string) =>
  stores
    .db('audit_events')
    .where({ type: 'token.revoked' })
    .whereRaw(`event->'details'->>'id' = ?`, [id])
    .select<EventRow[]>('event');

describe('revoke user', () => {
  it('every token of every grant and hop, the refresh token and the consents go; another user keeps hers', async () => {
    const alice = await seedAccount(t.server.accounts);
    const first = await chainOf(alice);
    const second = await chainOf(alice);
    await t.server.accounts.saveConsent(alice, 'partner-app', LOGS, ['logs.read']);
    const other = await chainOf(await bob());
    await t.server.accounts.saveConsent(other.account, 'partner-app', LOGS, ['logs.read']);

    const r = await runOperation(stores, 'revoke.user', { account: 'alice@example.com' });
    expect(r).toMatchObject({ target: 'user', id: alice, tokens: 6, grants: 2, refresh_tokens: 2, consents: 1 });

    await expectRevoked([first.logs, first.cost, first.tickets, second.logs, second.cost, second.tickets]);
    for (const token of [first.logs, first.cost, first.tickets]) await servedBitBecomes(token, 1);
    await servedBitBecomes(other.tickets, 0);
    const refused = await refresh(first).expect(400);
    expect(refused.body.error).toBe('invalid_grant');
    expect(await stores.db('consents').where({ account_id: alice }).count<{ n: string }[]>('* as n')).toEqual([
      { n: '0' },
    ]);
    await expectUntouched([other.logs, other.cost, other.tickets]);
    expect((await refresh(other).expect(200)).body.access_token).toEqual(expect.any(String));
    expect(await stores.db('consents').where({ account_id: other.account }).count<{ n: string }[]>('* as n')).toEqual([
      { n: '1' },
    ]);
    const records = await revokedRecords(alice);
    expect(records.map((x) => x.event)).toEqual([
      expect.objectContaining({
        type: 'token.revoked',
        outcome: 'success',
        account: alice,
        reason: 'revoked',
        details: {
          operation: 'revoke.user',
          target: 'user',
          id: alice,
          tokens: 6,
          grants: 2,
          refresh_tokens: 2,
          consents: 1,
          sessions: 0,
          via: 'store',
        },
      }),
    ]);
  });
});

describe('revoke client', () => {
  it('cuts every token whose chain passes through the client; a parallel chain not through it survives', async () => {
    const account = await bob();
    const through = await chainOf(account);
    // the parallel chain: logs → cost, never exchanged by cost-svc
    const seed = await seedCode(t.server.provider(), account);
    const logs = (await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body
      .access_token as string;
    const cost = await exchange('logs-mcp', { subject_token: logs, resource: COST, scope: 'cost.read' });

    const before = await statusBit(through.tickets);
    expect(before).toBe(0);
    const r = await runOperation(stores, 'revoke.client', { client: 'cost-svc' });
    // every live token cost-svc was issued by exchange: this ticket and the three of the test above
    expect(r).toMatchObject({ target: 'client', id: 'cost-svc', tokens: 4, grants: 0, refresh_tokens: 0 });
    await expectRevoked([through.tickets]);
    await expectUntouched([through.logs, through.cost, logs, cost]);
  });
});

describe('revoke grant and revoke token', () => {
  it('a grant: its tokens, their descendants and its refresh token; the same user’s other grant stays', async () => {
    const account = await bob();
    const one = await chainOf(account);
    const two = await chainOf(account);
    const r = await runOperation(stores, 'revoke.grant', { grant: one.grantId });
    expect(r).toMatchObject({ target: 'grant', tokens: 3, grants: 1, refresh_tokens: 1, consents: 0 });
    await expectRevoked([one.logs, one.cost, one.tickets]);
    expect((await refresh(one).expect(400)).body.error).toBe('invalid_grant');
    await expectUntouched([two.logs, two.cost, two.tickets]);
  });

  it('a token: it and every token exchanged from it; its parent and its grant stay', async () => {
    const c = await chainOf(await bob());
    const r = await runOperation(stores, 'revoke.token', { jti: jti(c.cost) });
    expect(r).toMatchObject({ target: 'token', id: jti(c.cost), tokens: 2, grants: 0, refresh_tokens: 0 });
    await expectRevoked([c.cost, c.tickets]);
    await expectUntouched([c.logs]);
    await refresh(c).expect(200);
    const records = await revokedRecords(jti(c.cost));
    expect(records.map((x) => x.event)).toEqual([
      expect.objectContaining({
        type: 'token.revoked',
        jti: jti(c.cost),
        details: expect.objectContaining({ tokens: 2 }),
      }),
    ]);
  });

  it('unknown targets: not_found, nothing changed', async () => {
    const c = await chainOf(await bob());
    const revoked = () => stores.db('status_list_entries').where('status', 1).count<{ n: string }[]>('* as n');
    const before = await revoked();
    for (const [name, args, message] of [
      ['revoke.user', { account: 'nobody@example.com' }, /^no account matches "nobody@example.com"/],
      ['revoke.client', { client: 'no-such-client' }, /^no client no-such-client: nothing was revoked$/],
      ['revoke.grant', { grant: 'no-such-grant' }, /^no grant no-such-grant: nothing was revoked$/],
      ['revoke.token', { jti: 'never-issued' }, /^baton issued no token with jti never-issued: nothing was revoked$/],
    ] as const) {
      const err = await runOperation(stores, name, args).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AdminError);
      expect((err as AdminError).code).toBe('not_found');
      expect((err as Error).message).toMatch(message);
    }
    expect(await revoked()).toEqual(before);
    await expectUntouched([c.logs, c.cost, c.tickets]);
  });
});

/** how many of this database's sessions wait for a lock (an issuance waiting for a revocation to commit) */
const lockWaits = () =>
  stores.db
    .raw<{ rows: { n: number }[] }>(
      `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
    )
    .then((r) => r.rows[0]!.n);

describe('a token issued while what it comes from is being revoked', () => {
  it('is born revoked when the revocation committed before the exchange wrote it (its check still saw the parent active)', async () => {
    const c = await chainOf(await bob());
    // the revocation's PostgreSQL part has committed, its hot-store part (introspection's entry) not yet:
    // the exchange's check of its subject token still answers active
    await stores
      .db('status_list_entries')
      .where({ jti: jti(c.logs) })
      .update({ status: 1 });
    const late = await exchange('logs-mcp', { subject_token: c.logs, resource: COST, scope: 'cost.read' });
    expect(await statusBit(late)).toBe(1);
    expect(await active(late)).toBe(false); // introspection reads an exchanged token's entry too
    expect(await statusBit(c.cost)).toBe(0); // the exchange before it is the revocation's to reach
  });

  it('waits for a revocation holding its parent, then is born revoked (the revocation walked without it)', async () => {
    const c = await chainOf(await bob());
    let late: Promise<string> | undefined;
    const reached = await stores.db.transaction(async (trx) => {
      const found = await revokeDown(trx, [{ jti: jti(c.cost), exp: Number(decodeJwt(c.cost).exp) }]);
      // an exchange from the cost token starts now: its write waits for this transaction's lock on the entry
      late = exchange('cost-svc', { subject_token: c.cost, audience: TICKETS });
      await expect.poll(lockWaits, { interval: 20, timeout: 10_000 }).toBe(1);
      return found;
    });
    expect(reached.map((r) => r.jti).sort()).toEqual([jti(c.cost), jti(c.tickets)].sort());
    const born = await late!;
    expect(await statusBit(born)).toBe(1);
    expect(await active(born)).toBe(false);
    expect(await statusBit(c.logs)).toBe(0);
  });

  it('a refresh whose grant a revocation deletes meanwhile: the new token is born revoked', async () => {
    const c = await chainOf(await bob());
    let refreshed: Promise<request.Response> | undefined;
    await stores.db.transaction(async (trx) => {
      // as a revocation does (reach.ts grantsBy): the grant locked and deleted, not yet committed
      await trx('oidc_payloads').where({ model: 'Grant', id: c.grantId }).forUpdate().delete();
      refreshed = refresh(c).then((r) => r);
      await expect.poll(lockWaits, { interval: 20, timeout: 10_000 }).toBe(1);
    });
    const res = await refreshed!;
    expect(res.status).toBe(200);
    const late = res.body.access_token as string;
    expect(await statusBit(late)).toBe(1);
    await becomesInactive(late); // its grant is gone (introspection caches that a moment: STATE_CACHE_MS)
  });
});

describe('a client blocked by the configuration', () => {
  it('at a policy reload its tokens, and every token whose chain passes through it, get their status bit', async () => {
    const account = await bob();
    const through = await chainOf(account);
    await expectUntouched([through.logs, through.cost, through.tickets]);
    const blocked = { ...t.config, clients: { ...t.config.clients, blocked: ['cost-svc'] } };
    try {
      await t.server.reloadPolicy(blocked);
      // introspection refused it already; now the status list says so too, for resource servers
      expect(await statusBit(through.tickets)).toBe(1);
      expect(await statusBit(through.logs)).toBe(0);
      expect(
        t.logs.lines().some((l) => l.includes('"msg":"client.blocked_revoked"') && l.includes('"via":"policy_reload"')),
      ).toBe(true);
      const [record] = await searchEvents(t.server.storage.db, {
        type: 'token.revoked',
        client: 'cost-svc',
        limit: 1000,
      }).then((rows) => rows.filter((r) => r.event.reason === 'client_blocked'));
      expect(record?.event).toMatchObject({
        type: 'token.revoked',
        client: 'cost-svc',
        reason: 'client_blocked',
        details: { target: 'client', id: 'cost-svc', via: 'policy_reload' },
      });
    } finally {
      await t.server.reloadPolicy(t.config);
    }
    // unblocking does not bring the tokens back
    expect(await statusBit(through.tickets)).toBe(1);
  });
});

describe('the hot store failing after the commit', () => {
  /** the store's adapters, with RevokedToken's upsert failing `times` times */
  const failing = (times: number): AdminStores => {
    let left = times;
    return {
      ...stores,
      adapterFor: (m) => {
        const a = t.server.storage.adapterFor(m);
        if (m !== 'RevokedToken') return a;
        return new Proxy(a, {
          get: (target, p) =>
            p === 'upsert'
              ? (...args: Parameters<typeof a.upsert>) =>
                  left-- > 0 ? Promise.reject(new Error('redis down')) : target.upsert(...args)
              : (target as unknown as Record<string | symbol, unknown>)[p],
        });
      },
    };
  };

  it('is retried once: a single failure still revokes', async () => {
    const c = await chainOf(await bob());
    await runOperation(failing(1), 'revoke.token', { jti: jti(c.tickets) });
    await expectRevoked([c.tickets]);
  });

  it('a second failure is reported, not answered as done; running it again completes it', async () => {
    const c = await chainOf(await bob());
    const err = await runOperation(failing(1000), 'revoke.token', { jti: jti(c.tickets) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RevocationIncomplete);
    expect((err as Error).message).toMatch(/hot store failed \(redis down\).*run it again$/);
    expect(await statusBit(c.tickets)).toBe(1); // the PostgreSQL part committed
    const failed = await stores
      .db('audit_events')
      .where({ type: 'admin.operation', outcome: 'failure' })
      .whereRaw(`event->'details'->>'operation' = 'revoke.token'`)
      .select<EventRow[]>('event');
    expect(failed.map((x) => x.event.reason)).toEqual(['RevocationIncomplete']);
    await runOperation(stores, 'revoke.token', { jti: jti(c.tickets) });
    await expectRevoked([c.tickets]);
  });
});

describe('POST /admin/api/revocations', () => {
  const tokenOf = async (client: string, secret: string, scope: string) =>
    (await clientCredentialsRequest(t.url, client, secret, ADMIN, scope).expect(200)).body.access_token as string;
  const post = (token: string, body: unknown) =>
    request(t.url)
      .post('/admin/api/revocations')
      .set('Authorization', `Bearer ${token}`)
      .send(body as object);

  it('admin.write: 200 with the counts, recorded with the caller', async () => {
    const c = await chainOf(await bob());
    const token = await tokenOf('ops-admin', OPS_SECRET, 'admin.write');
    const res = await post(token, { token: jti(c.logs) }).expect(200);
    expect(res.body).toEqual({
      target: 'token',
      id: jti(c.logs),
      tokens: 3,
      grants: 0,
      refresh_tokens: 0,
      consents: 0,
      sessions: 0,
    });
    await expectRevoked([c.logs, c.cost, c.tickets]);
    const ops = await stores
      .db('audit_events')
      .where({ type: 'admin.operation' })
      .whereRaw(`event->'details'->>'operation' = 'revoke.token'`)
      .where({ client_id: 'ops-admin' })
      .select<EventRow[]>('event');
    expect(ops.map((x) => x.event)).toEqual([
      expect.objectContaining({
        outcome: 'success',
        client: 'ops-admin',
        details: { operation: 'revoke.token', via: 'admin_api' },
      }),
    ]);
    expect((await revokedRecords(jti(c.logs))).map((x) => x.event.details.via)).toEqual(['admin_api']);
  });

  it('admin.read only: 403 insufficient_scope; a body naming two targets or none: 400; unknown: 404', async () => {
    const c = await chainOf(await bob());
    const reader = await tokenOf('ops-reader', READER_SECRET, 'admin.read');
    const forbidden = await post(reader, { token: jti(c.logs) }).expect(403);
    expect(forbidden.body.error).toBe('insufficient_scope');
    expect(forbidden.headers['www-authenticate']).toMatch(/error="insufficient_scope"/);
    const writer = await tokenOf('ops-admin', OPS_SECRET, 'admin.write');
    for (const body of [
      { token: jti(c.logs), grant: c.grantId },
      {},
      { account: 'x' },
      { token: 7 },
      ['token'],
      { token: 'a\u0000b' },
      { user: '\ud800' },
      { grant: 'g'.repeat(1025) },
    ]) {
      const res = await post(writer, body).expect(400);
      expect(res.body.error).toBe('invalid_request');
    }
    const missing = await post(writer, { grant: 'no-such-grant' }).expect(404);
    expect(missing.body).toMatchObject({ error: 'not_found' });
    await expectUntouched([c.logs, c.cost, c.tickets]);
  });
});

describe('the command line through the admin socket (embedded store)', () => {
  it('baton revoke user prints what it revoked, its session included; an unknown account exits 1 with not_found', async () => {
    const e = await startTestServer({ config: scenario });
    try {
      const account = await seedAccount(e.server.accounts);
      const seed = await seedCode(e.server.provider(), account);
      const code = await request(e.url).post('/token').type('form').send(codeForm(seed)).expect(200);
      // a browser session at baton (the embedded store keeps sessions in PostgreSQL: found by account)
      const sessions = e.server.storage.adapterFor('Session');
      await sessions.upsert('revocation-session', { kind: 'Session', accountId: account, uid: 'u1' }, 3600);
      const file = writeConfig(e.config);
      const res = await runCli(['revoke', 'user', '--config', file, 'local:alice']);
      expect(res.stderr).toBe('');
      expect(res).toMatchObject({ code: 0 });
      expect(res.stdout).toBe(
        `revoked user ${account} (local:alice): 1 access token, 1 grant, 1 refresh token, 0 consents, 1 session\n`,
      );
      expect(await sessions.find('revocation-session')).toBeUndefined();
      const row = await e.server.storage
        .db('status_list_entries')
        .where('jti', jti(code.body.access_token as string))
        .first<{ status: number }>('status');
      expect(Number(row.status)).toBe(1);
      const unknown = await runCli(['revoke', 'user', '--config', file, 'nobody']);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/^baton: no account matches "nobody"/);
      expect((await runCli(['revoke', 'grant', '--config', file])).code).toBe(64);
    } finally {
      await e.close();
    }
  }, 60_000);
});
