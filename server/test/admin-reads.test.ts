/**
 * The admin API's console routes (issue #15, items 1 and 4) on a running server over PostgreSQL, each
 * running the operation its `baton` command runs: the reads (admin.read) `GET /admin/api/accounts`,
 * `/accounts/{account}` (one account, its live grants and access tokens, paged), `/clients`,
 * `/clients/{client}`, `/policy` (and its SHA-256 against the policy.reloaded record), `/health`, `/keys`;
 * the account changes (admin.write) `POST /admin/api/accounts/{account}/disable|enable|consents/revoke`.
 * Their scope rule, their refusals (no token, another audience, an unknown account or client, hostile query
 * parameters and bodies: a precise 400, never a 5xx) and the commands' output.
 */
import { decodeJwt } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localIssuer } from '../src/idp/registry.ts';
import { printResult, resultStatus, runOperation } from '../src/admin/operations.ts';
import { policySha256 } from '../src/policy/audit.ts';
import {
  adminStoresOf,
  clientCredentialsRequest,
  registerConfidentialClient,
  startTestServer,
  type TestServer,
  staticService,
} from './helpers.ts';
import { runCli, writeConfig } from './processes.ts';
import { AGENT, codeForm, seedCode } from './seed.ts';

const ISSUER = 'http://127.0.0.1:9400';
const ADMIN = `${ISSUER}/admin/api`;
const SECRET = 'admin-reads-secret-0123456789abcdefghij';

let t: TestServer;
let file: string;
const ids: Record<string, string> = {};
/** alice's two grants and their access tokens' jtis */
const grants: string[] = [];
/** two RFC 7591 registrations, by id */
const registered: { client_id: string; client_secret: string }[] = [];
const jtis: string[] = [];

const client = (client_id: string, scopes: string[]) => staticService(client_id, SECRET, scopes);

beforeAll(async () => {
  t = await startTestServer({
    backend: 'postgres',
    config: (base) => ({
      clients: {
        static: [
          ...base.clients.static,
          client('reads-reader', ['admin.read']),
          client('reads-writer', ['admin.write']),
        ],
        blocked: ['partner-app'],
      },
    }),
  });
  const { accounts } = t.server;
  for (const subject of ['alice', 'bob']) {
    const a = await accounts.recordLogin({
      idpId: 'local',
      idpIssuer: localIssuer('local'),
      idpSubject: subject,
      profile: { preferred_username: subject, email: `${subject}@example.com` },
      groups: ['developers'],
      roles: ['developer'],
    });
    ids[subject] = a.id;
  }
  for (let i = 0; i < 2; i++) {
    const seed = await seedCode(t.server.provider(), ids.alice!);
    const token = (await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body
      .access_token as string;
    grants.push(seed.grantId);
    jtis.push(String(decodeJwt(token).jti));
  }
  grants.sort();
  jtis.sort();
  for (let i = 0; i < 2; i++) registered.push(await registerConfidentialClient(t.url));
  registered.sort((a, b) => (a.client_id < b.client_id ? -1 : 1));
  file = writeConfig({ ...t.config, logging: { level: 'warn' } });
}, 60_000);
afterAll(async () => {
  await t?.close();
});

const adminToken = async (c: string) =>
  (await clientCredentialsRequest(t.url, c, SECRET, ADMIN).expect(200)).body.access_token as string;
const get = async (path: string, token?: string) => {
  const req = request(t.url).get(path);
  return token === undefined ? req : req.set('Authorization', `Bearer ${token}`);
};
const row = async (id: string) =>
  (await t.server.storage.db('accounts').where({ id }).first()) as {
    created_at: Date;
    last_login_at: Date;
    disabled_at: Date | null;
  };
/** one member of each item of a list of an answer */
const pluck = (body: unknown, list: string, key: string) =>
  (body as Record<string, Record<string, unknown>[]>)[list]!.map((x) => x[key]);
const iso = (v: unknown) => new Date(v as string).toISOString();
const grantExpiry = async (id: string) =>
  iso((await t.server.storage.db('oidc_payloads').where({ model: 'Grant', id }).first()).expires_at);
const tokenExpiry = async (jti: string) =>
  iso((await t.server.storage.db('status_list_entries').where({ jti }).first()).expires_at);

async function aliceAccount() {
  const r = await row(ids.alice!);
  return {
    id: ids.alice,
    idp: 'local',
    subject: 'alice',
    groups: ['developers'],
    roles: ['developer'],
    created_at: iso(r.created_at),
    last_sign_in: iso(r.last_login_at),
    disabled: false,
  };
}

describe('GET /admin/api/accounts/{account} (baton accounts show)', () => {
  it('answers the account, its live grants and access tokens (ids only), paged by limit and cursors', async () => {
    const reader = await adminToken('reads-reader');
    const res = await get('/admin/api/accounts/alice', reader);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const grantRows = await Promise.all(
      grants.map(async (id) => ({ id, client: AGENT, expires_at: await grantExpiry(id) })),
    );
    const tokenRows = await Promise.all(
      jtis.map(async (jti) => ({
        jti,
        client: AGENT,
        grant: expect.any(String) as unknown,
        expires_at: await tokenExpiry(jti),
        status: 'valid',
      })),
    );
    expect(res.body).toEqual({
      account: await aliceAccount(),
      grants: grantRows,
      next_grants_after: null,
      tokens: tokenRows,
      next_tokens_after: null,
    });
    expect(pluck(res.body, 'tokens', 'grant').sort()).toEqual(grants);

    const first = await get('/admin/api/accounts/local:alice?limit=1', reader);
    expect(first.body.grants).toEqual([grantRows[0]]);
    expect(first.body.next_grants_after).toBe(grants[0]);
    expect(first.body.next_tokens_after).toBe(jtis[0]);
    const second = await get(
      `/admin/api/accounts/${ids.alice}?limit=1&grants_after=${grants[0]}&tokens_after=${jtis[0]}`,
      reader,
    );
    expect(second.body.grants).toEqual([grantRows[1]]);
    expect(pluck(second.body, 'tokens', 'jti')).toEqual([jtis[1]]);
    expect([second.body.next_grants_after, second.body.next_tokens_after]).toEqual([null, null]);
    expect(JSON.stringify(res.body)).not.toMatch(/eyJ|secret|password/);
  });

  it('an account without grants: empty lists; a revoked token shows as revoked', async () => {
    const reader = await adminToken('reads-reader');
    const bob = await get('/admin/api/accounts/bob', reader);
    expect(bob.body.grants).toEqual([]);
    expect(bob.body.tokens).toEqual([]);
    await t.server.storage.db('status_list_entries').where({ jti: jtis[0] }).update({ status: 1 });
    const alice = await get('/admin/api/accounts/alice', reader);
    expect(pluck(alice.body, 'tokens', 'status')).toEqual(['revoked', 'valid']);
    await t.server.storage.db('status_list_entries').where({ jti: jtis[0] }).update({ status: 0 });
  });

  it('hostile input: unknown account 404, bad limit, cursor or parameter 400 — never a 5xx', async () => {
    const reader = await adminToken('reads-reader');
    const unknown = await get('/admin/api/accounts/nobody', reader);
    expect([unknown.status, unknown.body.error]).toEqual([404, 'not_found']);
    expect(unknown.body.error_description).toMatch(/^no account matches "nobody"/);
    // a URL-encoded name resolves; a broken encoding, a huge name, a SQL fragment are refused, never a 5xx
    expect((await get('/admin/api/accounts/local%3Aalice', reader)).body.account?.id).toBe(ids.alice);
    for (const [path, status] of [
      ['/admin/api/accounts/%E0%A4%A', 404],
      [`/admin/api/accounts/${'a'.repeat(2000)}`, 400],
      [`/admin/api/accounts/${encodeURIComponent("' or '1'='1")}`, 404],
      [`/admin/api/clients/${encodeURIComponent("' or '1'='1")}`, 404],
    ] as const) {
      const res = await get(path, reader);
      expect(res.status, path).toBe(status);
    }
    for (const [query, description] of [
      ['limit=0', /limit is 1–100/],
      ['limit=101', /limit is 1–100/],
      ['limit=-1', /limit takes a number/],
      ['limit=99999999999999999999', /limit takes a number/],
      ['limit=abc', /limit takes a number/],
      ['grants_after=%27%3B%20drop', /cursor/],
      [`tokens_after=${'a'.repeat(300)}`, /cursor/],
      ['color=red', /unknown query parameter color/],
      ['limit=1&limit=2', /more than once/],
    ] as const) {
      const res = await get(`/admin/api/accounts/alice?${query}`, reader);
      expect([res.status, res.body.error], query).toEqual([400, 'invalid_request']);
      expect(res.body.error_description, query).toMatch(description);
    }
  });
});

describe('GET /admin/api/accounts and /admin/api/keys (baton accounts list, keys list)', () => {
  it('answer what the commands print', async () => {
    const reader = await adminToken('reads-reader');
    const accounts = await get('/admin/api/accounts', reader);
    expect(accounts.status).toBe(200);
    expect(accounts.body).toEqual({
      accounts: ['alice', 'bob'].map((s) => ({
        id: ids[s],
        idp: 'local',
        subject: s,
        roles: ['developer'],
        disabled: false,
      })),
      next_after: null,
    });
    const first = await get('/admin/api/accounts?limit=1', reader);
    expect([first.body.accounts.length, first.body.next_after]).toEqual([1, ids.alice]);
    const second = await get(`/admin/api/accounts?limit=1&after=${ids.alice}`, reader);
    expect(pluck(second.body, 'accounts', 'subject')).toEqual(['bob']);
    expect(second.body.next_after).toBeNull();
    for (const query of ['limit=0', 'limit=101', 'limit=-1', 'after=', 'sort=id']) {
      const res = await get(`/admin/api/accounts?${query}`, reader);
      expect([res.status, res.body.error], query).toEqual([400, 'invalid_request']);
    }
    const cli = await runCli(['accounts', 'list', '--config', file]);
    expect([cli.code, cli.stdout]).toEqual([0, printResult('accounts.list', accounts.body)]);
    const keys = await get('/admin/api/keys', reader);
    expect(keys.status).toBe(200);
    type KeyRow = { kid: string; alg: string; state: string; created_at: Date };
    const stored = await t.server.storage
      .db('signing_keys')
      .orderBy('kid')
      .select<KeyRow[]>('kid', 'alg', 'state', 'created_at');
    expect(stored.length).toBeGreaterThan(0);
    const byKid = (a: unknown[]) => [...(a as { kid: string }[])].sort((x, y) => (x.kid < y.kid ? -1 : 1));
    expect(byKid(keys.body.keys as unknown[])).toEqual(stored.map((k) => ({ ...k, created_at: iso(k.created_at) })));
    expect(JSON.stringify(keys.body)).not.toMatch(/"d"|private|jwe/i);
  });
});

const clientExpiry = async (id: string) =>
  iso((await t.server.storage.db('oidc_payloads').where({ model: 'Client', id }).first()).expires_at);
const dcr = async (id: string) => ({
  client_id: id,
  name: null,
  registration: 'dcr',
  kind: null,
  auth: 'client_secret_basic',
  redirect_hosts: ['agent.example.com'],
  // as oidc-provider stored the registration
  grant_types: ['authorization_code', 'refresh_token'],
  blocked: false,
  blocked_by: null,
  expires_at: await clientExpiry(id),
  live_grants: 0,
  live_tokens: 0,
});
const IDE_AGENT = {
  client_id: AGENT,
  name: null,
  registration: 'static',
  kind: 'agent',
  auth: 'none',
  redirect_hosts: ['127.0.0.1'],
  grant_types: ['authorization_code', 'refresh_token'],
  blocked: false,
  blocked_by: null,
  expires_at: null,
};

describe('GET /admin/api/clients and /admin/api/clients/{client} (baton clients list|show)', () => {
  it('lists the static clients, then the registered ones, with live counts, never a secret', async () => {
    const reader = await adminToken('reads-reader');
    const res = await get('/admin/api/clients', reader);
    expect(res.status).toBe(200);
    const ids = (res.body.static as { client_id: string }[]).map((c) => c.client_id);
    // the configured ones, then the built-in clients: the admin console's and the connect pages'
    expect(ids).toEqual([...t.config.clients.static.map((c) => c.client_id), 'baton-admin-console', 'baton-connect']);
    expect((res.body.static as unknown[]).at(-1)).toMatchObject({ client_id: 'baton-connect', auth: 'none' });
    expect((res.body.static as unknown[]).at(-2)).toMatchObject({
      client_id: 'baton-admin-console',
      registration: 'static',
      kind: 'app',
      auth: 'none',
      grant_types: ['authorization_code'],
      redirect_hosts: [new URL(t.config.issuer).host],
    });
    const live = await t.server.storage.db('status_list_entries').where({ client_id: AGENT, status: 0 }).count();
    expect(res.body.static[ids.indexOf(AGENT)]).toEqual({
      ...IDE_AGENT,
      live_grants: grants.length,
      live_tokens: Number(live[0]!.count),
    });
    expect(res.body.static[ids.indexOf('partner-app')]).toMatchObject({ blocked: true, name: 'Partner dashboard' });
    expect(res.body.registered).toEqual(await Promise.all(registered.map((r) => dcr(r.client_id))));
    expect(res.body.next_after).toBeNull();
    const text = JSON.stringify(res.body);
    for (const secret of [
      SECRET,
      ...registered.map((r) => r.client_secret),
      ...t.config.clients.static.map((c) => c.client_secret ?? 'none-'),
    ])
      expect(text).not.toContain(secret);

    const first = await get('/admin/api/clients?limit=1', reader);
    expect(first.body.registered).toEqual([await dcr(registered[0]!.client_id)]);
    expect(first.body.next_after).toBe(registered[0]!.client_id);
    const second = await get(`/admin/api/clients?limit=1&after=${registered[0]!.client_id}`, reader);
    expect(second.body).toEqual({ static: [], registered: [await dcr(registered[1]!.client_id)], next_after: null });
  });

  it('shows one client, static or registered; an unknown one is 404', async () => {
    const reader = await adminToken('reads-reader');
    const agent = await get(`/admin/api/clients/${AGENT}`, reader);
    expect(agent.status).toBe(200);
    expect(agent.body).toMatchObject(IDE_AGENT);
    const reg = await get(`/admin/api/clients/${registered[1]!.client_id}`, reader);
    expect(reg.body).toEqual(await dcr(registered[1]!.client_id));
    const unknown = await get('/admin/api/clients/nobody', reader);
    expect([unknown.status, unknown.body.error]).toEqual([404, 'not_found']);
    expect(unknown.body.error_description).toBe('no client nobody (see baton clients list)');
    for (const query of ['limit=0', 'limit=101', 'limit=-5', 'after=', 'color=red']) {
      const res = await get(`/admin/api/clients?${query}`, reader);
      expect([res.status, res.body.error], query).toEqual([400, 'invalid_request']);
    }
    const param = await get(`/admin/api/clients/${AGENT}?x=1`, reader);
    expect([param.status, param.body.error]).toEqual([400, 'invalid_request']);
  });

  it('baton clients list|show print what the API answers', async () => {
    const reader = await adminToken('reads-reader');
    const list = await runCli(['clients', 'list', '--config', file]);
    expect([list.code, list.stderr]).toEqual([0, '']);
    expect(list.stdout).toBe(printResult('clients.list', (await get('/admin/api/clients', reader)).body));
    expect(list.stdout).toContain(
      `${registered[0]!.client_id}  dcr  [authorization_code refresh_token]  redirect hosts [agent.example.com]  0 grants, 0 tokens\n`,
    );
    expect(list.stdout).toMatch(/\npartner-app {2}static app {2}"Partner dashboard" {2}.*BLOCKED \(configuration\)\n/);
    const show = await runCli(['clients', 'show', '--config', file, AGENT]);
    expect(show.code).toBe(0);
    expect(show.stdout).toBe(printResult('clients.show', (await get(`/admin/api/clients/${AGENT}`, reader)).body));
    expect(show.stdout).toMatch(
      new RegExp(
        `^${AGENT}  static agent  \\[authorization_code refresh_token\\]  redirect hosts \\[127.0.0.1\\]  2 grants, \\d+ tokens\n$`,
      ),
    );
    const unknown = await runCli(['clients', 'show', '--config', file, 'nobody']);
    expect([unknown.code, unknown.stderr]).toEqual([1, 'baton: no client nobody (see baton clients list)\n']);
  });
});

describe('GET /admin/api/clients/{client}/tokens (baton clients tokens) and /admin/api/accounts?search=', () => {
  it("lists a client's live grants and tokens, each with its account; an unknown client is 404", async () => {
    const reader = await adminToken('reads-reader');
    const res = await get(`/admin/api/clients/${AGENT}/tokens`, reader);
    expect(res.status).toBe(200);
    const tokens = res.body.tokens as { jti: string; client: string; account: string | null; status: string }[];
    expect(tokens.filter((x) => x.account === ids.alice).map((x) => x.jti)).toEqual(jtis);
    expect(new Set(tokens.map((x) => x.client))).toEqual(new Set([AGENT]));
    const mine = (res.body.grants as { id: string; account: string }[]).filter((g) => g.account === ids.alice);
    expect(mine.map((g) => g.id)).toEqual(grants);
    // paged as an account's lists are
    const first = await get(`/admin/api/clients/${AGENT}/tokens?limit=1`, reader);
    expect([first.body.tokens.length, first.body.next_tokens_after]).toEqual([1, first.body.tokens[0].jti]);
    const unknown = await get('/admin/api/clients/no-such-client/tokens', reader);
    expect([unknown.status, unknown.body.error]).toEqual([404, 'not_found']);
  });

  it('searches accounts by a part of the subject or email, any case, the pattern characters as themselves', async () => {
    const reader = await adminToken('reads-reader');
    const found = await get('/admin/api/accounts?search=ALI', reader);
    expect(pluck(found.body, 'accounts', 'id')).toEqual([ids.alice]);
    const byEmail = await get(`/admin/api/accounts?search=${encodeURIComponent('bob@example')}`, reader);
    expect(pluck(byEmail.body, 'accounts', 'id')).toEqual([ids.bob]);
    for (const pattern of ['%', '_', '\\'])
      expect(
        pluck((await get(`/admin/api/accounts?search=${encodeURIComponent(pattern)}`, reader)).body, 'accounts', 'id'),
      ).toEqual([]);
  });
});

describe('the read routes refuse', () => {
  const paths = [
    '/admin/api/accounts',
    '/admin/api/accounts/alice',
    '/admin/api/clients',
    `/admin/api/clients/${AGENT}`,
    `/admin/api/clients/${AGENT}/tokens`,
    '/admin/api/overview',
    '/admin/api/policy',
    '/admin/api/health',
    '/admin/api/keys',
  ];

  it('no token: 401 with the challenge', async () => {
    for (const path of paths) {
      const res = await get(path);
      expect([res.status, res.body.error], path).toEqual([401, 'invalid_token']);
      expect(res.headers['www-authenticate']).toMatch(new RegExp(`^Bearer realm="${ADMIN}"`));
    }
  });

  it('an admin token without admin.read: 403 insufficient_scope', async () => {
    const writer = await adminToken('reads-writer');
    for (const path of paths) {
      const res = await get(path, writer);
      expect([res.status, res.body.error], path).toEqual([403, 'insufficient_scope']);
      expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope".*scope="admin.read"/);
    }
  });

  it("a token for another audience (alice's logs token): 401 invalid_token", async () => {
    const seed = await seedCode(t.server.provider(), ids.bob!);
    const token = (await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body
      .access_token as string;
    for (const path of paths) {
      const res = await get(path, token);
      expect([res.status, res.body.error], path).toEqual([401, 'invalid_token']);
    }
    // bob's grant and token are then listed
    const bob = await get('/admin/api/accounts/bob', await adminToken('reads-reader'));
    expect(pluck(bob.body, 'grants', 'id')).toEqual([seed.grantId]);
    expect(pluck(bob.body, 'tokens', 'jti')).toEqual([decodeJwt(token).jti]);
  });

  it('a write method: 405', async () => {
    const res = await request(t.url)
      .post('/admin/api/accounts/alice')
      .set('Authorization', `Bearer ${await adminToken('reads-reader')}`);
    expect([res.status, res.headers.allow]).toEqual([405, 'GET']);
  });
});

describe('baton accounts show ACCOUNT', () => {
  it('prints what the API answers', async () => {
    const reader = await adminToken('reads-reader');
    const out = await runCli(['accounts', 'show', '--config', file, '--limit', '1', 'alice']);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const api = (await get('/admin/api/accounts/alice?limit=1', reader)).body;
    expect(out.stdout).toBe(printResult('accounts.show', api));
    const a = await aliceAccount();
    expect(out.stdout).toBe(
      [
        `${ids.alice} (local:alice)`,
        '  groups [developers]  roles [developer]',
        `  created ${a.created_at}  last sign-in ${a.last_sign_in}`,
        `grants (1, more: --grants-after ${grants[0]})`,
        `  ${grants[0]}  client ${AGENT}  expires ${await grantExpiry(grants[0]!)}`,
        `access tokens (1, more: --tokens-after ${jtis[0]})`,
        `  ${jtis[0]}  client ${AGENT}  grant ${api.tokens[0].grant}  expires ${await tokenExpiry(jtis[0]!)}  valid`,
        '',
      ].join('\n'),
    );
    const next = await runCli([
      'accounts',
      'show',
      '--config',
      file,
      '--limit',
      '1',
      '--grants-after',
      grants[0]!,
      'alice',
    ]);
    expect(next.stdout).toContain(`grants (1)\n  ${grants[1]}  client`);
    const unknown = await runCli(['accounts', 'show', '--config', file, 'nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no account matches "nobody"/);
    const bad = await runCli(['accounts', 'show', '--config', file, '--limit', '500', 'alice']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/limit is 1–100/);
  });
});

describe('the account changes (admin.write): POST /admin/api/accounts/{account}/disable|enable|consents/revoke', () => {
  const post = async (path: string, token: string, body?: object) => {
    const req = request(t.url).post(path).set('Authorization', `Bearer ${token}`);
    return body === undefined ? req : req.send(body);
  };
  const recorded = async (operation: string) =>
    t.server.storage
      .db('audit_events')
      .where({ type: 'admin.operation' })
      .whereRaw(`event->'details'->>'operation' = ?`, [operation])
      .orderBy('seq', 'desc')
      .first<{ outcome: string; client_id: string; event: { details: Record<string, unknown> } }>(
        'outcome',
        'client_id',
        'event',
      );

  it('disable and enable an account, recorded with the caller; admin.read is not enough', async () => {
    const writer = await adminToken('reads-writer');
    const reader = await adminToken('reads-reader');
    const refused = await post('/admin/api/accounts/bob/disable', reader);
    expect([refused.status, refused.body.error]).toEqual([403, 'insufficient_scope']);
    expect(refused.headers['www-authenticate']).toMatch(/error="insufficient_scope".*scope="admin.write"/);
    expect((await row(ids.bob!)).disabled_at ?? null).toBeNull();

    const off = await post('/admin/api/accounts/bob/disable', writer);
    expect([off.status, off.body]).toEqual([200, { account: `${ids.bob} (local:bob)`, id: ids.bob }]);
    expect((await get('/admin/api/accounts/bob', reader)).body.account.disabled).toBe(true);
    const record = await recorded('accounts.disable');
    expect([record?.outcome, record?.client_id, record?.event.details.via]).toEqual([
      'success',
      'reads-writer',
      'admin_api',
    ]);
    const on = await post(`/admin/api/accounts/${ids.bob}/enable`, writer);
    expect([on.status, on.body]).toEqual([200, { account: `${ids.bob} (local:bob)`, id: ids.bob }]);
    expect((await get('/admin/api/accounts/bob', reader)).body.account.disabled).toBe(false);

    const unknown = await post('/admin/api/accounts/nobody/disable', writer);
    expect([unknown.status, unknown.body.error]).toEqual([404, 'not_found']);
    expect((await recorded('accounts.disable'))?.outcome).toBe('refused');
    const none = await request(t.url).post('/admin/api/accounts/bob/disable');
    expect([none.status, none.body.error]).toEqual([401, 'invalid_token']);
  });

  it("revoke an account's consents, for one client or all; a bad body is 400", async () => {
    const writer = await adminToken('reads-writer');
    await t.server.accounts.saveConsent(ids.bob!, AGENT, 'https://logs.mcp.example.com/mcp', ['logs.read']);
    await t.server.accounts.saveConsent(ids.bob!, 'partner-app', 'https://logs.mcp.example.com/mcp', ['logs.read']);
    const one = await post('/admin/api/accounts/bob/consents/revoke', writer, { client: AGENT });
    expect([one.status, one.body]).toEqual([200, { revoked: 1 }]);
    const all = await post('/admin/api/accounts/bob/consents/revoke', writer, {});
    expect([all.status, all.body]).toEqual([200, { revoked: 1 }]);
    for (const body of [{ client: 5 }, { account: 'alice' }, []]) {
      const res = await post('/admin/api/accounts/bob/consents/revoke', writer, body);
      expect([res.status, res.body.error], JSON.stringify(body)).toEqual([400, 'invalid_request']);
    }
    const text = await request(t.url)
      .post('/admin/api/accounts/bob/consents/revoke')
      .set('Authorization', `Bearer ${writer}`)
      .type('text')
      .send('client');
    expect([text.status, text.body.error]).toEqual([400, 'invalid_request']);
  });
});

describe('GET /admin/api/health (baton health)', () => {
  it('answers what /readyz checks: PostgreSQL reachable, migrations current (no Redis configured here)', async () => {
    const res = await get('/admin/api/health', await adminToken('reads-reader'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', checks: { postgres: true, migrations: true } });
    expect((await request(t.url).get('/readyz')).body.checks).toEqual(res.body.checks);
    const cli = await runCli(['health', '--config', file]);
    expect([cli.code, cli.stderr, cli.stdout]).toEqual([0, '', 'ok\n  postgres    ok\n  migrations  current\n']);
    const param = await get('/admin/api/health?verbose=1', await adminToken('reads-reader'));
    expect([param.status, param.body.error]).toEqual([400, 'invalid_request']);
  });

  it('a failing store: unavailable, each check named, exit 1 (the store check stands in for an outage)', async () => {
    const stores = {
      ...adminStoresOf(t),
      check: () => Promise.resolve({ postgres: true, migrations: false, redis: false }),
    };
    const r = await runOperation(stores, 'health', {});
    expect(r).toEqual({ status: 'unavailable', checks: { postgres: true, migrations: false, redis: false } });
    expect(printResult('health', r)).toBe(
      'unavailable\n  postgres    ok\n  migrations  PENDING (baton migrate latest)\n  redis       FAILING\n',
    );
    expect(resultStatus('health', r)).toBe(1);
  });
});

// last: it reloads the policy of the running server
describe('GET /admin/api/policy (baton policy show)', () => {
  it('answers the policy in force without secrets, and its SHA-256 as policy.reloaded records it', async () => {
    const reader = await adminToken('reads-reader');
    const before = await get('/admin/api/policy', reader);
    expect(before.status).toBe(200);
    const c = t.config;
    expect(before.body).toEqual({
      sha256: policySha256(c),
      roles: c.roles,
      role_bindings: c.role_bindings,
      resources: JSON.parse(JSON.stringify(c.resources)) as unknown,
      clients: {
        static: c.clients.static.map(({ client_secret: _s, ...rest }) => JSON.parse(JSON.stringify(rest)) as unknown),
        first_party: [],
        blocked: ['partner-app'],
      },
      delegation: [],
      identity_chaining: [],
    });
    expect(before.body.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(before.body)).not.toContain('"client_secret"');
    for (const secret of [SECRET, ...c.clients.static.map((x) => x.client_secret ?? 'none-')])
      expect(JSON.stringify(before.body)).not.toContain(secret);

    const cli = await runCli(['policy', 'show', '--config', file]);
    expect([cli.code, cli.stderr]).toEqual([0, '']);
    expect(cli.stdout).toBe(printResult('policy.show', before.body));
    expect(cli.stdout.split('\n')[0]).toBe(`sha256 ${before.body.sha256}`);

    // a reload (SIGHUP): the answer follows it, and its hash is the one the trail recorded
    await t.server.reloadPolicy({ ...c, roles: { ...c.roles, auditor: ['logs.read'] } });
    const after = await get('/admin/api/policy', reader);
    expect(after.body.roles).toEqual({ ...c.roles, auditor: ['logs.read'] });
    expect(after.body.sha256).not.toBe(before.body.sha256);
    const recorded = await t.server.storage
      .db('audit_events')
      .where({ type: 'policy.reloaded' })
      .orderBy('seq', 'desc')
      .first<{ event: { details: { sha256: string } } }>('event');
    expect(recorded.event.details.sha256).toBe(after.body.sha256);
    const param = await get('/admin/api/policy?full=1', reader);
    expect([param.status, param.body.error]).toEqual([400, 'invalid_request']);
  });
});
