/**
 * XAA: ID-JAG redemption (RFC 7523 jwt-bearer, draft-ietf-oauth-identity-assertion-authz-grant-04 §4.4, MCP
 * Enterprise-Managed Authorization). The enterprise IdP is a test IdP whose key the test controls. Every
 * test runs on each storage backend (embedded, PostgreSQL, PostgreSQL + Redis: the single-use record lives
 * in the store); on the shared ones, a replay sent to a second server process is refused too.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/main.ts';
import { STATE_CACHE_MS } from '../src/provider/token-state.ts';
import { BACKENDS, memoryLogger, startTestServer, type TestServer } from './helpers.ts';
import { startHostileIdp, type HostileIdp } from './idp/hostile-idp.ts';
import { startServerProcess, writeConfig, type ServerProcess } from './processes.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ISSUER = 'http://127.0.0.1:9400';
const LOGS = 'https://logs.mcp.example.com/mcp';
const SECRET = 'xaa-app-secret-0123456789abcdefghij';

let idp: HostileIdp;
let disabledIdp: HostileIdp;
beforeAll(async () => {
  [idp, disabledIdp] = await Promise.all([startHostileIdp(), startHostileIdp()]);
});
afterAll(async () => {
  await Promise.all([idp?.stop(), disabledIdp?.stop()]);
});

describe.each(BACKENDS)('XAA on $name storage', (backend) => {
  let baton: TestServer | undefined;
  let server: RunningServer;
  /** a second process on the same store (none on the embedded store: it is for one process) */
  let second: ServerProcess | undefined;
  const logs = memoryLogger();
  const shared = backend.name !== 'embedded';

  beforeAll(async () => {
    baton = await startTestServer({
      backend: backend.name,
      logs,
      config: (base) => ({
        identity_providers: [
          ...base.identity_providers,
          { id: 'corp', type: 'oidc', issuer: idp.issuer, client_id: 'baton', accept_id_jag: true },
          {
            id: 'old',
            type: 'oidc',
            issuer: disabledIdp.issuer,
            client_id: 'baton',
            accept_id_jag: true,
            enabled: false,
          },
        ],
        role_bindings: {
          ...base.role_bindings,
          corp: { developers: ['developer'], oncall: ['sre'] },
          old: { developers: ['developer'] },
        },
        clients: {
          static: [
            ...base.clients.static,
            { client_id: 'xaa-app', kind: 'agent', client_secret: SECRET, grant_types: [JWT_BEARER] },
            { client_id: 'other-app', kind: 'agent', client_secret: SECRET, grant_types: [JWT_BEARER] },
            {
              client_id: 'dpop-app',
              kind: 'agent',
              client_secret: SECRET,
              grant_types: [JWT_BEARER],
              dpop_bound_access_tokens: true,
            },
            { client_id: 'portal-app', kind: 'app', client_secret: SECRET, grant_types: ['client_credentials'] },
          ],
        },
        delegation: [{ actor: 'portal-app', targets: [LOGS], scopes: ['logs.read'] }],
      }),
    });
    server = baton.server;
    if (shared) second = await startServerProcess(writeConfig({ ...baton.config, logging: { level: 'info' } }));
    for (const [issuer, sub, groups] of [
      [idp.issuer, 'alice-xaa', ['developers']],
      [idp.issuer, 'bob-xaa', ['oncall']],
      [disabledIdp.issuer, 'alice-xaa', ['developers']],
    ] as const) {
      await server.accounts.recordLogin({
        idpId: issuer === idp.issuer ? 'corp' : 'old',
        idpIssuer: issuer,
        idpSubject: sub,
        profile: {},
        groups: [...groups],
        roles: [],
      });
    }
  }, 60_000);
  afterAll(async () => {
    await second?.stop();
    await baton?.close();
  });

  function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: idp.issuer,
      sub: 'alice-xaa',
      aud: ISSUER,
      client_id: 'xaa-app',
      jti: randomUUID(),
      iat: now,
      exp: now + 120,
      resource: LOGS,
      scope: 'logs.read incidents.trigger',
      ...over,
    };
  }

  const redeem = (assertion: string, extra: Record<string, string> = {}, url = server.url, clientId = 'xaa-app') =>
    request(url)
      .post('/token')
      .auth(clientId, SECRET)
      .type('form')
      .send({ grant_type: JWT_BEARER, assertion, ...extra });

  describe('ID-JAG redemption', () => {
    it('a valid ID-JAG gets an audience-restricted token: scope = requested ∩ ID-JAG ∩ roles, no refresh token', async () => {
      const res = await redeem(await idp.sign(claims()), {
        scope: 'logs.read incidents.trigger logs.debug.write',
      }).expect(200);
      expect(res.body).toMatchObject({ token_type: 'Bearer', scope: 'logs.read', expires_in: 300, resource: LOGS });
      expect(res.body.refresh_token).toBeUndefined();
      expect(decodeJwt(res.body.access_token)).toMatchObject({
        aud: LOGS,
        client_id: 'xaa-app',
        scope: 'logs.read',
        idp: { iss: idp.issuer, sub: 'alice-xaa' },
        roles: ['developer'],
        client_kind: 'agent',
      });
    });

    it('Bob (oncall) gets incidents.trigger from the same kind of assertion', async () => {
      const res = await redeem(await idp.sign(claims({ sub: 'bob-xaa' }))).expect(200);
      expect(res.body.scope).toBe('logs.read incidents.trigger');
    });

    it('an aud given as an array of exactly our issuer is accepted', async () => {
      await redeem(await idp.sign(claims({ aud: [ISSUER] }))).expect(200);
    });

    it('a replay is refused (and, on a shared store, on a second process too)', async () => {
      const assertion = await idp.sign(claims());
      await redeem(assertion).expect(200);
      const here = await redeem(assertion).expect(400);
      expect(here.body.error).toBe('invalid_grant');
      if (second) {
        const there = await redeem(assertion, {}, second.url).expect(400);
        expect(there.body.error).toBe('invalid_grant');
      }
    });

    it('concurrent redemptions of one ID-JAG (on two processes, on a shared store): exactly one wins', async () => {
      const assertion = await idp.sign(claims());
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => redeem(assertion, {}, i % 2 && second ? second.url : server.url)),
      );
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      expect(results.filter((r) => r.status === 400 && r.body.error === 'invalid_grant')).toHaveLength(9);
    });

    it('a jti of any characters is single use too (its record key is a hash), and never a server error', async () => {
      for (const jti of ['a\u0000b', 'x'.repeat(2000), 'é/\\%00']) {
        const assertion = await idp.sign(claims({ jti }));
        const first = await redeem(assertion);
        expect(first.status, JSON.stringify(first.body)).toBe(200);
        const again = await redeem(assertion);
        expect(again.status).toBe(400);
        expect(again.body.error).toBe('invalid_grant');
      }
    });

    it('ids that would collide if joined without a length prefix are distinct records', async () => {
      // replayKey hashes the length-prefixed parts: (iss, jti) pairs never share a record
      const jti = randomUUID();
      await redeem(await idp.sign(claims({ jti }))).expect(200);
      await redeem(await idp.sign(claims({ jti: `${jti}x` }))).expect(200);
    });
  });

  describe('a client registered with dpop_bound_access_tokens (RFC 9449 §5.2)', () => {
    it('gets no token without a DPoP proof, and a DPoP-bound one with it', async () => {
      const refused = await redeem(await idp.sign(claims({ client_id: 'dpop-app' })), {}, server.url, 'dpop-app');
      expect(refused.status).toBe(400);
      expect(refused.body).toEqual({ error: 'invalid_grant', error_description: 'grant request is invalid' });
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const jwk = await exportJWK(publicKey);
      const proof = await new SignJWT({ htm: 'POST', htu: `${ISSUER}/token`, jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .setIssuedAt()
        .sign(privateKey);
      const res = await redeem(await idp.sign(claims({ client_id: 'dpop-app' })), {}, server.url, 'dpop-app')
        .set('DPoP', proof)
        .expect(200);
      expect(res.body.token_type).toBe('DPoP');
      expect(decodeJwt(res.body.access_token).cnf).toEqual({ jkt: await calculateJwkThumbprint(jwk) });
    });
  });

  describe('ID-JAG refusals: each invalid_grant (RFC 7521 §5.2), with the reason logged', () => {
    const cases: [string, () => Promise<string>, string][] = [
      ['alg none', async () => new UnsecuredJWT(claims()).encode(), 'typ undefined is not oauth-id-jag+jwt'],
      ['a wrong typ', async () => idp.sign(claims(), { typ: 'JWT' }), 'typ JWT is not oauth-id-jag+jwt'],
      [
        'a key the IdP does not publish',
        async () => idp.sign(claims(), {}, true),
        'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      ],
      ['another audience', async () => idp.sign(claims({ aud: 'https://other-as.example.com' })), 'is not exactly'],
      [
        'a multi-valued audience',
        async () => idp.sign(claims({ aud: [ISSUER, 'https://other-as.example.com'] })),
        'is not exactly',
      ],
      [
        'another client_id',
        async () => idp.sign(claims({ client_id: 'other-app' })),
        'is not the authenticated client xaa-app',
      ],
      [
        'expired',
        async () =>
          idp.sign(claims({ iat: Math.floor(Date.now() / 1000) - 200, exp: Math.floor(Date.now() / 1000) - 100 })),
        'ERR_JWT_EXPIRED',
      ],
      // jose reports a token older than maxTokenAge as expired
      [
        'issued too long ago',
        async () => idp.sign(claims({ iat: Math.floor(Date.now() / 1000) - 1000 })),
        'ERR_JWT_EXPIRED',
      ],
      [
        'a lifetime over the maximum',
        async () => idp.sign(claims({ exp: Math.floor(Date.now() / 1000) + 3600 })),
        'lifetime exceeds',
      ],
      [
        'not yet valid',
        async () => idp.sign(claims({ nbf: Math.floor(Date.now() / 1000) + 600 })),
        'ERR_JWT_CLAIM_VALIDATION_FAILED',
      ],
      [
        'an untrusted issuer',
        async () => idp.sign(claims({ iss: 'https://unknown-idp.example.com' })),
        'is not a trusted, enabled ID-JAG issuer',
      ],
      [
        'a disabled issuer',
        async () => disabledIdp.sign(claims({ iss: disabledIdp.issuer })),
        'is not a trusted, enabled ID-JAG issuer',
      ],
      ['an unknown user', async () => idp.sign(claims({ sub: 'mallory' })), 'is unknown or disabled'],
      [
        'a resource baton does not serve',
        async () => idp.sign(claims({ resource: 'https://elsewhere.example.com/mcp' })),
        'is not configured',
      ],
    ];
    it.each(cases)('%s', async (_name, make, reason) => {
      const before = logs.lines().length;
      const res = await redeem(await make());
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_grant', error_description: 'grant request is invalid' });
      const line = logs
        .lines()
        .slice(before)
        .find((l) => l.includes('"event":"grant.error"'));
      expect(line).toContain(reason);
    });

    it('a disabled user', async () => {
      const account = (await server.accounts.list()).find(
        (a) => a.idpIssuer === idp.issuer && a.idpSubject === 'alice-xaa',
      )!;
      await server.accounts.setDisabled(account.id, true);
      try {
        // account state is cached per process for STATE_CACHE_MS, as for introspection and exchange
        await sleep(STATE_CACHE_MS + 100);
        const res = await redeem(await idp.sign(claims())).expect(400);
        expect(res.body.error).toBe('invalid_grant');
      } finally {
        await server.accounts.setDisabled(account.id, false);
        await sleep(STATE_CACHE_MS + 100);
      }
    });

    it('a request resource that the ID-JAG does not name', async () => {
      const res = await redeem(await idp.sign(claims()), { resource: 'https://cost.internal.example.com' }).expect(400);
      expect(res.body.error).toBe('invalid_grant');
    });

    it('scope escalation: nothing requested is granted → invalid_scope', async () => {
      const res = await redeem(await idp.sign(claims({ scope: 'logs.read' })), { scope: 'incidents.trigger' }).expect(
        400,
      );
      expect(res.body.error).toBe('invalid_scope');
    });

    it.each([
      ['a scope of no scope-token asked for (RFC 6749 §3.3)', {}, { scope: ' ' }, 'scope contains invalid characters'],
      ['an ID-JAG with an empty scope', { scope: '' }, {}, 'no requested scope is granted'],
      [
        'an ID-JAG whose scopes the roles do not grant',
        { scope: 'incidents.trigger' },
        {},
        'no requested scope is granted',
      ],
    ])('%s: invalid_scope, no token without a scope', async (_what, jag, form, description) => {
      const res = await redeem(await idp.sign(claims(jag)), form).expect(400);
      expect(res.body).toMatchObject({ error: 'invalid_scope', error_description: description });
    });

    it('a client not allowed the grant is unauthorized_client; no assertion is invalid_request', async () => {
      const res = await request(server.url)
        .post('/token')
        .auth('cost-reporter', 'test-service-secret-0123456789abcdef')
        .type('form')
        .send({ grant_type: JWT_BEARER, assertion: await idp.sign(claims()) });
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.error, JSON.stringify(res.body)).toBe('unauthorized_client');
      const none = await request(server.url)
        .post('/token')
        .auth('xaa-app', SECRET)
        .type('form')
        .send({ grant_type: JWT_BEARER })
        .expect(400);
      expect(none.body.error).toBe('invalid_request');
    });

    it('the assertion never reaches the log', async () => {
      const assertion = await idp.sign(claims({ iss: 'https://unknown-idp.example.com' }));
      await redeem(assertion).expect(400);
      expect(logs.lines().join('\n')).not.toContain(assertion.split('.')[2]);
    });
  });

  describe('token exchange with an upstream ID token as the subject (an app that signed the user in itself)', () => {
    const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
    const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
    /** an ID token for the portal app, from `from` (signed by a key it does not publish when `evil`) */
    const idToken = (over: Record<string, unknown> = {}, { from = idp, evil = false } = {}) => {
      const now = Math.floor(Date.now() / 1000);
      return from.sign(
        { iss: from.issuer, sub: 'alice-xaa', aud: 'portal-app', iat: now, exp: now + 300, ...over },
        { typ: 'JWT' },
        evil,
      );
    };
    const exchangeIdToken = async (token: string) =>
      request(server.url)
        .post('/token')
        .auth('portal-app', SECRET)
        .type('form')
        .send({ grant_type: TE, subject_token: token, subject_token_type: ID_TOKEN, resource: LOGS });

    it('an ID token issued to the app becomes a token for the resource, with the app as the actor', async () => {
      const res = await exchangeIdToken(await idToken());
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(decodeJwt(res.body.access_token)).toMatchObject({
        aud: LOGS,
        client_id: 'portal-app',
        scope: 'logs.read',
        act: { sub: 'portal-app' },
        idp: { iss: idp.issuer, sub: 'alice-xaa' },
      });
    });

    it("the IdP's key set is fetched once and cached, not on every exchange", async () => {
      expect((await exchangeIdToken(await idToken())).status).toBe(200); // the set is in the cache now
      const fetched = idp.served('/jwks');
      for (let i = 0; i < 3; i += 1) expect((await exchangeIdToken(await idToken())).status).toBe(200);
      expect(idp.served('/jwks')).toBe(fetched);
    });

    it('an ID token issued to another client, signed by another key, or from a disabled IdP is refused', async () => {
      for (const token of [
        await idToken({ aud: 'someone-else' }),
        await idToken({}, { evil: true }),
        await idToken({}, { from: disabledIdp }),
        await idToken({ sub: 'unknown-user' }),
      ]) {
        const res = await exchangeIdToken(token);
        expect(res.status).toBe(400);
        expect(res.body).toMatchObject({ error: 'invalid_request', error_description: 'subject_token is invalid' });
      }
    });
  });
});
