/**
 * The kit against a live baton: every refusal the MCP authorization spec and RFC 6750 describe (no token,
 * a malformed header, a wrong audience, expired, a wrong issuer, an unknown kid, a missing scope with its
 * hint, a header/body mismatch, a DPoP-bound token without a proof), the happy path with the caller handed
 * to the handler, audit events, the koa and node:http adapters, and a downstream service verifying an
 * exchanged token made by the exchange helper.
 */
import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import express from 'express';
import Koa from 'koa';
import { bodyParser } from '@koa/bodyparser';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunningServer } from '../../server/src/main.ts';
import { RESOURCES, startBatonAt } from '../../server/test/helpers.ts';
import { codeForm, seedAccount, seedCode } from '../../server/test/seed.ts';
import {
  createExchanger,
  createMcpAuth,
  createVerifier,
  mcpGuard,
  mcpKoa,
  mcpMetadataRoute,
  memoryReplayStore,
  redisReplayStore,
  TokenError,
  withMcpAuth,
  type AuditEvent,
  type BatonAuthInfo,
} from '../src/index.ts';

const ISSUER = 'http://127.0.0.1:9471';
const PORTS = { express: 9472, koa: 9473, node: 9474, jwks: 9475 };
const MCP = {
  express: `http://127.0.0.1:${PORTS.express}/mcp`,
  koa: `http://127.0.0.1:${PORTS.koa}/mcp`,
  node: `http://127.0.0.1:${PORTS.node}/mcp`,
};
const COST = 'https://cost.internal.example.com';
const SECRET = 'kit-test-secret-0123456789abcdefghij';
let baton: RunningServer;
let cleanup: () => Promise<void>;
const servers: Server[] = [];
const audit: AuditEvent[] = [];
const tokens: Record<string, string> = {};
let account: string;

const call = (name: string, args: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name, arguments: args },
});
const kitFor = (resource: string) =>
  createMcpAuth({
    issuer: ISSUER,
    resource,
    resourceName: 'Logs',
    scopesSupported: ['logs.read'],
    scopes: { 'tools/call:read_logs': 'logs.read', 'tools/call:trigger_incident': 'incidents.trigger' },
    audit: (e) => audit.push(e),
    allowedOrigins: ['https://agent.example.com'],
  });

let clientKey: Awaited<ReturnType<typeof generateKeyPair>>;

beforeAll(async () => {
  clientKey = await generateKeyPair('ES256');
  const publicJwk = { ...(await exportJWK(clientKey.publicKey)), kid: 'pk1', alg: 'ES256', use: 'sig' };
  servers.push(
    await new Promise<Server>((ok) => {
      const s = createServer(
        (_req, res) =>
          void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [publicJwk] })),
      );
      s.listen(PORTS.jwks, '127.0.0.1', () => ok(s));
    }),
  );
  const started = await startBatonAt(9471, (base) => ({
    resources: [
      ...Object.values(MCP).map((uri) => ({
        uri,
        name: 'Logs',
        scopes: ['logs.read', 'incidents.trigger'],
        // the node:http server's client authenticates with private_key_jwt
        client_id: uri === MCP.node ? 'logs-mcp-pk' : 'logs-mcp',
      })),
      { ...RESOURCES[1]!, client_id: 'cost-svc' },
    ],
    clients: {
      static: [
        ...base.clients.static,
        { client_id: 'logs-mcp', kind: 'mcp_server', client_secret: SECRET, grant_types: ['client_credentials'] },
        { client_id: 'cost-svc', kind: 'service', client_secret: SECRET },
        {
          client_id: 'logs-mcp-pk',
          kind: 'mcp_server',
          auth: 'private_key_jwt',
          jwks_uri: `http://127.0.0.1:${PORTS.jwks}/jwks`,
          grant_types: ['client_credentials'],
        },
      ],
      // the private_key_jwt client's JWKS is served by this test on loopback (development flag)
      registration: { cimd: { allow_private_network: true } },
    },
    mode: 'development',
    delegation: [
      { actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'] },
      { actor: 'logs-mcp-pk', targets: [COST], scopes: ['cost.read'], workloads: ['spiffe://corp/logs-mcp/*'] },
    ],
  }));
  baton = started.server;
  cleanup = started.cleanup;
  account = await seedAccount(baton.accounts);
  for (const [name, uri] of Object.entries(MCP)) {
    const seed = await seedCode(baton.provider(), account, uri);
    tokens[name] = (await request(baton.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body
      .access_token as string;
  }

  const echo = (auth: BatonAuthInfo | undefined) =>
    JSON.stringify({ jsonrpc: '2.0', id: 1, result: { caller: auth?.extra.caller } });
  const ex = express();
  const kit = kitFor(MCP.express);
  ex.use(mcpMetadataRoute(kit));
  ex.post('/mcp', express.json(), mcpGuard(kit), (req, res) => {
    res.type('json').send(echo((req as unknown as { auth?: BatonAuthInfo }).auth));
  });
  // a body that is not JSON: JSON-RPC's parse error (instead of express's default page)
  ex.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(400).json({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
  });
  const koa = new Koa();
  koa
    .use(async (ctx, next) => {
      try {
        await next();
      } catch {
        ctx.status = 400; // a body that is not JSON: JSON-RPC's parse error
        ctx.body = { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } };
      }
    })
    .use(bodyParser())
    .use(mcpKoa(kitFor(MCP.koa), '/mcp'))
    .use((ctx) => {
      ctx.type = 'json';
      ctx.body = echo(ctx.state.auth as BatonAuthInfo);
    });
  const node = createServer(
    withMcpAuth(kitFor(MCP.node), '/mcp', async (req, res, body) => {
      if ((body as { method?: string }).method === 'test/throw') throw new Error('a handler bug');
      res.writeHead(200, { 'content-type': 'application/json' }).end(echo(req.auth));
    }),
  );
  for (const [app, port] of [
    [ex, PORTS.express],
    [koa.callback(), PORTS.koa],
  ] as const) {
    servers.push(
      await new Promise<Server>((ok) => {
        const s = createServer(app as Parameters<typeof createServer>[1]).listen(port, '127.0.0.1', () => ok(s));
      }),
    );
  }
  servers.push(await new Promise<Server>((ok) => node.listen(PORTS.node, '127.0.0.1', () => ok(node))));
});
afterAll(async () => {
  for (const s of servers) await new Promise((ok) => s.close(ok));
  await baton?.close();
  await cleanup?.();
});

const mcp = (port: number) => request(`http://127.0.0.1:${port}`);
const challengeOf = (res: request.Response) => res.headers['www-authenticate'] as string;

async function forge(claims: Record<string, unknown>, key?: { key: Parameters<SignJWT['sign']>[0]; kid: string }) {
  const own = (await baton.keystore.load()).jwks[0] as JWK;
  const k = key ?? { key: await importJWK(own, 'ES256'), kid: own.kid! };
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: k.kid }).sign(k.key);
}

describe('the MCP kit (express)', () => {
  it('serves RFC 9728 protected-resource metadata naming baton', async () => {
    const res = await mcp(PORTS.express).get('/.well-known/oauth-protected-resource/mcp').expect(200);
    expect(res.body).toEqual({
      resource: MCP.express,
      authorization_servers: [ISSUER],
      scopes_supported: ['logs.read'],
      bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: ['ES256', 'Ed25519', 'EdDSA'],
      resource_name: 'Logs',
    });
  });

  it('no token: 401 with resource_metadata and the scope, no error code (RFC 6750 §3.1)', async () => {
    const res = await mcp(PORTS.express).post('/mcp').send(call('read_logs')).expect(401);
    expect(challengeOf(res)).toBe(
      `Bearer scope="logs.read", resource_metadata="http://127.0.0.1:${PORTS.express}/.well-known/oauth-protected-resource/mcp"`,
    );
  });

  it.each([['Bearer'], ['Basic dXNlcjpwYXNz'], ['Bearer a b'], ['Bearer <script>']])(
    'a malformed header (%s): 401 invalid_request',
    async (header) => {
      const res = await mcp(PORTS.express)
        .post('/mcp')
        .set('authorization', header)
        .send(call('read_logs'))
        .expect(401);
      expect(challengeOf(res)).toMatch(/^Bearer error="invalid_request"/);
    },
  );

  it('a token for another resource: 401 invalid_token', async () => {
    const res = await mcp(PORTS.express)
      .post('/mcp')
      .auth(tokens.koa!, { type: 'bearer' })
      .send(call('read_logs'))
      .expect(401);
    expect(challengeOf(res)).toMatch(
      /^Bearer error="invalid_token", error_description="the access token is not valid here", resource_metadata=/,
    );
  });

  it('expired, another issuer, an unknown kid: 401 invalid_token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const base = { ...decodeJwt(tokens.express!) };
    const stranger = await generateKeyPair('ES256');
    for (const token of [
      await forge({ ...base, iat: now - 900, exp: now - 600 }),
      await forge({ ...base, iss: 'https://evil.example.com' }),
      await forge(base, { key: stranger.privateKey, kid: 'unknown-kid' }),
    ]) {
      const res = await mcp(PORTS.express)
        .post('/mcp')
        .auth(token, { type: 'bearer' })
        .send(call('read_logs'))
        .expect(401);
      expect(challengeOf(res)).toMatch(/error="invalid_token"/);
    }
  });

  it('a token verified before is still refused once it expires (verify() remembers verified tokens)', async () => {
    const verify = createVerifier({ issuer: ISSUER, audience: MCP.express, clockToleranceSeconds: 0 });
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await forge({ ...decodeJwt(tokens.express!), exp });
    expect((await verify(token)).expiresAt).toBe(exp);
    expect((await verify(token)).expiresAt).toBe(exp); // the second time from what it remembers
    await vi.waitFor(() => expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000), { timeout: 5000, interval: 50 });
    await expect(verify(token)).rejects.toMatchObject({ code: 'invalid_token', message: 'ERR_JWT_EXPIRED' });
  });

  it('a missing scope: 403 insufficient_scope whose scope is the union to step up to (granted + needed)', async () => {
    const res = await mcp(PORTS.express)
      .post('/mcp')
      .auth(tokens.express!, { type: 'bearer' })
      .send(call('trigger_incident'))
      .expect(403);
    expect(challengeOf(res)).toBe(
      `Bearer error="insufficient_scope", error_description="this call needs incidents.trigger", scope="logs.read incidents.trigger", resource_metadata="http://127.0.0.1:${PORTS.express}/.well-known/oauth-protected-resource/mcp"`,
    );
  });

  it('Mcp-Method / Mcp-Name headers that do not match the body: 400', async () => {
    const res = await mcp(PORTS.express)
      .post('/mcp')
      .auth(tokens.express!, { type: 'bearer' })
      .set('Mcp-Method', 'tools/call')
      .set('Mcp-Name', 'read_logs')
      .send(call('trigger_incident'))
      .expect(400);
    expect(res.body.error.code).toBe(-32600);
    await mcp(PORTS.express)
      .post('/mcp')
      .auth(tokens.express!, { type: 'bearer' })
      .set('Mcp-Method', 'tools/call')
      .set('Mcp-Name', 'read_logs')
      .send(call('read_logs'))
      .expect(200);
  });

  it('DNS-rebinding protection: a foreign Origin is 403 before the token is looked at; own and allowed pass', async () => {
    const before = audit.length;
    const res = await mcp(PORTS.express)
      .post('/mcp')
      .auth(tokens.express!, { type: 'bearer' })
      .set('Origin', 'http://evil.example.com')
      .send(call('read_logs'))
      .expect(403);
    expect(res.body.error).toEqual({ code: -32000, message: 'Forbidden: origin not allowed' });
    expect(audit.slice(before)).toMatchObject([
      { outcome: 'denied', status: 403, reason: 'origin http://evil.example.com is not allowed' },
    ]);
    for (const origin of [new URL(MCP.express).origin, 'https://agent.example.com'])
      await mcp(PORTS.express)
        .post('/mcp')
        .auth(tokens.express!, { type: 'bearer' })
        .set('Origin', origin)
        .send(call('read_logs'))
        .expect(200);
    // no Origin (not a browser): unaffected
    await mcp(PORTS.express).post('/mcp').auth(tokens.express!, { type: 'bearer' }).send(call('read_logs')).expect(200);
  });

  it('an allowed call reaches the handler with the caller', async () => {
    const res = await mcp(PORTS.express)
      .post('/mcp')
      .auth(tokens.express!, { type: 'bearer' })
      .send(call('read_logs', { since: '1h' }))
      .expect(200);
    expect(res.body.result.caller).toMatchObject({
      subject: account,
      idp: { iss: 'urn:baton:idp:local', sub: 'alice' },
      clientId: 'ide-agent',
      clientKind: 'agent',
      actor: 'ide-agent',
      actorChain: ['ide-agent'],
      scopes: ['logs.read'],
      roles: ['developer'],
    });
  });

  it('writes one audit event per call, arguments hashed', () => {
    const allowed = audit.find((e) => e.outcome === 'allowed' && e.name === 'read_logs' && e.argumentsSha256);
    expect(allowed).toMatchObject({
      type: 'mcp.call',
      method: 'tools/call',
      subject: account,
      client: 'ide-agent',
      actorChain: ['ide-agent'],
      status: 200,
    });
    expect(allowed!.argumentsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(audit)).not.toContain('"1h"');
    expect(
      audit.some((e) => e.outcome === 'denied' && e.status === 403 && e.reason === 'missing scope incidents.trigger'),
    ).toBe(true);
  });

  it('a DPoP-bound token: refused without a proof, accepted with one', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    const proof = (htm: string, htu: string, extra: Record<string, unknown> = {}) =>
      new SignJWT({ htm, htu, jti: randomUUID(), ...extra })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .setIssuedAt()
        .sign(privateKey);
    const seed = await seedCode(baton.provider(), account, MCP.express);
    const bound = await request(baton.url)
      .post('/token')
      .type('form')
      .set('DPoP', await proof('POST', `${ISSUER}/token`))
      .send(codeForm(seed))
      .expect(200);
    expect(bound.body.token_type).toBe('DPoP');
    expect(decodeJwt(bound.body.access_token).cnf).toEqual({ jkt: await calculateJwkThumbprint(jwk) });
    const token = bound.body.access_token as string;
    const without = await mcp(PORTS.express)
      .post('/mcp')
      .set('authorization', `DPoP ${token}`)
      .send(call('read_logs'))
      .expect(401);
    expect(challengeOf(without)).toMatch(/error="invalid_token"/);
    const ath = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))).toString(
      'base64url',
    );
    await mcp(PORTS.express)
      .post('/mcp')
      .set('authorization', `DPoP ${token}`)
      .set('DPoP', await proof('POST', MCP.express, { ath }))
      .send(call('read_logs'))
      .expect(200);
    const wrongUrl = await mcp(PORTS.express)
      .post('/mcp')
      .set('authorization', `DPoP ${token}`)
      .set('DPoP', await proof('POST', 'https://elsewhere.example.com/mcp', { ath }))
      .send(call('read_logs'))
      .expect(401);
    // RFC 9449 §7.1: a request with the DPoP scheme gets a DPoP challenge naming the proof algorithms
    expect(challengeOf(wrongUrl)).toBe(
      `DPoP error="invalid_dpop_proof", error_description="the access token is not valid here", algs="ES256 Ed25519 EdDSA", resource_metadata="http://127.0.0.1:${PORTS.express}/.well-known/oauth-protected-resource/mcp"`,
    );
    // the scheme name is case-insensitive (RFC 7235 §2.1)
    await mcp(PORTS.express)
      .post('/mcp')
      .set('authorization', `dpop ${token}`)
      .set('DPoP', await proof('POST', MCP.express, { ath }))
      .send(call('read_logs'))
      .expect(200);
    // HS256 keyed with the header's public key (algorithm confusion): asymmetric algorithms only
    const hs = await new SignJWT({ htm: 'POST', htu: MCP.express, ath, jti: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk })
      .setIssuedAt()
      .sign(new TextEncoder().encode(JSON.stringify(jwk)));
    const symmetric = await mcp(PORTS.express)
      .post('/mcp')
      .set('authorization', `DPoP ${token}`)
      .set('DPoP', hs)
      .send(call('read_logs'))
      .expect(401);
    expect(challengeOf(symmetric)).toMatch(/^DPoP error="invalid_dpop_proof"/);

    // RFC 9449 §11.1: a proof is accepted once
    const once = await proof('POST', MCP.express, { ath });
    const send = (dPoP: string) =>
      mcp(PORTS.express).post('/mcp').set('authorization', `DPoP ${token}`).set('DPoP', dPoP).send(call('read_logs'));
    expect((await send(once)).status).toBe(200);
    const replayed = await send(once);
    expect(replayed.status).toBe(401);
    expect(challengeOf(replayed)).toMatch(/error="invalid_dpop_proof"/);
    expect(audit.at(-1)).toMatchObject({ outcome: 'denied', status: 401, reason: 'DPoP proof: proof replayed' });
    // RFC 9449 §4.2: jti is required
    const noJti = await new SignJWT({ htm: 'POST', htu: MCP.express, ath })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
      .setIssuedAt()
      .sign(privateKey);
    const missing = await send(noJti);
    expect(missing.status).toBe(401);
    expect(audit.at(-1)?.reason).toBe('DPoP proof: missing required "jti" claim');

    // several resource-server processes share one Redis store: a proof used on one is refused on the other
    const redis = new Redis(process.env.TEST_REDIS_URL!, { lazyConnect: true });
    await redis.connect();
    try {
      const shared = redisReplayStore(redis, `kit-test:${randomUUID()}:`);
      const [one, two] = [1, 2].map(() =>
        createVerifier({ issuer: ISSUER, audience: MCP.express, dpopReplay: shared }),
      ) as [ReturnType<typeof createVerifier>, ReturnType<typeof createVerifier>];
      const context = { proof: await proof('POST', MCP.express, { ath }), method: 'POST', url: MCP.express };
      expect((await one(token, context)).subject).toBe(account);
      await expect(two(token, context)).rejects.toMatchObject({
        code: 'invalid_dpop_proof',
        message: 'DPoP proof: proof replayed',
      });
      const fresh = { ...context, proof: await proof('POST', MCP.express, { ath }) };
      expect((await two(token, fresh)).subject).toBe(account);
    } finally {
      redis.disconnect();
    }

    // a replay store that cannot answer is a 503 for the caller to retry, not the client's invalid proof
    const down = createMcpAuth({
      issuer: ISSUER,
      resource: MCP.express,
      dpopReplay: { claim: () => Promise.reject(new Error('connection refused')) },
    });
    const unavailable = await down.authorize({
      httpMethod: 'POST',
      url: MCP.express,
      authorization: `DPoP ${token}`,
      dpop: await proof('POST', MCP.express, { ath }),
      mcpMethod: undefined,
      mcpName: undefined,
      body: call('read_logs'),
    });
    expect(unavailable).toMatchObject({ ok: false, status: 503, body: { error: 'temporarily_unavailable' } });
  });
});

describe('a valid token carrying no scope grants nothing (RFC 6750 §3.1)', () => {
  /** a token baton would never issue now: valid, for this audience, without scope */
  const scopeless = async (name: keyof typeof MCP) => {
    const { scope: _scope, ...claims } = decodeJwt(tokens[name]!);
    return forge(claims);
  };
  const rpc = (method: string) => ({ jsonrpc: '2.0', id: 1, method, params: {} });
  const INITIALIZE = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'probe', version: '1' } },
  };

  it.each([
    ['express', PORTS.express],
    ['koa', PORTS.koa],
    ['node', PORTS.node],
  ] as const)('%s: 403 insufficient_scope for every method, naming the scopes to ask for', async (name, port) => {
    const token = await scopeless(name);
    const metadata = `resource_metadata="http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp"`;
    const before = audit.length;
    for (const body of [
      INITIALIZE,
      rpc('tools/list'),
      rpc('resources/list'),
      rpc('prompts/list'),
      rpc('ping'),
      { jsonrpc: '2.0', method: 'notifications/initialized' },
    ]) {
      const res = await mcp(port).post('/mcp').auth(token, { type: 'bearer' }).send(body).expect(403);
      expect(challengeOf(res), body.method).toBe(
        `Bearer error="insufficient_scope", error_description="this token carries no scope", scope="logs.read", ${metadata}`,
      );
      expect(res.body).toEqual({ error: 'insufficient_scope', error_description: 'this token carries no scope' });
    }
    const tool = await mcp(port).post('/mcp').auth(token, { type: 'bearer' }).send(call('read_logs')).expect(403);
    expect(challengeOf(tool)).toBe(
      `Bearer error="insufficient_scope", error_description="this call needs logs.read", scope="logs.read", ${metadata}`,
    );
    expect(audit.slice(before).map((e) => [e.outcome, e.status, e.reason])).toEqual([
      ...Array.from({ length: 6 }, () => ['denied', 403, 'the token carries no scope']),
      ['denied', 403, 'missing scope logs.read'],
    ]);
  });

  it('a method configured to need no scope (an explicit []) is open to it; nothing else is', async () => {
    const token = await scopeless('express');
    const kit = createMcpAuth({
      issuer: ISSUER,
      resource: MCP.express,
      scopesSupported: ['logs.read'],
      scopes: { initialize: [], 'tools/call:read_logs': 'logs.read' },
    });
    const authorize = (body: unknown) =>
      kit.authorize({
        httpMethod: 'POST',
        url: MCP.express,
        authorization: `Bearer ${token}`,
        dpop: undefined,
        mcpMethod: undefined,
        mcpName: undefined,
        body,
      });
    expect(await authorize(INITIALIZE)).toMatchObject({ ok: true, method: 'initialize', required: [] });
    for (const body of [rpc('tools/list'), [INITIALIZE, rpc('tools/list')], [], call('read_logs')])
      expect(await authorize(body), JSON.stringify(body)).toMatchObject({
        ok: false,
        status: 403,
        body: { error: 'insufficient_scope' },
      });
  });

  it('verify() refuses it with insufficient_scope unless allowEmptyScope', async () => {
    const token = await scopeless('express');
    await expect(createVerifier({ issuer: ISSUER, audience: MCP.express })(token)).rejects.toMatchObject({
      name: 'TokenError',
      code: 'insufficient_scope',
      message: 'the token carries no scope',
    });
    const caller = await createVerifier({ issuer: ISSUER, audience: MCP.express, allowEmptyScope: true })(token);
    expect(caller).toMatchObject({ subject: account, scopes: [] });
  });
});

describe('hostile requests at the MCP endpoint, on each adapter: a 4xx, never a 5xx', () => {
  it.each([
    ['express', PORTS.express],
    ['koa', PORTS.koa],
    ['node', PORTS.node],
  ] as const)('%s', async (name, port) => {
    const token = tokens[name]!;
    const authorizations = [
      '',
      'Bearer',
      'Bearer ',
      `Bearer ${token} extra`,
      `Basic ${token}`,
      `DPoP ${token}`,
      'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
      'Bearer eyJ.eyJ.x',
      `Bearer ${'x'.repeat(6000)}`,
      'Bearer %zz',
    ];
    const bodies: [string, string][] = [
      ['application/json', '{"jsonrpc":'],
      ['application/json', '[]'],
      ['application/json', 'null'],
      ['application/json', '"a string"'],
      ['application/json', JSON.stringify([call('read_logs'), call('trigger_incident')])],
      ['application/json', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: null })],
      ['application/json', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 42 } })],
      ['application/json', JSON.stringify({ jsonrpc: '2.0', id: 1, method: { a: 1 } })],
      ['text/plain', 'hello'],
    ];
    for (const authorization of authorizations) {
      for (const [type, body] of bodies) {
        const req = mcp(port).post('/mcp').set('content-type', type).set('Mcp-Method', 'tools/call');
        const res = await (authorization ? req.set('authorization', authorization) : req).send(body);
        expect(res.status, `${authorization.slice(0, 20)} ${body.slice(0, 30)}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${authorization.slice(0, 20)} ${body.slice(0, 30)}`).toBeLessThan(500);
      }
    }
  });
});

describe('CORS for browser MCP clients from an allowed origin, on each adapter', () => {
  const AGENT = 'https://agent.example.com'; // in allowedOrigins
  it.each([
    ['express', PORTS.express],
    ['koa', PORTS.koa],
    ['node', PORTS.node],
  ] as const)('%s', async (name, port) => {
    const preflight = await mcp(port)
      .options('/mcp')
      .set('Origin', AGENT)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization, content-type, mcp-protocol-version')
      .expect(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(AGENT);
    expect(preflight.headers['access-control-allow-headers']).toContain('authorization');
    expect(preflight.headers['access-control-allow-headers']).toContain('mcp-protocol-version');
    expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();
    await mcp(port)
      .options('/mcp')
      .set('Origin', 'http://evil.example.com')
      .set('Access-Control-Request-Method', 'POST')
      .expect(403);
    // the 401 challenge is readable: the browser client finds baton through it
    const challenge = await mcp(port).post('/mcp').set('Origin', AGENT).send(call('read_logs')).expect(401);
    expect(challenge.headers['access-control-allow-origin']).toBe(AGENT);
    expect(challenge.headers['access-control-expose-headers']).toContain('WWW-Authenticate');
    const ok = await mcp(port)
      .post('/mcp')
      .set('Origin', AGENT)
      .auth(tokens[name]!, { type: 'bearer' })
      .send(call('read_logs'))
      .expect(200);
    expect(ok.headers['access-control-allow-origin']).toBe(AGENT);
    // a request from a foreign origin gets no CORS headers (and is refused, 403)
    const foreign = await mcp(port).post('/mcp').set('Origin', 'http://evil.example.com').send(call('read_logs'));
    expect(foreign.status).toBe(403);
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('node:http adapter', () => {
  it('a handler that throws is a JSON-RPC internal error (500), and the server keeps serving', async () => {
    const res = await mcp(PORTS.node)
      .post('/mcp')
      .auth(tokens.node!, { type: 'bearer' })
      .send({ jsonrpc: '2.0', id: 1, method: 'test/throw' })
      .expect(500);
    expect(res.body).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32603, message: 'Internal error' } });
    await mcp(PORTS.node).post('/mcp').auth(tokens.node!, { type: 'bearer' }).send(call('read_logs')).expect(200);
  });
});

describe('when baton cannot be reached', () => {
  it('an unreachable JWKS is 503 temporarily_unavailable (the token is not at fault); a forged kid is still 401', async () => {
    const token = tokens.express!;
    const unreachable = createMcpAuth({
      issuer: ISSUER,
      resource: MCP.express,
      jwksUri: 'http://127.0.0.1:9/jwks', // the discard port: nothing listens
    });
    const req = {
      httpMethod: 'POST',
      url: MCP.express,
      authorization: `Bearer ${token}`,
      dpop: undefined,
      mcpMethod: undefined,
      mcpName: undefined,
      body: call('read_logs'),
    };
    const down = await unreachable.authorize(req);
    expect(down).toMatchObject({
      ok: false,
      status: 503,
      headers: { 'Retry-After': '5' },
      body: { error: 'temporarily_unavailable' },
    });
    // baton is up: a token signed by a key baton never had is refused as invalid_token, not 503
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ ...decodeJwt(token) })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'not-a-baton-key' })
      .sign(privateKey);
    const refused = await kitFor(MCP.express).authorize({ ...req, authorization: `Bearer ${forged}` });
    expect(refused).toMatchObject({ ok: false, status: 401, body: { error: 'invalid_token' } });
  });
});

describe('memoryReplayStore', () => {
  it('claims an id once until it expires, and forgets the oldest ids first when full', async () => {
    const store = memoryReplayStore(3);
    expect(await store.claim('a', 60)).toBe(true);
    expect(await store.claim('a', 60)).toBe(false);
    expect(await store.claim('b', 60)).toBe(true);
    expect(await store.claim('c', 60)).toBe(true);
    expect(await store.claim('d', 60)).toBe(true); // full: 'a' is forgotten
    expect(await store.claim('a', 60)).toBe(true);
    expect(await store.claim('d', 60)).toBe(false);
    expect(await store.claim('e', 0)).toBe(true); // expires at once
    expect(await store.claim('e', 60)).toBe(true);
  });
});

describe('the koa and node:http adapters', () => {
  it.each([
    ['koa', PORTS.koa],
    ['node', PORTS.node],
  ] as const)('%s: metadata, 401 without a token, 200 with one', async (name, port) => {
    await mcp(port)
      .get('/.well-known/oauth-protected-resource/mcp')
      .expect(200)
      .expect((r) => expect(r.body.resource).toBe(MCP[name]));
    await mcp(port).post('/mcp').send(call('read_logs')).expect(401);
    const ok = await mcp(port).post('/mcp').auth(tokens[name]!, { type: 'bearer' }).send(call('read_logs')).expect(200);
    expect(ok.body.result.caller.subject).toBe(account);
    await mcp(port).post('/mcp').auth(tokens[name]!, { type: 'bearer' }).send(call('trigger_incident')).expect(403);
  });
});

describe('downstream: the exchange helper and verify()', () => {
  it('the MCP server exchanges the user token; the cost service verifies the chain; revocation is honoured', async () => {
    const exchange = createExchanger({ issuer: ISSUER, clientId: 'logs-mcp', clientSecret: SECRET });
    const first = await exchange(tokens.express!, COST);
    const again = await exchange(tokens.express!, COST);
    expect(again.accessToken).toBe(first.accessToken); // cached until shortly before expiry
    const verify = createVerifier({
      issuer: ISSUER,
      audience: COST,
      introspection: { clientId: 'cost-svc', clientSecret: SECRET, cacheSeconds: 0 },
    });
    const caller = await verify(first.accessToken);
    expect(caller).toMatchObject({
      subject: account,
      clientId: 'logs-mcp',
      actor: 'logs-mcp',
      actorChain: ['logs-mcp', 'ide-agent'],
      scopes: ['cost.read'],
      idp: { sub: 'alice' },
    });
    await request(baton.url)
      .post('/token/revocation')
      .auth('cost-svc', SECRET)
      .type('form')
      .send({ token: first.accessToken })
      .expect(200);
    await expect(verify(first.accessToken)).rejects.toMatchObject({
      code: 'invalid_token',
      message: 'the token has been revoked',
    });
    await expect(createVerifier({ issuer: ISSUER, audience: COST })(tokens.express!)).rejects.toBeInstanceOf(
      TokenError,
    );
    await expect(exchange(tokens.koa!, 'https://unknown.example.com')).rejects.toMatchObject({
      status: 400,
      error: 'invalid_target',
    });
  });

  it('the exchange helper authenticates with private_key_jwt (RFC 7523 §2.2)', async () => {
    const exchange = createExchanger({
      issuer: ISSUER,
      clientId: 'logs-mcp-pk',
      privateKey: { key: clientKey.privateKey, alg: 'ES256', kid: 'pk1' },
    });
    const hop = await exchange(tokens.node!, COST);
    expect(decodeJwt(hop.accessToken)).toMatchObject({
      client_id: 'logs-mcp-pk',
      act: { sub: 'logs-mcp-pk', act: { sub: 'ide-agent' } },
    });
    const stranger = await generateKeyPair('ES256');
    const forged = createExchanger({
      issuer: ISSUER,
      clientId: 'logs-mcp-pk',
      privateKey: { key: stranger.privateKey, alg: 'ES256', kid: 'pk1' },
    });
    await expect(forged(tokens.node!, COST)).rejects.toMatchObject({ status: 401, error: 'invalid_client' });
  });

  it('baton unreachable, or not answering JSON, is an ExchangeError too (503 temporarily_unavailable)', async () => {
    const down = createExchanger({ issuer: 'http://127.0.0.1:9', clientId: 'logs-mcp', clientSecret: SECRET });
    await expect(down(tokens.node!, COST)).rejects.toMatchObject({
      name: 'ExchangeError',
      status: 503,
      error: 'temporarily_unavailable',
    });
    const proxy = createExchanger({
      issuer: ISSUER,
      clientId: 'logs-mcp',
      clientSecret: SECRET,
      fetch: () => Promise.resolve(new Response('<html>502 Bad Gateway</html>', { status: 502 })),
    });
    await expect(proxy(tokens.node!, COST)).rejects.toMatchObject({
      name: 'ExchangeError',
      status: 502,
      error: 'server_error',
      message: 'server_error: HTTP 502, not JSON',
    });
  });

  it('an actor_token signed by the client names a workload it vouches for, by policy (RFC 8693 §2.1)', async () => {
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'pk1' })
        .setIssuer('logs-mcp-pk')
        .setAudience(ISSUER)
        .setIssuedAt()
        .setExpirationTime('2m')
        .sign(clientKey.privateKey);
    const assertion = () =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'pk1' })
        .setIssuer('logs-mcp-pk')
        .setSubject('logs-mcp-pk')
        .setAudience(ISSUER)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(clientKey.privateKey);
    const exchangeWith = async (actorToken: string) =>
      request(baton.url)
        .post('/token')
        .type('form')
        .send({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: tokens.node!,
          subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          resource: COST,
          actor_token: actorToken,
          actor_token_type: 'urn:ietf:params:oauth:token-type:jwt',
          client_id: 'logs-mcp-pk',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: await assertion(),
        });
    const ok = await exchangeWith(await sign({ sub: 'spiffe://corp/logs-mcp/pod-7' }));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(decodeJwt(ok.body.access_token).act).toEqual({
      sub: 'spiffe://corp/logs-mcp/pod-7',
      act: { sub: 'ide-agent' },
    });
    const other = await exchangeWith(await sign({ sub: 'spiffe://corp/billing/pod-1' }));
    expect(other.body).toEqual({
      error: 'invalid_request',
      error_description: 'actor_token does not identify the authenticated client',
    });
  });
});
