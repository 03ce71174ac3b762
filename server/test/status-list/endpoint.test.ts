/**
 * The Token Status List on a running server (draft-ietf-oauth-status-list-20): every JWT access token
 * carries `status.status_list` {idx, uri} (§6.2) naming a list that `GET /statuslists/:id` serves as a
 * signed `statuslist+jwt` (§5.1, §8.2), verified here with baton's JWKS and decoded with our format module;
 * its bit is 0 until the token is revoked: RFC 7009 revocation (the token and its exchanged descendants), a
 * reused code (its grant), `accounts disable` (every token of the account). The exact headers, 404, 501.
 * With `audit.enabled: false` the entries are still written.
 */
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import { runOperation } from '../../src/admin/operations.ts';
import { decodeStatusList } from '../../src/status-list/format.ts';
import {
  clientCredentialsRequest,
  exchangeToken,
  RESOURCES,
  SERVICE_SECRET,
  startTestServer,
  type TestServer,
} from '../helpers.ts';
import { codeForm, seedAccount, seedCode } from '../seed.ts';
import { localIssuer } from '../../src/idp/registry.ts';

const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const COST = 'https://cost.internal.example.com';
const TICKETS = 'https://tickets.internal.example.com';
const SECRET = 'status-list-test-secret-0123456789abcd';

const config = (scenario: Config, extra: Record<string, unknown> = {}) => {
  const client = (client_id: string, kind: string) => ({
    client_id,
    kind,
    auth: 'client_secret_basic',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
  });
  return {
    resources: [
      { ...RESOURCES[0]!, client_id: 'logs-mcp' },
      { ...RESOURCES[1]!, client_id: 'cost-svc' },
      { uri: TICKETS, name: 'Ticketing', scopes: ['tickets.create'] },
    ],
    clients: {
      static: [...scenario.clients.static, client('logs-mcp', 'mcp_server'), client('cost-svc', 'service')],
    },
    delegation: [
      { actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'], max_chain: 3 },
      { actor: 'cost-svc', targets: [TICKETS], scopes: ['tickets.create'], max_chain: 3 },
    ],
    ...extra,
  };
};

type Status = { status_list: { idx: number; uri: string } };

describe.each(['embedded', 'postgres+redis'] as const)('the Token Status List (%s)', (backend) => {
  let t: TestServer;
  let alice: string;
  beforeAll(async () => {
    t = await startTestServer({ backend, config: (s) => config(s) });
    alice = await seedAccount(t.server.accounts);
  });
  afterAll(async () => t?.close());

  const userToken = async () => {
    const seed = await seedCode(t.server.provider(), alice);
    return (await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body as {
      access_token: string;
      refresh_token?: string;
    };
  };
  const exchange = (actor: string, subject: string, resource: string) =>
    exchangeToken(t.url, actor, SECRET, { subject_token: subject, resource });
  const statusOf = (token: string) => (decodeJwt(token) as { status?: Status }).status!.status_list;

  /** the served list of a token, verified (§8.3 items 3, 4) and decoded (§8.3 items 5, 6): its status */
  async function servedStatus(token: string): Promise<number> {
    const { idx, uri } = statusOf(token);
    expect(uri.startsWith(`${t.config.issuer}/statuslists/`)).toBe(true);
    const res = await request(t.url).get(new URL(uri).pathname).set('Accept', 'application/statuslist+jwt');
    expect(res.status, res.text).toBe(200);
    const jwks = createLocalJWKSet((await request(t.url).get('/jwks')).body as JSONWebKeySet);
    const { payload, protectedHeader } = await jwtVerify(res.text, jwks, { typ: 'statuslist+jwt', subject: uri });
    expect(protectedHeader.typ).toBe('statuslist+jwt');
    expect(payload.ttl).toBe(5);
    expect(payload.exp! - payload.iat!).toBe(300);
    return decodeStatusList(payload.status_list).get(idx);
  }

  /** a flipped bit is served from the next read of the list: within the 1 s answer cache (polled) */
  const eventually = (token: string, status: number) =>
    expect.poll(() => servedStatus(token), { interval: 100, timeout: 10_000 }).toBe(status);

  it('every JWT access token names its slot: authorization_code, refresh_token, client_credentials, exchange', async () => {
    const user = await userToken();
    const cc = (await clientCredentialsRequest(t.url, 'cost-reporter', SERVICE_SECRET, COST, 'cost.read').expect(200))
      .body.access_token as string;
    const hop = await exchange('logs-mcp', user.access_token, COST);
    const refreshed = await request(t.url)
      .post('/token')
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: user.refresh_token!, client_id: 'ide-agent' })
      .expect(200);
    const tokens = [user.access_token, cc, hop, refreshed.body.access_token as string];
    const slots = tokens.map(statusOf);
    for (const s of slots)
      expect(s).toEqual({ idx: expect.any(Number), uri: expect.stringMatching(/\/statuslists\/\d+$/) });
    expect(new Set(slots.map((s) => `${s.uri}#${s.idx}`)).size).toBe(tokens.length);
    for (const token of tokens) expect(await servedStatus(token)).toBe(0);
    // each entry is durable with the token: its jti, its account, client and grant
    const rows = await t.server.storage
      .db('status_list_entries')
      .whereIn(
        'jti',
        tokens.map((x) => String(decodeJwt(x).jti)),
      )
      .select('jti', 'account_id', 'client_id', 'status');
    expect(rows).toHaveLength(tokens.length);
    expect(rows.find((r: { jti: string }) => r.jti === decodeJwt(cc).jti)).toMatchObject({
      client_id: 'cost-reporter',
      account_id: null,
    });
  });

  it('the endpoint: exact headers, 404 for an unknown list, 501 for historical resolution', async () => {
    const { uri } = statusOf((await userToken()).access_token);
    const path = new URL(uri).pathname;
    const res = await request(t.url).get(path).expect(200);
    expect(res.headers['content-type']).toBe('application/statuslist+jwt');
    expect(res.headers['cache-control']).toBe('public, max-age=5');
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.headers.vary).toBe('Accept-Encoding');
    // §8.2: Content-Encoding gzip when accepted (supertest inflates it), the same token as without
    const gzipped = await request(t.url).get(path).set('Accept-Encoding', 'gzip').expect(200);
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    const plain = await request(t.url).get(path).set('Accept-Encoding', 'identity').expect(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(decodeJwt(gzipped.text).sub).toBe(uri);
    expect(decodeJwt(plain.text).sub).toBe(uri);
    for (const unknown of [
      '/statuslists/999999',
      '/statuslists/0',
      '/statuslists/abc',
      '/statuslists/99999999999',
      '/statuslists/%E0%A4%A',
      '/statuslists/1%00',
      '/statuslists/-1',
    ]) {
      await request(t.url)
        .get(unknown)
        .expect(404, { error: 'not_found', error_description: 'no such status list' })
        .expect('cache-control', 'no-store');
    }
    await request(t.url).get(`${path}?time=1686925000`).expect(501, {
      error: 'invalid_request',
      error_description: 'historical resolution (time) is not supported',
    });
  });

  it('the AS metadata names the Status List Aggregation (§9.1), which lists every served list (§9.3)', async () => {
    const { uri } = statusOf((await userToken()).access_token);
    const meta = await request(t.url).get('/.well-known/oauth-authorization-server').expect(200);
    expect(meta.body.status_list_aggregation_endpoint).toBe(`${t.config.issuer}/statuslists`);
    const res = await request(t.url).get('/statuslists').expect(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.body.status_lists).toContain(uri);
    for (const u of res.body.status_lists as string[]) expect(u).toMatch(/\/statuslists\/\d+$/);
  });

  it('RFC 7009 revocation sets the bit of the token and of its exchanged descendant, not of its parent', async () => {
    const root = (await userToken()).access_token;
    const hop1 = await exchange('logs-mcp', root, COST);
    const hop2 = await exchange('cost-svc', hop1, TICKETS);
    expect([await servedStatus(root), await servedStatus(hop1), await servedStatus(hop2)]).toEqual([0, 0, 0]);
    await request(t.url)
      .post('/token/revocation')
      .auth('cost-svc', SECRET)
      .type('form')
      .send({ token: hop1 })
      .expect(200);
    await eventually(hop1, 1);
    expect([await servedStatus(root), await servedStatus(hop1), await servedStatus(hop2)]).toEqual([0, 1, 1]);
  });

  it('a reused authorization code revokes its grant: every token of the grant, exchanged ones too', async () => {
    const seed = await seedCode(t.server.provider(), alice);
    const first = (await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body
      .access_token as string;
    const hop = await exchange('logs-mcp', first, COST);
    await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(400);
    await eventually(first, 1);
    expect(await servedStatus(hop)).toBe(1);
  });

  it('accounts disable sets the bit of every token of the account, and of no one else', async () => {
    const bob = (
      await t.server.accounts.recordLogin({
        idpId: 'local',
        idpIssuer: localIssuer('local'),
        idpSubject: 'bob-status',
        profile: { email: 'bob-status@example.com' },
        groups: ['developers'],
        roles: ['developer'],
      })
    ).id;
    const bobs = [
      (
        await request(t.url)
          .post('/token')
          .type('form')
          .send(codeForm(await seedCode(t.server.provider(), bob)))
      ).body.access_token as string,
    ];
    bobs.push(await exchange('logs-mcp', bobs[0]!, COST));
    const other = (await userToken()).access_token;
    const cc = (await clientCredentialsRequest(t.url, 'cost-reporter', SERVICE_SECRET, COST, 'cost.read').expect(200))
      .body.access_token as string;
    await runOperation(
      { config: t.config, db: t.server.storage.db, accounts: t.server.accounts, keys: t.server.keystore },
      'accounts.disable',
      { account: bob },
    );
    await eventually(bobs[0]!, 1);
    expect(await servedStatus(bobs[1]!)).toBe(1);
    expect([await servedStatus(other), await servedStatus(cc)]).toEqual([0, 0]);
  });
});

describe('audit.enabled: false (embedded)', () => {
  it('still writes every token status entry, before the token leaves', async () => {
    const t = await startTestServer({ config: (s) => config(s, { audit: { enabled: false } }) });
    try {
      const cc = (await clientCredentialsRequest(t.url, 'cost-reporter', SERVICE_SECRET, COST, 'cost.read').expect(200))
        .body.access_token as string;
      const seed = await seedCode(t.server.provider(), await seedAccount(t.server.accounts));
      const user = (await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body
        .access_token as string;
      const hop = (
        await request(t.url)
          .post('/token')
          .auth('logs-mcp', SECRET)
          .type('form')
          .send({ grant_type: TE, subject_token_type: AT, subject_token: user, resource: COST })
          .expect(200)
      ).body.access_token as string;
      const db = t.server.storage.db;
      for (const token of [cc, user, hop]) {
        const { jti, status } = decodeJwt(token) as { jti: string; status: Status };
        const row = await db('status_list_entries').where('jti', jti).first('list_id', 'idx', 'status');
        expect(row).toEqual({
          list_id: Number(status.status_list.uri.split('/').pop()),
          idx: status.status_list.idx,
          status: 0,
        });
      }
      expect(
        await db('audit_events').whereIn(
          'jti',
          [cc, user, hop].map((x) => String(decodeJwt(x).jti)),
        ),
      ).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

describe('a store failure while allocating a slot (embedded)', () => {
  it('is 503 server_error at the token endpoint, never a 500 and never a token without its slot', async () => {
    const t = await startTestServer({ config: (s) => config(s) });
    try {
      const db = t.server.storage.db;
      // this process holds no block yet: the first token must reserve one, and the table is gone
      await db.raw('alter table status_list_blocks rename to status_list_blocks_away');
      try {
        const res = await clientCredentialsRequest(t.url, 'cost-reporter', SERVICE_SECRET, COST, 'cost.read');
        expect(res.status).toBe(503);
        expect(res.body.error).toBe('server_error');
        expect(JSON.stringify(res.body)).not.toContain('status_list_blocks');
      } finally {
        await db.raw('alter table status_list_blocks_away rename to status_list_blocks');
      }
      await clientCredentialsRequest(t.url, 'cost-reporter', SERVICE_SECRET, COST, 'cost.read').expect(200);
    } finally {
      await t.close();
    }
  });
});
