/**
 * RFC 8693 token exchange with a full actor chain: alice → ide-agent → logs MCP → cost service → ticketing,
 * scopes only narrowing, expiry only shrinking, `act` built from verified tokens only, and every refusal
 * with its RFC 8693 §2.2.2 error. Everything runs on each storage backend (lineage rows, revocation state
 * and DPoP replay records live in the store).
 */
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type JSONWebKeySet,
  type JWK,
} from 'jose';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/main.ts';
import type { Config } from '../src/config/schema.ts';
import {
  BACKENDS,
  makeConfig,
  memoryLogger,
  RESOURCES,
  SERVICE_SECRET,
  startTestServer,
  type TestServer,
} from './helpers.ts';
import { codeForm, seedAccount, seedCode } from './seed.ts';
import { STATE_CACHE_MS } from '../src/provider/token-state.ts';
import { collectLineage } from '../src/provider/lineage.ts';
import { setTimeout as sleep } from 'node:timers/promises';

/** revocation state is cached per process for STATE_CACHE_MS: a change reaches every request within it */
const settle = () => sleep(STATE_CACHE_MS + 100);

const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const COST = 'https://cost.internal.example.com';
const TICKETS = 'https://tickets.internal.example.com';
const ANALYTICS = 'https://analytics.mcp.example.com/mcp';
const SUPPORT = 'https://support.internal.example.com';
const PARTNER_AS = 'https://as.partner.example.com';
const ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
const SECRET = 'exchange-test-secret-0123456789abcdef';
const ISSUER = 'http://127.0.0.1:9400';

describe.each(BACKENDS)('on $name storage', (backend) => {
  let baton: TestServer | undefined;
  let server: RunningServer;
  let originalConfig: Config;
  let alice: { access_token: string; refresh_token: string };
  let aliceAccount: string;
  const logs = memoryLogger();

  const client = (client_id: string, kind: string) => ({
    client_id,
    kind,
    auth: 'client_secret_basic',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
  });

  beforeAll(async () => {
    const base = makeConfig();
    const config = {
      metrics: { enabled: true, port: 0 },
      resources: [
        { ...RESOURCES[0]!, client_id: 'logs-mcp' },
        { ...RESOURCES[1]!, client_id: 'cost-svc' },
        { uri: TICKETS, name: 'Ticketing', scopes: ['tickets.create', 'tickets.read'] },
        { uri: ANALYTICS, name: 'Analytics', scopes: ['analytics.query'] },
        { uri: SUPPORT, name: 'Support desk', scopes: ['support.read'], client_id: 'impersonator' },
      ],
      clients: {
        static: [
          ...base.clients.static,
          // its own client_credentials token (an actor token below) needs a scope of its own
          { ...client('logs-mcp', 'mcp_server'), scopes: ['cost.read'] },
          client('cost-svc', 'service'),
          client('rogue-mcp', 'mcp_server'),
          client('impersonator', 'service'),
        ],
      },
      delegation: [
        { actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'], max_chain: 3 },
        { actor: 'logs-mcp', targets: [ANALYTICS], scopes: ['analytics.query'], max_chain: 1 },
        { actor: 'logs-mcp', targets: [SUPPORT], scopes: ['support.read'] },
        { actor: 'cost-svc', targets: [TICKETS], scopes: ['tickets.create'], max_chain: 3 },
        { actor: 'rogue-mcp', targets: [COST], scopes: ['cost.read'] },
        { actor: 'impersonator', targets: [COST], scopes: ['cost.read'], impersonation: true },
      ],
      identity_chaining: [{ audience: PARTNER_AS, clients: ['logs-mcp'], scopes: ['partner.read'] }],
    };
    baton = await startTestServer({ backend: backend.name, logs, config });
    server = baton.server;
    originalConfig = baton.config;
    aliceAccount = await seedAccount(server.accounts);
    const seed = await seedCode(server.provider(), aliceAccount);
    alice = (await request(server.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body;
  });
  afterAll(async () => {
    await baton?.close();
  });

  const exchange = (actor: string, form: Record<string, string | string[]>) =>
    request(server.url)
      .post('/token')
      .auth(actor, SECRET)
      .type('form')
      .send({ grant_type: TE, subject_token_type: AT, ...form });

  const jwks = async () => createLocalJWKSet((await request(server.url).get('/jwks')).body as JSONWebKeySet);

  /** A token signed with baton's own active key (a forgery only the server could make; tests hostile shapes). */
  async function signWithServerKey(payload: Record<string, unknown>, typ = 'at+jwt'): Promise<string> {
    const set = await server.keystore.load();
    const jwk = set.jwks[0] as JWK;
    const key = await importJWK(jwk, 'ES256');
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ, kid: jwk.kid }).sign(key);
  }

  describe('token exchange: the chain alice → ide-agent → logs MCP → cost service → ticketing', () => {
    /** the first hop: the logs MCP server exchanges Alice's token for a cost-service token */
    const costHop = async () =>
      (
        await exchange('logs-mcp', { subject_token: alice.access_token, resource: COST, scope: 'cost.read' }).expect(
          200,
        )
      ).body.access_token as string;

    it('the logs MCP server exchanges Alice token for a cost-service token', async () => {
      const res = await exchange('logs-mcp', {
        subject_token: alice.access_token,
        resource: COST,
        scope: 'cost.read',
      }).expect(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toMatchObject({ issued_token_type: AT, token_type: 'Bearer', scope: 'cost.read' });
      expect(res.body.refresh_token).toBeUndefined();
      const { payload, protectedHeader } = await jwtVerify(res.body.access_token, await jwks(), {
        issuer: ISSUER,
        audience: COST,
        typ: 'at+jwt',
      });
      const subject = decodeJwt(alice.access_token);
      expect(protectedHeader.typ).toBe('at+jwt');
      expect(payload).toMatchObject({
        sub: aliceAccount,
        client_id: 'logs-mcp',
        scope: 'cost.read',
        act: { sub: 'logs-mcp', act: { sub: 'ide-agent' } },
        idp: subject.idp as object,
        roles: ['developer'],
        gid: subject.gid as string,
        client_kind: 'mcp_server',
      });
      expect(payload.exp!).toBeLessThanOrEqual(subject.exp!);
      expect(res.body.expires_in).toBeLessThanOrEqual(300);
      // counted by target (the first exchange of this file)
      const metrics = await (await fetch(server.metricsUrl!)).text();
      expect(metrics).toContain(`baton_token_exchanges_total{audience="${COST}"} 1\n`);
      const lineage = await server.storage.db('token_lineage').where({ jti: payload.jti }).first();
      expect(lineage).toMatchObject({
        parent_jti: subject.jti,
        grant_id: subject.gid,
        actor: 'logs-mcp',
        audience: COST,
        depth: 2,
      });
    });

    it('the cost service exchanges that for a ticketing token: a three-deep act, expiry only shrinking', async () => {
      const costToken = await costHop();
      const res = await exchange('cost-svc', { subject_token: costToken, audience: TICKETS }).expect(200);
      const payload = decodeJwt(res.body.access_token);
      expect(payload).toMatchObject({
        sub: aliceAccount,
        aud: TICKETS,
        client_id: 'cost-svc',
        scope: 'tickets.create',
        act: { sub: 'cost-svc', act: { sub: 'logs-mcp', act: { sub: 'ide-agent' } } },
      });
      expect(payload.exp!).toBeLessThanOrEqual(decodeJwt(costToken).exp!);
    });

    it('scopes only narrow: asking for more than the hop allows is cut, asking only for that is invalid_scope', async () => {
      const wide = await exchange('logs-mcp', {
        subject_token: alice.access_token,
        resource: COST,
        scope: 'cost.read cost.write',
      }).expect(200);
      expect(wide.body.scope).toBe('cost.read');
      const only = await exchange('logs-mcp', {
        subject_token: alice.access_token,
        resource: COST,
        scope: 'cost.write',
      }).expect(400);
      expect(only.body).toMatchObject({ error: 'invalid_scope' });
    });

    it('a scope of no scope-token (RFC 6749 §3.3) is invalid_scope: no exchanged token without a scope', async () => {
      const res = await exchange('logs-mcp', { subject_token: alice.access_token, resource: COST, scope: ' ' }).expect(
        400,
      );
      expect(res.body).toEqual({ error: 'invalid_scope', error_description: 'scope contains invalid characters' });
    });

    it('an act sent by the client is never copied', async () => {
      const res = await exchange('logs-mcp', {
        subject_token: alice.access_token,
        resource: COST,
        act: JSON.stringify({ sub: 'admin' }),
        actor: 'admin',
      }).expect(200);
      expect(decodeJwt(res.body.access_token).act).toEqual({ sub: 'logs-mcp', act: { sub: 'ide-agent' } });
    });

    it('a chain deeper than the policy allows is invalid_request', async () => {
      const res = await exchange('logs-mcp', { subject_token: alice.access_token, resource: ANALYTICS }).expect(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: 'the delegation chain is too long' });
    });

    it('impersonation only for a client explicitly allowed: no act', async () => {
      const support = await exchange('logs-mcp', { subject_token: alice.access_token, resource: SUPPORT }).expect(200);
      expect(decodeJwt(support.body.access_token).act).toEqual({ sub: 'logs-mcp', act: { sub: 'ide-agent' } });
      const res = await exchange('impersonator', { subject_token: support.body.access_token, resource: COST }).expect(
        200,
      );
      const payload = decodeJwt(res.body.access_token);
      expect(payload).toMatchObject({ sub: aliceAccount, client_id: 'impersonator', aud: COST, scope: 'cost.read' });
      expect(payload.act).toBeUndefined();
    });
  });

  describe('token exchange: refusals (RFC 8693 §2.2.2)', () => {
    const refused = async (
      actor: string,
      form: Record<string, string | string[]>,
      error: string,
      description?: string,
    ) => {
      const res = await exchange(actor, form);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe(error);
      if (description) expect(res.body.error_description).toBe(description);
      expect(res.body.access_token).toBeUndefined();
      return res;
    };

    it('a client that does not serve the subject token audience (no pivoting)', async () => {
      await refused(
        'rogue-mcp',
        { subject_token: alice.access_token, resource: COST },
        'invalid_request',
        'subject_token was not issued to this client',
      );
      await refused(
        'cost-svc',
        { subject_token: alice.access_token, resource: TICKETS },
        'invalid_request',
        'subject_token was not issued to this client',
      );
    });

    it('unknown, several, or not-allowed targets are invalid_target', async () => {
      await refused(
        'logs-mcp',
        { subject_token: alice.access_token, resource: 'https://unknown.example.com' },
        'invalid_target',
      );
      await refused('logs-mcp', { subject_token: alice.access_token, resource: [COST, ANALYTICS] }, 'invalid_target');
      await refused(
        'logs-mcp',
        { subject_token: alice.access_token, resource: COST, audience: TICKETS },
        'invalid_target',
      );
      await refused('logs-mcp', { subject_token: alice.access_token, resource: TICKETS }, 'invalid_target');
      await refused('logs-mcp', { subject_token: alice.access_token }, 'invalid_target');
    });

    it('missing or malformed parameters are invalid_request', async () => {
      await refused('logs-mcp', { resource: COST }, 'invalid_request');
      await refused(
        'logs-mcp',
        { subject_token: alice.access_token, subject_token_type: 'urn:x', resource: COST },
        'invalid_request',
        'unsupported subject_token_type',
      );
      await refused(
        'logs-mcp',
        { subject_token: 'not-a-jwt', resource: COST },
        'invalid_request',
        'subject_token is invalid',
      );
      await refused(
        'logs-mcp',
        { subject_token: alice.access_token, resource: COST, actor_token: alice.access_token },
        'invalid_request',
        'actor_token and actor_token_type go together',
      );
      await refused(
        'logs-mcp',
        { subject_token: alice.access_token, resource: COST, actor_token: alice.access_token, actor_token_type: AT },
        'invalid_request',
        'actor_token does not identify the authenticated client',
      );
      await refused(
        'logs-mcp',
        {
          subject_token: alice.access_token,
          resource: COST,
          requested_token_type: 'urn:ietf:params:oauth:token-type:saml2',
        },
        'invalid_request',
      );
    });

    it('an actor_token that is the actor own token is accepted', async () => {
      const own = await request(server.url)
        .post('/token')
        .auth('logs-mcp', SECRET)
        .type('form')
        .send({ grant_type: 'client_credentials', resource: COST })
        .expect(200);
      await exchange('logs-mcp', {
        subject_token: alice.access_token,
        resource: COST,
        actor_token: own.body.access_token,
        actor_token_type: AT,
      }).expect(200);
    });

    it('forged subject tokens: alg none, HS256 with the public key, wrong typ, expired, another issuer', async () => {
      const claims = { ...decodeJwt(alice.access_token) };
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const none = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(claims)}.`;
      await refused('logs-mcp', { subject_token: none, resource: COST }, 'invalid_request', 'subject_token is invalid');
      const pub = (await request(server.url).get('/jwks')).body.keys[0];
      const hs = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: pub.kid })
        .sign(new TextEncoder().encode(JSON.stringify(pub)));
      await refused('logs-mcp', { subject_token: hs, resource: COST }, 'invalid_request', 'subject_token is invalid');
      await refused(
        'logs-mcp',
        { subject_token: await signWithServerKey(claims, 'JWT'), resource: COST },
        'invalid_request',
        'subject_token is invalid',
      );
      const now = Math.floor(Date.now() / 1000);
      await refused(
        'logs-mcp',
        { subject_token: await signWithServerKey({ ...claims, iat: now - 600, exp: now - 300 }), resource: COST },
        'invalid_request',
        'subject_token is invalid',
      );
      await refused(
        'logs-mcp',
        { subject_token: await signWithServerKey({ ...claims, iss: 'https://evil.example.com' }), resource: COST },
        'invalid_request',
        'subject_token is invalid',
      );
      const tampered = alice.access_token.slice(0, -4) + (alice.access_token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
      await refused(
        'logs-mcp',
        { subject_token: tampered, resource: COST },
        'invalid_request',
        'subject_token is invalid',
      );
    });

    it('a subject token verified once is still refused once it expires (the verification cache ends at exp)', async () => {
      const now = Math.floor(Date.now() / 1000);
      const shortLived = await signWithServerKey({ ...decodeJwt(alice.access_token), jti: randomUUID(), exp: now + 2 });
      const first = await exchange('logs-mcp', { subject_token: shortLived, resource: COST }).expect(200);
      expect(decodeJwt(first.body.access_token).exp).toBeLessThanOrEqual(now + 2);
      await sleep((now + 3) * 1000 - Date.now());
      const before = logs.lines().length;
      await refused(
        'logs-mcp',
        { subject_token: shortLived, resource: COST },
        'invalid_request',
        'subject_token is invalid',
      );
      // refused at verification (jose's exp check), not by the cached payload reaching the exchange rules
      expect(logs.lines().slice(before).join('\n')).toContain('subject_token: ERR_JWT_EXPIRED');
    });

    it('may_act in the subject token is honoured', async () => {
      const claims = { ...decodeJwt(alice.access_token), may_act: { sub: 'someone-else' } };
      await refused(
        'logs-mcp',
        { subject_token: await signWithServerKey(claims), resource: COST },
        'invalid_request',
        'this client may not act for the subject',
      );
    });

    it('a client credentials token represents no user', async () => {
      const own = await request(server.url)
        .post('/token')
        .auth('cost-reporter', SERVICE_SECRET)
        .type('form')
        .send({ grant_type: 'client_credentials', resource: COST })
        .expect(200);
      await refused(
        'cost-svc',
        { subject_token: own.body.access_token, resource: TICKETS },
        'invalid_request',
        'subject_token does not represent a user',
      );
    });

    it('a disabled user', async () => {
      await server.accounts.setDisabled(aliceAccount, true);
      await settle();
      try {
        await refused('logs-mcp', { subject_token: alice.access_token, resource: COST }, 'invalid_request');
      } finally {
        await server.accounts.setDisabled(aliceAccount, false);
        await settle();
      }
    });

    it('a revoked subject token (its grant is gone), and every hop derived from it', async () => {
      const seed = await seedCode(server.provider(), aliceAccount);
      const tokens = (await request(server.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body;
      const hop = (await exchange('logs-mcp', { subject_token: tokens.access_token, resource: COST }).expect(200)).body
        .access_token as string;
      const grant = await server.provider().Grant.find(seed.grantId);
      await grant!.destroy();
      await settle();
      await refused(
        'logs-mcp',
        { subject_token: tokens.access_token, resource: COST },
        'invalid_request',
        'subject_token has been revoked',
      );
      await refused(
        'cost-svc',
        { subject_token: hop, resource: TICKETS },
        'invalid_request',
        'subject_token has been revoked',
      );
    });

    it('every refusal is logged with its reason and never the token', async () => {
      // a pivot, and a chain deeper than the rule allows
      await exchange('rogue-mcp', { subject_token: alice.access_token, resource: COST }).expect(400);
      await exchange('logs-mcp', { subject_token: alice.access_token, resource: ANALYTICS }).expect(400);
      const lines = logs.lines().filter((l) => l.includes('"event":"grant.error"'));
      expect(
        lines.some((l) => l.includes('subject audience https://logs.mcp.example.com/mcp is not served by rogue-mcp')),
      ).toBe(true);
      expect(lines.some((l) => l.includes('chain depth 2 > max_chain 1'))).toBe(true);
      expect(logs.lines().join('\n')).not.toContain(alice.access_token);
    });
  });

  describe('discovery', () => {
    it('lists token exchange, jwt-bearer and the ID-JAG grant profile', async () => {
      const res = await request(server.url).get('/.well-known/oauth-authorization-server').expect(200);
      expect(res.body.grant_types_supported).toEqual(
        expect.arrayContaining([TE, 'urn:ietf:params:oauth:grant-type:jwt-bearer']),
      );
      expect(res.body.authorization_grant_profiles_supported).toEqual(['urn:ietf:params:oauth:grant-profile:id-jag']);
    });
  });

  describe('introspection (RFC 7662) and revocation (RFC 7009) of JWT access tokens', () => {
    const introspect = (as: string, token: string, secret = SECRET) =>
      request(server.url).post('/token/introspection').auth(as, secret).type('form').send({ token });
    const revoke = (as: string, token: string) =>
      request(server.url).post('/token/revocation').auth(as, SECRET).type('form').send({ token });

    it('the resource server a token is for sees it active, with act, the IdP anchor and the client kind', async () => {
      const hop = (await exchange('logs-mcp', { subject_token: alice.access_token, resource: COST }).expect(200)).body
        .access_token as string;
      const res = await introspect('cost-svc', hop);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toMatchObject({
        active: true,
        token_type: 'Bearer',
        iss: ISSUER,
        sub: aliceAccount,
        aud: COST,
        client_id: 'logs-mcp',
        scope: 'cost.read',
        act: { sub: 'logs-mcp', act: { sub: 'ide-agent' } },
        idp: decodeJwt(alice.access_token).idp as object,
        client_kind: 'mcp_server',
      });
    });

    it('anyone else learns only active: false', async () => {
      const hop = (await exchange('logs-mcp', { subject_token: alice.access_token, resource: COST }).expect(200)).body
        .access_token as string;
      await introspect('rogue-mcp', hop).expect(200, { active: false });
      await introspect('cost-svc', 'garbage').expect(200, { active: false });
      await introspect('cost-svc', hop, 'wrong-secret-xxxxxxxxxxxxxxxxxxxxxx').expect(401);
    });

    it('revoking a token revokes every token exchanged from it (and leaves its siblings alone)', async () => {
      const seed = await seedCode(server.provider(), aliceAccount);
      const root = (await request(server.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body
        .access_token as string;
      const hop1 = (await exchange('logs-mcp', { subject_token: root, resource: COST }).expect(200)).body
        .access_token as string;
      const hop2 = (await exchange('cost-svc', { subject_token: hop1, resource: TICKETS }).expect(200)).body
        .access_token as string;
      const sibling = (await exchange('logs-mcp', { subject_token: root, resource: COST }).expect(200)).body
        .access_token as string;
      await introspect('cost-svc', hop1)
        .expect(200)
        .expect((r) => expect(r.body.active).toBe(true));

      // the cost service revokes the token it holds: it and its descendant go; the sibling stays
      await revoke('cost-svc', hop1).expect(200);
      await introspect('cost-svc', hop1).expect(200, { active: false });
      await introspect('cost-svc', hop2).expect(200, { active: false });
      await refused('cost-svc', { subject_token: hop1, resource: TICKETS });
      await introspect('cost-svc', sibling)
        .expect(200)
        .expect((r) => expect(r.body.active).toBe(true));
      expect(logs.lines().join('\n')).toMatch(/"revoked":2,"by":"cost-svc","msg":"token.revoked"/);
    });

    it('a client may not revoke a token that is neither its own nor for it', async () => {
      const hop = (await exchange('logs-mcp', { subject_token: alice.access_token, resource: COST }).expect(200)).body
        .access_token as string;
      await revoke('rogue-mcp', hop).expect(200); // RFC 7009 §2.2: 200 regardless
      await introspect('cost-svc', hop)
        .expect(200)
        .expect((r) => expect(r.body.active).toBe(true));
    });

    it('a disabled account makes every token of its user inactive', async () => {
      const hop = (await exchange('logs-mcp', { subject_token: alice.access_token, resource: COST }).expect(200)).body
        .access_token as string;
      await server.accounts.setDisabled(aliceAccount, true);
      await settle();
      try {
        await introspect('cost-svc', hop).expect(200, { active: false });
      } finally {
        await server.accounts.setDisabled(aliceAccount, false);
        await settle();
      }
    });

    async function refused(actor: string, form: Record<string, string>) {
      const res = await exchange(actor, form).expect(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: 'subject_token has been revoked' });
    }
  });

  describe('identity chaining: baton issues an ID-JAG for a foreign authorization server', () => {
    it('returns a signed ID-JAG (token_type N_A) for a configured audience', async () => {
      const res = await exchange('logs-mcp', {
        subject_token: alice.access_token,
        requested_token_type: ID_JAG,
        audience: PARTNER_AS,
        resource: 'https://api.partner.example.com',
        scope: 'partner.read',
      }).expect(200);
      expect(res.body).toMatchObject({ issued_token_type: ID_JAG, token_type: 'N_A', scope: 'partner.read' });
      expect(decodeProtectedHeader(res.body.access_token).typ).toBe('oauth-id-jag+jwt');
      const { payload } = await jwtVerify(res.body.access_token, await jwks(), {
        issuer: ISSUER,
        audience: PARTNER_AS,
        typ: 'oauth-id-jag+jwt',
      });
      expect(payload).toMatchObject({
        sub: aliceAccount,
        client_id: 'logs-mcp',
        resource: 'https://api.partner.example.com',
        scope: 'partner.read',
        act: { sub: 'logs-mcp', act: { sub: 'ide-agent' } },
      });
      expect(payload.exp!).toBeLessThanOrEqual(decodeJwt(alice.access_token).exp!);
      expect(typeof payload.jti).toBe('string');
    });

    it('an audience without a rule, or a client the rule does not name, is invalid_target', async () => {
      const other = await exchange('logs-mcp', {
        subject_token: alice.access_token,
        requested_token_type: ID_JAG,
        audience: 'https://as.unknown.example.com',
      }).expect(400);
      expect(other.body.error).toBe('invalid_target');
      const support = await exchange('logs-mcp', { subject_token: alice.access_token, resource: SUPPORT }).expect(200);
      const notAllowed = await exchange('impersonator', {
        subject_token: support.body.access_token,
        requested_token_type: ID_JAG,
        audience: PARTNER_AS,
      }).expect(400);
      expect(notAllowed.body.error).toBe('invalid_target');
    });

    it('discovery lists the ID-JAG token type for identity chaining', async () => {
      const res = await request(server.url).get('/.well-known/oauth-authorization-server').expect(200);
      expect(res.body.identity_chaining_requested_token_types_supported).toEqual([ID_JAG]);
    });
  });

  describe('DPoP (RFC 9449) at the exchange', () => {
    async function proof(key: Parameters<SignJWT['sign']>[0], jwk: JWK, htu = `${ISSUER}/token`) {
      return new SignJWT({ htm: 'POST', htu, jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .setIssuedAt()
        .sign(key);
    }

    it('a proof binds the exchanged token to its key: cnf.jkt, token_type DPoP, and introspection says so', async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const jwk = await exportJWK(publicKey);
      const res = await exchange('logs-mcp', { subject_token: alice.access_token, resource: COST })
        .set('DPoP', await proof(privateKey, jwk))
        .expect(200);
      expect(res.body.token_type).toBe('DPoP');
      expect(decodeJwt(res.body.access_token).cnf).toEqual({ jkt: await calculateJwkThumbprint(jwk) });
      const intro = await request(server.url)
        .post('/token/introspection')
        .auth('cost-svc', SECRET)
        .type('form')
        .send({ token: res.body.access_token })
        .expect(200);
      expect(intro.body).toMatchObject({
        active: true,
        token_type: 'DPoP',
        cnf: { jkt: await calculateJwkThumbprint(jwk) },
      });
    });

    it('a replayed proof and a proof for another URL are refused', async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const jwk = await exportJWK(publicKey);
      const p = await proof(privateKey, jwk);
      await exchange('logs-mcp', { subject_token: alice.access_token, resource: COST }).set('DPoP', p).expect(200);
      const replay = await exchange('logs-mcp', { subject_token: alice.access_token, resource: COST })
        .set('DPoP', p)
        .expect(400);
      expect(replay.body).toEqual({ error: 'invalid_dpop_proof', error_description: 'DPoP proof JWT Replay detected' });
      const elsewhere = await exchange('logs-mcp', { subject_token: alice.access_token, resource: COST })
        .set('DPoP', await proof(privateKey, jwk, 'https://evil.example.com/token'))
        .expect(400);
      expect(elsewhere.body.error).toBe('invalid_dpop_proof');
    });
  });

  describe('a blocked client loses its tokens', () => {
    it('blocking the agent makes every token whose actor chain passes through it inactive', async () => {
      const hop = (await exchange('logs-mcp', { subject_token: alice.access_token, resource: COST }).expect(200)).body
        .access_token as string;
      const current = server.provider(); // the same provider: only the policy changes
      await server.reloadPolicy({ ...originalConfig, clients: { ...originalConfig.clients, blocked: ['ide-agent'] } });
      try {
        const intro = await request(server.url)
          .post('/token/introspection')
          .auth('cost-svc', SECRET)
          .type('form')
          .send({ token: hop })
          .expect(200);
        expect(intro.body).toEqual({ active: false });
        expect(server.provider()).toBe(current);
      } finally {
        await server.reloadPolicy(originalConfig);
      }
      // blocking cut off every token of ide-agent's (its grants too: clients.blocked); unblocked, Alice signs
      // in again for the tests after this one
      const seed = await seedCode(server.provider(), aliceAccount);
      alice = (await request(server.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body;
    });
  });

  describe('delegation follows a policy reload', () => {
    it('a delegation rule removed by a reload stops the exchange at once; restored, it works again', async () => {
      await exchange('logs-mcp', { subject_token: alice.access_token, resource: COST }).expect(200);
      const delegation = originalConfig.delegation.filter((d) => !d.targets.includes(COST) || d.actor !== 'logs-mcp');
      await server.reloadPolicy({ ...originalConfig, delegation });
      try {
        const refused = await exchange('logs-mcp', { subject_token: alice.access_token, resource: COST }).expect(400);
        expect(refused.body).toEqual({
          error: 'invalid_target',
          error_description: 'resource indicator is missing, or unknown',
        });
        expect(logs.lines().some((l) => l.includes('"reason":"delegation_missing"'))).toBe(true);
      } finally {
        await server.reloadPolicy(originalConfig);
      }
      await exchange('logs-mcp', { subject_token: alice.access_token, resource: COST }).expect(200);
    });
  });

  describe('lineage retention', () => {
    it('rows are collected once their token expired longer ago than storage.lineage_retention_days', async () => {
      const db = server.storage.db;
      const day = 86_400_000;
      const row = (jti: string, expiredDaysAgo: number) => ({
        jti,
        parent_jti: 'retention-parent',
        grant_id: null,
        account_id: aliceAccount,
        actor: 'logs-mcp',
        audience: COST,
        depth: 1,
        expires_at: new Date(Date.now() - expiredDaysAgo * day),
      });
      const id = randomUUID();
      await db('token_lineage').insert([row(`${id}-old`, 40), row(`${id}-recent`, 10), row(`${id}-live`, -1)]);
      const left = async () =>
        (await db('token_lineage').where('jti', 'like', `${id}-%`).select('jti')).map((r) => r.jti as string).sort();

      expect(await collectLineage(db, 30)).toBeGreaterThanOrEqual(1);
      expect(await left()).toEqual([`${id}-live`, `${id}-recent`]);
      await collectLineage(db, 0);
      expect(await left()).toEqual([`${id}-live`]);
    });
  });
});
