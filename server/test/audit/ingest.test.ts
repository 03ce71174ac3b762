/**
 * MCP servers and services report their calls (issue #13 "Tool calls from MCP servers"): baton's own
 * resource `${issuer}/audit` (client_credentials for the clients that serve a configured resource) and
 * `POST /audit/events` on a running server over PostgreSQL + Redis: an accepted batch is stored with the
 * person and the chain from baton's own token record; every refusal of the issue answers a precise 4xx
 * (RFC 6749 §5.2 body, RFC 6750 §3 challenge) and writes nothing; a writer failure answers 503.
 */
import { createHash, randomUUID } from 'node:crypto';
import { decodeJwt, exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readChain, searchEvents, traceToken } from '../../src/audit/store.ts';
import { verifyChain } from '../../src/audit/verify.ts';
import { clientCredentialsRequest, RESOURCES, SERVICE_SECRET, startTestServer, type TestServer } from '../helpers.ts';
import { codeForm, LOGS, seedAccount, seedCode } from '../seed.ts';

const ISSUER = 'http://127.0.0.1:9400';
const AUDIT = `${ISSUER}/audit`;
const COST = 'https://cost.internal.example.com';
const ANALYTICS = 'https://analytics.mcp.example.com/mcp';
const WIKI = 'https://wiki.mcp.example.com/mcp';
const TICKETS = 'https://tickets.mcp.example.com/mcp';
const DPOP_SECRET = 'dpop-mcp-secret-0123456789abcdefghijklmn';
const LOGS_SECRET = 'logs-mcp-secret-0123456789abcdefghijkl';
const ANALYTICS_SECRET = 'analytics-mcp-secret-0123456789abcdefgh';

const server = (client_id: string, client_secret: string) => ({
  client_id,
  kind: 'mcp_server',
  client_secret,
  grant_types: ['client_credentials'],
});

let t: TestServer;
/** the user's token for the logs MCP server (ide-agent, Alice) and what baton recorded of it */
let user: { token: string; jti: string; account: string; grantId: string };

beforeAll(async () => {
  t = await startTestServer({
    backend: 'postgres+redis',
    config: (base) => ({
      resources: [
        { ...RESOURCES[0], client_id: 'logs-mcp' },
        RESOURCES[1],
        { uri: ANALYTICS, name: 'Analytics', scopes: ['analytics.query'], client_id: 'analytics-mcp' },
        { uri: WIKI, name: 'Wiki', scopes: ['wiki.read'], client_id: 'analytics-mcp' },
        { uri: TICKETS, name: 'Tickets', scopes: ['tickets.read'], client_id: 'dpop-mcp' },
      ],
      clients: {
        static: [
          ...base.clients.static,
          server('logs-mcp', LOGS_SECRET),
          server('analytics-mcp', ANALYTICS_SECRET),
          { ...server('dpop-mcp', DPOP_SECRET), dpop_bound_access_tokens: true },
        ],
      },
    }),
  });
  const account = await seedAccount(t.server.accounts);
  const seed = await seedCode(t.server.provider(), account);
  const res = await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200);
  const token = res.body.access_token as string;
  user = { token, jti: String(decodeJwt(token).jti), account, grantId: seed.grantId };
}, 60_000);
afterAll(async () => t?.close());

const tokenFor = (client: string, secret: string, resource: string, scope?: string) =>
  clientCredentialsRequest(t.url, client, secret, resource, scope);

async function auditToken(client = 'logs-mcp', secret = LOGS_SECRET): Promise<string> {
  const res = await tokenFor(client, secret, AUDIT).expect(200);
  return res.body.access_token as string;
}

const post = (token: string | undefined, body: unknown) => {
  const req = request(t.url).post('/audit/events');
  if (token) void req.set('Authorization', `Bearer ${token}`);
  return typeof body === 'string' ? req.set('Content-Type', 'application/json').send(body) : req.send(body as object);
};

const call = (over: Record<string, unknown> = {}) => ({
  kind: 'tool_call',
  method: 'tools/call',
  name: 'read_logs',
  outcome: 'allowed',
  status: 200,
  at: new Date().toISOString(),
  ...over,
});

const count = async () => Number((await t.server.storage.db('audit_events').count<{ n: string }[]>('* as n'))[0]!.n);

describe('the audit resource (RFC 8707, client_credentials)', () => {
  it("a resource's server gets a short-lived audit.write token for it; it is an ordinary RFC 9068 token", async () => {
    const res = await tokenFor('logs-mcp', LOGS_SECRET, AUDIT).expect(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', scope: 'audit.write', expires_in: 300 });
    const claims = decodeJwt(res.body.access_token as string);
    expect(claims).toMatchObject({ iss: ISSUER, aud: AUDIT, client_id: 'logs-mcp', scope: 'audit.write' });
  });

  it('a client that is no resource’s server is refused: invalid_target', async () => {
    const res = await tokenFor('cost-reporter', SERVICE_SECRET, AUDIT).expect(400);
    expect(res.body).toEqual({
      error: 'invalid_target',
      error_description: 'resource indicator is missing, or unknown',
    });
  });

  it('only client_credentials: a user cannot be sent to sign in for it', async () => {
    const res = await request(t.url).get('/auth').query({
      client_id: 'ide-agent',
      response_type: 'code',
      redirect_uri: 'http://127.0.0.1/callback',
      resource: AUDIT,
      scope: 'audit.write',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
    expect(res.status).toBe(303);
    expect(new URL(res.headers.location as string).searchParams.get('error')).toBe('invalid_target');
  });
});

describe('POST /audit/events', () => {
  it('an accepted batch: stored as tool.called with the person, client and grant from baton’s record', async () => {
    const token = await auditToken();
    const at = new Date().toISOString();
    const sha = 'a'.repeat(64);
    const res = await post(token, {
      events: [
        call({ jti: user.jti, arguments_sha256: sha, at }),
        call({ name: 'trigger_incident', outcome: 'denied', status: 401, reason: 'no token', at }),
      ],
    }).expect(202);
    expect(res.body).toEqual({ accepted: 2 });
    const rows = await searchEvents(t.server.storage.db, { type: 'tool.called', limit: 10 });
    expect(rows.map((r) => r.event)).toEqual([
      expect.objectContaining({
        type: 'tool.called',
        outcome: 'success',
        account: user.account,
        idp: { iss: expect.any(String), sub: 'alice' },
        client: 'ide-agent',
        gid: user.grantId,
        resource: LOGS,
        jti: user.jti,
        details: {
          method: 'tools/call',
          name: 'read_logs',
          status: 200,
          arguments_sha256: sha,
          reported_at: at,
          reporter: 'logs-mcp',
        },
      }),
      expect.objectContaining({
        type: 'tool.called',
        outcome: 'refused',
        resource: LOGS,
        details: {
          method: 'tools/call',
          name: 'trigger_incident',
          status: 401,
          reason: 'no token',
          reported_at: at,
          reporter: 'logs-mcp',
        },
      }),
    ]);
    // a call refused without a token has no person
    expect(rows[1]!.account_id).toBeNull();
    expect(rows[1]!.event.client).toBeUndefined();
    expect(rows[0]!.account_id).toBe(user.account);
    expect(rows[0]!.grant_id).toBe(user.grantId);
    // it joins the chain: the tree of the user's token holds its issuing and the tool call
    const trace = await traceToken(t.server.storage.db, user.jti);
    expect(trace.events.filter((e) => e.jti === user.jti).map((e) => e.type)).toEqual(['token.issued', 'tool.called']);
    const report = await verifyChain({ rows: readChain(t.server.storage.db), database: [], keys: [] });
    expect(report.problems).toEqual([]);
  });

  it('dropped > 0 is recorded as one audit.dropped record', async () => {
    const res = await post(await auditToken(), { events: [], dropped: 7 }).expect(202);
    expect(res.body).toEqual({ accepted: 0 });
    const rows = await searchEvents(t.server.storage.db, { type: 'audit.dropped', limit: 10 });
    expect(rows.map((r) => r.event)).toEqual([
      expect.objectContaining({ client: 'logs-mcp', resource: LOGS, details: { count: 7, reporter: 'logs-mcp' } }),
    ]);
  });

  it('unauthenticated: 401 with a bare Bearer challenge (RFC 6750 §3.1)', async () => {
    const res = await post(undefined, { events: [call()] }).expect(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="${AUDIT}", scope="audit.write"`);
    expect(res.body).toEqual({
      error: 'invalid_token',
      error_description: "an access token for baton's audit API is required",
    });
  });

  it('an ordinary resource token (wrong audience): 401 invalid_token', async () => {
    const other = (await tokenFor('cost-reporter', SERVICE_SECRET, COST, 'cost.read').expect(200)).body.access_token;
    const res = await post(other as string, { events: [call()] }).expect(401);
    expect(res.headers['www-authenticate']).toBe(
      `Bearer realm="${AUDIT}", error="invalid_token", error_description="the access token is not valid here"`,
    );
    expect(res.body).toEqual({ error: 'invalid_token', error_description: 'the access token is not valid here' });
    await post(user.token, { events: [call()] }).expect(401);
  });

  it('a token for the audit API without audit.write: 403 insufficient_scope', async () => {
    const keys = await t.server.keystore.load();
    const jwk = keys.jwks.find((k) => k.kid === keys.activeKid)!;
    const forged = await new SignJWT({ client_id: 'logs-mcp', scope: 'something.else' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: keys.activeKid })
      .setIssuer(ISSUER)
      .setAudience(AUDIT)
      .setSubject('logs-mcp')
      .setJti('no-audit-write')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(await importJWK(jwk, 'ES256'));
    const res = await post(forged, { events: [call()] }).expect(403);
    expect(res.headers['www-authenticate']).toBe(
      `Bearer realm="${AUDIT}", error="insufficient_scope", error_description="baton's audit API needs the scope audit.write", scope="audit.write"`,
    );
    expect(res.body).toEqual({
      error: 'insufficient_scope',
      error_description: "baton's audit API needs the scope audit.write",
    });
  });

  const refusedWith = async (token: string, body: unknown, status: number, description: string) => {
    const before = await count();
    const res = await post(token, body).expect(status);
    expect(res.body).toEqual({ error: 'invalid_request', error_description: description });
    expect(await count()).toBe(before);
    return res;
  };

  it("a server writing for another server's resource: 400 naming the event", async () => {
    await refusedWith(
      await auditToken(),
      { events: [call(), call({ resource: ANALYTICS })] },
      400,
      'events[1].resource is not a resource this client serves',
    );
  });

  it('a server of several resources must name the resource', async () => {
    const token = await auditToken('analytics-mcp', ANALYTICS_SECRET);
    await refusedWith(
      token,
      { events: [call()] },
      400,
      'events[0].resource is required: this client serves several resources',
    );
    await post(token, { events: [call({ resource: WIKI })] }).expect(202);
  });

  it('a jti baton never issued, and one issued for another audience: 400, and the log says which', async () => {
    const token = await auditToken();
    const description = 'events[0].jti is not a token baton issued for this resource';
    await refusedWith(token, { events: [call({ jti: 'never-issued' })] }, 400, description);
    const other = (await tokenFor('cost-reporter', SERVICE_SECRET, COST, 'cost.read').expect(200)).body.access_token;
    await refusedWith(token, { events: [call({ jti: String(decodeJwt(other as string).jti) })] }, 400, description);
    const lines = t.logs.lines().filter((l) => l.includes('"audit.ingest_refused"'));
    expect(lines.some((l) => l.includes('baton has no record of issuing jti never-issued'))).toBe(true);
    expect(lines.some((l) => l.includes(`was issued for ${COST}, not ${LOGS}`))).toBe(true);
  });

  it('501 events: 413', async () => {
    await refusedWith(
      await auditToken(),
      { events: Array.from({ length: 501 }, () => call()) },
      413,
      'at most 500 events per request',
    );
  });

  it('a body over 1 MiB: 413', async () => {
    await refusedWith(
      await auditToken(),
      { events: [call({ reason: 'x'.repeat(1024 * 1024) })] },
      413,
      'the body is larger than 1048576 bytes',
    );
  });

  it('10,000 events in one request: 413, nothing written', async () => {
    const events = Array.from({ length: 10_000 }, () => ({
      kind: 'tool_call',
      method: 'm',
      outcome: 'allowed',
      status: 200,
      at: '2026-12-01T00:00:00Z',
    }));
    await refusedWith(await auditToken(), { events }, 413, 'at most 500 events per request');
  });

  it('malformed JSON: 400', async () => {
    await refusedWith(await auditToken(), '{"events": [', 400, 'the body is not JSON');
  });

  it('a bad event in the middle: 400 naming it, nothing of the batch written', async () => {
    await refusedWith(
      await auditToken(),
      { events: [call(), call({ outcome: 'maybe' }), call()] },
      400,
      'events[1].outcome is invalid',
    );
    await refusedWith(
      await auditToken(),
      { events: [call(), call({ user: 'mallory' })] },
      400,
      'events[1] is invalid: unknown member user',
    );
  });

  it('the audit trail cannot be written: 503 server_error, and the batch is accepted once it can', async () => {
    const db = t.server.storage.db;
    const token = await auditToken();
    await db.raw(`create function fail_audit() returns trigger language plpgsql as $$
      begin raise exception 'audit storage down'; end $$`);
    await db.raw('create trigger fail_audit before insert on audit_events execute function fail_audit()');
    try {
      const before = await count();
      const res = await post(token, { events: [call()] }).expect(503);
      expect(res.body).toEqual({
        error: 'server_error',
        error_description: 'the audit trail is unavailable; try again later',
      });
      expect(await count()).toBe(before);
    } finally {
      await db.raw('drop trigger fail_audit on audit_events');
      await db.raw('drop function fail_audit()');
    }
    await post(token, { events: [call()] }).expect(202);
  });

  describe('a DPoP-bound audit token (RFC 9449)', () => {
    let key: Awaited<ReturnType<typeof generateKeyPair>>;
    const proof = async (htu: string, token?: string, jti = randomUUID()) =>
      new SignJWT({
        htm: 'POST',
        htu,
        jti,
        ...(token ? { ath: createHash('sha256').update(token).digest('base64url') } : {}),
      })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(key.publicKey) })
        .setIssuedAt()
        .sign(key.privateKey);
    let token: string;
    beforeAll(async () => {
      key = await generateKeyPair('ES256');
      const res = await tokenFor('dpop-mcp', DPOP_SECRET, AUDIT)
        .set('DPoP', await proof(`${ISSUER}/token`))
        .expect(200);
      expect(res.body.token_type).toBe('DPoP');
      token = res.body.access_token as string;
    });
    const dpopPost = (scheme: string, dpop: string | undefined) => {
      const req = request(t.url).post('/audit/events').set('Authorization', `${scheme} ${token}`);
      if (dpop) void req.set('DPoP', dpop);
      return req.send({ events: [call()] });
    };

    it('accepted with the DPoP scheme and a proof for this URL; each proof once', async () => {
      const once = await proof(`${ISSUER}/audit/events`, token);
      await dpopPost('DPoP', once).expect(202);
      const replayed = await dpopPost('DPoP', once).expect(401);
      expect(replayed.body).toEqual({ error: 'invalid_dpop_proof', error_description: 'the DPoP proof is not valid' });
      expect(replayed.headers['www-authenticate']).toBe(
        `DPoP realm="${AUDIT}", error="invalid_dpop_proof", error_description="the DPoP proof is not valid", algs="ES256 Ed25519 EdDSA"`,
      );
    });

    it('refused as a Bearer token, without a proof, or with a proof for another URL', async () => {
      expect((await dpopPost('Bearer', undefined).expect(401)).body.error).toBe('invalid_token');
      expect((await dpopPost('DPoP', undefined).expect(401)).body.error).toBe('invalid_token');
      const elsewhere = await proof(`${ISSUER}/token`, token);
      expect((await dpopPost('DPoP', elsewhere).expect(401)).body.error).toBe('invalid_dpop_proof');
    });
  });
});

describe('on the embedded store, with the rate limit per reporting client (audit.ingest_rate_per_minute)', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({
      backend: 'embedded',
      config: (base) => ({
        audit: { ingest_rate_per_minute: 2 },
        resources: [{ ...RESOURCES[0], client_id: 'logs-mcp' }, RESOURCES[1]],
        clients: { static: [...base.clients.static, server('logs-mcp', LOGS_SECRET)] },
      }),
    });
  }, 60_000);
  afterAll(async () => limited?.close());

  it('stores a call with the person from baton’s record, then answers 429 with Retry-After past the limit', async () => {
    const account = await seedAccount(limited.server.accounts);
    const seed = await seedCode(limited.server.provider(), account);
    const user = (await request(limited.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body
      .access_token as string;
    const jti = String(decodeJwt(user).jti);
    const token = (
      await request(limited.url)
        .post('/token')
        .auth('logs-mcp', LOGS_SECRET)
        .type('form')
        .send({ grant_type: 'client_credentials', resource: AUDIT })
        .expect(200)
    ).body.access_token as string;
    const send = () =>
      request(limited.url).post('/audit/events').set('Authorization', `Bearer ${token}`).send({ events: [] });
    await request(limited.url)
      .post('/audit/events')
      .set('Authorization', `Bearer ${token}`)
      .send({ events: [call({ jti })] })
      .expect(202);
    const rows = await searchEvents(limited.server.storage.db, { type: 'tool.called', limit: 10 });
    expect(rows.map((r) => [r.jti, r.account_id, r.grant_id, r.event.client])).toEqual([
      [jti, account, seed.grantId, 'ide-agent'],
    ]);
    await send().expect(202);
    const res = await send().expect(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.body.error).toBe('temporarily_unavailable');
  });
});
