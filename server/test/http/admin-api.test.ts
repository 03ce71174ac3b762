/**
 * The admin API's audit routes (docs/admin-api.md) on a running server over PostgreSQL + Redis: baton's own
 * resource `${issuer}/admin/api` (client_credentials for a static client configured with `admin.read`), each
 * route answering as its `baton audit` command does, every refusal precise (RFC 6749 §5.2 body, RFC 6750 §3
 * challenge), hostile query parameters refused, and every call recorded as the caller's admin.operation.
 */
import { decodeJwt } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../../src/audit/store.ts';
import { clientCredentialsRequest, SERVICE_SECRET, startTestServer, type TestServer } from '../helpers.ts';
import { codeForm, seedAccount, seedCode } from '../seed.ts';

const ISSUER = 'http://127.0.0.1:9400';
const ADMIN = `${ISSUER}/admin/api`;
const SIEM_SECRET = 'siem-puller-secret-0123456789abcdefghijk';
const OPS_SECRET = 'ops-robot-secret-0123456789abcdefghijklmn';

let t: TestServer;
let user: { token: string; jti: string };

beforeAll(async () => {
  t = await startTestServer({
    backend: 'postgres+redis',
    config: (base) => ({
      clients: {
        static: [
          ...base.clients.static,
          {
            client_id: 'siem-puller',
            kind: 'service',
            client_secret: SIEM_SECRET,
            grant_types: ['client_credentials'],
            scopes: ['admin.read'],
          },
          // a service with scopes of other resources only: no admin scope
          {
            client_id: 'ops-robot',
            kind: 'service',
            client_secret: OPS_SECRET,
            grant_types: ['client_credentials'],
            scopes: ['logs.read'],
          },
        ],
      },
    }),
  });
  const account = await seedAccount(t.server.accounts);
  const seed = await seedCode(t.server.provider(), account);
  const res = await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200);
  user = { token: res.body.access_token as string, jti: String(decodeJwt(res.body.access_token as string).jti) };
}, 60_000);
afterAll(async () => t?.close());

const tokenFor = (client: string, secret: string, resource: string, scope?: string) =>
  clientCredentialsRequest(t.url, client, secret, resource, scope);

let admin: string;
beforeAll(async () => {
  admin = (await tokenFor('siem-puller', SIEM_SECRET, ADMIN).expect(200)).body.access_token as string;
});
/** GET with the admin token (or another, or none with null) */
const get = (path: string, token: string | null = admin) => {
  const req = request(t.url).get(path);
  return token === null ? req : req.set('Authorization', `Bearer ${token}`);
};

describe('the admin resource (RFC 8707, client_credentials)', () => {
  it('a static client configured with admin.read gets a short-lived token for it, and only that scope', async () => {
    const res = await tokenFor('siem-puller', SIEM_SECRET, ADMIN).expect(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', scope: 'admin.read', expires_in: 300 });
    expect(decodeJwt(res.body.access_token as string)).toMatchObject({ aud: ADMIN, client_id: 'siem-puller' });
    const write = await tokenFor('siem-puller', SIEM_SECRET, ADMIN, 'admin.write').expect(400);
    expect(write.body.error).toBe('invalid_scope');
  });

  it('a client without an admin scope is refused: invalid_target', async () => {
    for (const [client, secret] of [
      ['ops-robot', OPS_SECRET],
      ['cost-reporter', SERVICE_SECRET],
    ] as const) {
      const res = await tokenFor(client, secret, ADMIN).expect(400);
      expect(res.body).toEqual({
        error: 'invalid_target',
        error_description: 'resource indicator is missing, or unknown',
      });
    }
  });
});

describe('GET /admin/api/audit/…', () => {
  it('events: the search, paged with next_after, as `baton audit search` answers', async () => {
    const all = await get('/admin/api/audit/events?limit=1000').expect(200);
    expect(all.headers['cache-control']).toBe('no-store');
    const issued = (all.body.events as { type: string; jti: string | null }[]).filter((e) => e.type === 'token.issued');
    expect(issued.map((e) => e.jti)).toContain(user.jti);
    const page = await get(`/admin/api/audit/events?type=token.issued&jti=${user.jti}&limit=1`).expect(200);
    expect(page.body.events).toHaveLength(1);
    expect(page.body.events[0]).toMatchObject({ type: 'token.issued', jti: user.jti, client_id: 'ide-agent' });
    expect(page.body.next_after).toBe(page.body.events[0].seq);
    const after = String(page.body.next_after);
    const next = await get(`/admin/api/audit/events?type=token.issued&jti=${user.jti}&after=${after}`).expect(200);
    expect(next.body).toEqual({ events: [], next_after: null });
  });

  it('trace: the token tree of a jti; export: JSON lines; verify: the report', async () => {
    const trace = await get(`/admin/api/audit/trace/${user.jti}`).expect(200);
    expect(trace.body.tokens).toEqual([{ jti: user.jti, parent_jti: null, depth: 0 }]);
    expect((trace.body.events as { type: string }[]).map((e) => e.type)).toContain('token.issued');
    const exported = await get('/admin/api/audit/export?after=0&limit=2').expect(200);
    expect(exported.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = exported.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number });
    expect(lines.map((l) => l.seq)).toEqual([1, 2]);
    const verify = await get('/admin/api/audit/verify').expect(200);
    expect(verify.body).toMatchObject({ ok: true, first: 1, problems: [] });
    const posted = await request(t.url)
      .post('/admin/api/audit/verify')
      .set('Authorization', `Bearer ${admin}`)
      .send({ checkpoints: '{"not": "a checkpoint"}\n' })
      .expect(400);
    expect(posted.body).toEqual({
      error: 'invalid_request',
      error_description: 'checkpoints line 1: not a checkpoint',
    });
  });

  it('every call is recorded as an admin.operation of the caller', async () => {
    await get('/admin/api/audit/verify').expect(200);
    const ops = await searchEvents(t.server.storage.db, {
      type: 'admin.operation',
      client: 'siem-puller',
      limit: 1000,
    });
    expect(ops.at(-1)).toMatchObject({
      client_id: 'siem-puller',
      event: { outcome: 'success', details: { operation: 'audit.verify', via: 'admin_api' } },
    });
  });
});

describe('refusals', () => {
  it('no token: 401 with a bare challenge; a malformed header: 400', async () => {
    const res = await get('/admin/api/audit/events', null).expect(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="${ADMIN}", scope="admin.read"`);
    expect(res.body).toEqual({
      error: 'invalid_token',
      error_description: "an access token for baton's admin API is required",
    });
    const bad = await request(t.url).get('/admin/api/audit/events').set('Authorization', 'Bearer a b').expect(400);
    expect(bad.body.error).toBe('invalid_request');
  });

  it("a token for another audience (the user's MCP token, an audit.write token) is invalid_token", async () => {
    const res = await get('/admin/api/audit/events', user.token).expect(401);
    expect(res.body).toEqual({ error: 'invalid_token', error_description: 'the access token is not valid here' });
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm=".*", error="invalid_token"/);
    const forged = `${admin.slice(0, -4)}AAAA`;
    expect((await get('/admin/api/audit/events', forged).expect(401)).body.error).toBe('invalid_token');
  });

  it('hostile or unknown query parameters, a repeated one, a limit out of range: 400, nothing run', async () => {
    const cases: [string, string][] = [
      ['?limit=100000', 'limit is 1–1000 (page with after)'],
      ['?limit=0', 'limit is 1–1000 (page with after)'],
      ['?after=-1', 'the query parameter after takes a number'],
      ["?account=x'%20or%201=1&account=y", 'the query parameter account is given more than once'],
      ['?since=yesterday', 'audit.search: since: is not a date or an ISO 8601 time'],
      ['?outcome=maybe', expect.stringContaining('audit.search:')],
      ['?select=*', 'unknown query parameter select'],
    ];
    for (const [query, description] of cases) {
      const res = await get(`/admin/api/audit/events${query}`).expect(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: description });
    }
    const sql = await get(`/admin/api/audit/events?account=${encodeURIComponent("' or '1'='1")}`).expect(200);
    expect(sql.body).toEqual({ events: [], next_after: null });
  });

  it('an unknown route: 404; a method the route does not serve: 405 with Allow', async () => {
    const missing = await get('/admin/api/no-such-route').expect(404);
    expect(missing.body).toEqual({ error: 'not_found', error_description: 'no such admin API route' });
    const method = await request(t.url)
      .delete('/admin/api/audit/verify')
      .set('Authorization', `Bearer ${admin}`)
      .expect(405);
    expect(method.headers.allow).toBe('GET, POST');
    expect(method.body).toEqual({ error: 'invalid_request', error_description: 'DELETE is not served here' });
  });
});
