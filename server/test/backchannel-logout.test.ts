/**
 * OpenID Connect Back-Channel Logout 1.0, baton as the relying party, against IdPs the test controls (their
 * keys given as `jwks`), on PostgreSQL and on PostgreSQL + Redis (sessions in Redis, found through the
 * session index): a valid logout token ends the baton sessions it names (§2.6: by `sid` only that IdP
 * session's, by `sub` every one of the account at that IdP) and answers 200 with no-store (§2.8); with
 * `everything` it also revokes all the account holds (introspection, the Token Status List, the refresh
 * token). Every hostile token or request gets its exact status and body, and ends or revokes nothing.
 * `baton revoke user` ends the sessions it finds through the index too (its `sessions` count, with Redis).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateKeyPair, importJWK, SignJWT, UnsecuredJWT, type JWTPayload } from 'jose';
import Koa from 'koa';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountIdFor } from '../src/accounts/store.ts';
import { runOperation } from '../src/admin/operations.ts';
import { searchEvents } from '../src/audit/store.ts';
import { backChannelLogoutRoutes } from '../src/http/backchannel-logout.ts';
import { LOGOUT_EVENT } from '../src/idp/logout-token.ts';
import { IdpRegistry } from '../src/idp/registry.ts';
import { collectSessionLogins } from '../src/sessions/logins.ts';
import { STATE_CACHE_MS } from '../src/provider/token-state.ts';
import { adminStoresOf, memoryLogger, RESOURCES, startTestServer, storedStatus, type TestServer } from './helpers.ts';
import { startHostileIdp, type HostileIdp } from './idp/hostile-idp.ts';
import { actionOf, agentAuthorizePath, AGENT_CALLBACK as CALLBACK, csrfOf, redeemAtAgentCallback } from './pages.ts';

const LOGS = RESOURCES[0]!.uri;
const SECRET = 'bcl-test-secret-0123456789abcdefghijkl';
const BAD = { error: 'invalid_request', error_description: 'the logout request is not valid' };
const NOT_FOUND = { error: 'not_found', error_description: 'no back-channel logout endpoint here' };

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'] | Uint8Array;

interface Browser {
  agent: TestAgent;
  access: string;
  refresh: string;
  account: string;
}

describe.each(['postgres', 'postgres+redis'] as const)('back-channel logout (%s)', (backend) => {
  let t: TestServer;
  /** back_channel_logout: sessions */
  let corp: HostileIdp;
  /** back_channel_logout: everything */
  let strict: HostileIdp;
  /** back_channel_logout: off (the default) */
  let quiet: HostileIdp;
  let evil: SigningKey;

  beforeAll(async () => {
    [corp, strict, quiet] = await Promise.all([startHostileIdp(), startHostileIdp(), startHostileIdp()]);
    evil = (await generateKeyPair('RS256')).privateKey;
    const idp = (id: string, i: HostileIdp, mode?: string) => ({
      id,
      type: 'oidc',
      issuer: i.issuer,
      client_id: i.clientId,
      client_secret: 'x'.repeat(32),
      jwks: i.publicJwks,
      ...(mode ? { back_channel_logout: mode } : {}),
    });
    t = await startTestServer({
      backend,
      config: (base) => ({
        identity_providers: [
          idp('corp', corp, 'sessions'),
          idp('strict', strict, 'everything'),
          idp('quiet', quiet),
          // its keys come from a discovery document nobody serves
          { id: 'down', type: 'oidc', issuer: 'http://127.0.0.1:9', client_id: 'c', back_channel_logout: 'sessions' },
          { ...idp('paused', quiet, 'everything'), enabled: false },
        ],
        role_bindings: { corp: { oncall: ['sre'] }, strict: { oncall: ['sre'] }, quiet: { oncall: ['sre'] } },
        resources: [{ ...RESOURCES[0]!, client_id: 'logs-mcp' }, RESOURCES[1]!],
        clients: {
          static: [
            ...base.clients.static,
            {
              client_id: 'logs-mcp',
              kind: 'mcp_server',
              auth: 'client_secret_basic',
              client_secret: SECRET,
              grant_types: ['client_credentials'],
            },
          ],
        },
      }),
    });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await Promise.all([corp?.stop(), strict?.stop(), quiet?.stop()]);
  });

  /** The chooser → the IdP (which signs `sub` in, in its session `sid`) → baton → the client's code → tokens. */
  async function signIn(idpId: string, idp: HostileIdp, sub: string, sid?: string): Promise<Browser> {
    const agent = request.agent(t.url);
    const verifier = randomBytes(32).toString('base64url');
    const toInteraction = await agent.get(authorizeUrl(verifier)).expect(303);
    const chooser = await agent.get(pathOf(toInteraction.headers.location!)).expect(200);
    const toIdp = await agent
      .post(actionOf(chooser.text))
      .type('form')
      .send({ csrf: csrfOf(chooser.text), idp: idpId })
      .expect(303);
    const upstream = new URL(toIdp.headers.location!);
    idp.next('good', upstream.searchParams.get('nonce')!, { sub, ...(sid ? { sid } : {}) });
    const back = await agent
      .get(`/interaction/callback/${idpId}?code=abc&state=${upstream.searchParams.get('state')}`)
      .expect(303);
    const tokens = await redeemAtAgentCallback(t.url, agent, back.headers.location!, verifier);
    const account = accountIdFor(idp.issuer, sub);
    return { agent, access: tokens.access_token, refresh: tokens.refresh_token, account };
  }

  const authorizeUrl = agentAuthorizePath;

  /**
   * Whether the browser's baton session still signs it in: an authorization request with `prompt=none` (OIDC
   * Core §3.1.2.1) answers `login_required` when the next one needs a fresh sign-in.
   */
  async function signedIn(b: Browser): Promise<boolean> {
    const res = await b.agent.get(authorizeUrl(randomBytes(32).toString('base64url'), { prompt: 'none' }));
    const to = new URL(res.headers.location!);
    expect(to.origin + to.pathname).toBe(CALLBACK);
    return to.searchParams.get('error') !== 'login_required';
  }

  async function active(token: string): Promise<boolean> {
    const res = await request(t.url)
      .post('/token/introspection')
      .auth('logs-mcp', SECRET)
      .type('form')
      .send({ token })
      .expect(200);
    return res.body.active === true;
  }

  /** polled: each process caches a token's state for STATE_CACHE_MS */
  async function becomesInactive(token: string): Promise<void> {
    const until = Date.now() + 4 * STATE_CACHE_MS + 2000;
    while (Date.now() < until && (await active(token))) await sleep(25);
    expect(await active(token)).toBe(false);
  }

  const statusBit = (token: string) => storedStatus(t.server.storage.db, token);

  const refreshes = (b: Browser) =>
    request(t.url)
      .post('/token')
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: b.refresh, client_id: 'ide-agent', resource: LOGS });

  /** A logout token (§2.4) signed with the IdP's published key, unless `key` says otherwise. */
  async function logoutToken(
    idp: HostileIdp,
    claims: JWTPayload,
    header: Record<string, unknown> = { typ: 'logout+jwt' },
    key?: SigningKey,
  ): Promise<string> {
    const signing = key ?? (await importJWK(idp.privateJwk, 'RS256'));
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1', ...header }).sign(signing);
  }

  const claimsFor = (idp: HostileIdp, over: Record<string, unknown> = {}): JWTPayload => {
    const c: Record<string, unknown> = {
      iss: idp.issuer,
      aud: idp.clientId,
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
      events: { [LOGOUT_EVENT]: {} },
      ...over,
    };
    for (const [k, v] of Object.entries(c)) if (v === undefined) delete c[k];
    return c;
  };

  const post = (idpId: string, token: string) =>
    request(t.url).post(`/idp/${idpId}/backchannel-logout`).type('form').send({ logout_token: token });

  const sessionRows = async (account: string) =>
    Number(
      (await t.server.storage.db('session_logins').where({ account_id: account }).count<{ n: string }[]>('* as n'))[0]!
        .n,
    );

  describe('a valid logout token', () => {
    it('with sid: only the baton sessions from that IdP session end (sessions: tokens stay), 200 no-store', async () => {
      const one = await signIn('corp', corp, 'alice', 'idp-session-1');
      const two = await signIn('corp', corp, 'alice', 'idp-session-2');
      const res = await post('corp', await logoutToken(corp, claimsFor(corp, { sub: 'alice', sid: 'idp-session-1' })));
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(await signedIn(one)).toBe(false);
      expect(await signedIn(two)).toBe(true);
      // `sessions` ends sessions only: what was issued stays valid until it expires
      expect(await active(one.access)).toBe(true);
      expect(await statusBit(one.access)).toBe(0);
      const [ended] = await searchEvents(t.server.storage.db, {
        type: 'session.ended',
        account: one.account,
        limit: 10,
      });
      expect(ended?.event).toMatchObject({
        outcome: 'success',
        idp: { iss: corp.issuer, sub: 'alice' },
        reason: 'back_channel_logout',
        details: {
          idp: 'corp',
          mode: 'sessions',
          sessions: 1,
          sid_sha256: createHash('sha256').update('idp-session-1').digest('base64url'),
        },
      });
      expect(JSON.stringify(ended?.event)).not.toContain('idp-session-1');
    });

    it('with sub alone: every baton session of that account from this IdP ends, no one else’s', async () => {
      const one = await signIn('corp', corp, 'bob', 'bob-1');
      const two = await signIn('corp', corp, 'bob', 'bob-2');
      const carol = await signIn('corp', corp, 'carol', 'carol-1');
      const res = await post('corp', await logoutToken(corp, claimsFor(corp, { sub: 'bob' })));
      expect([res.status, res.text]).toEqual([200, '']);
      expect(await signedIn(one)).toBe(false);
      expect(await signedIn(two)).toBe(false);
      expect(await signedIn(carol)).toBe(true);
      expect(await sessionRows(one.account)).toBe(0);
    });

    it('with sid alone, and for nobody signed in: 200 (nothing to do)', async () => {
      const dave = await signIn('corp', corp, 'dave', 'dave-1');
      expect((await post('corp', await logoutToken(corp, claimsFor(corp, { sid: 'dave-1' })))).status).toBe(200);
      expect(await signedIn(dave)).toBe(false);
      const nobody = await post('corp', await logoutToken(corp, claimsFor(corp, { sub: 'nobody', sid: 'x' })));
      expect([nobody.status, nobody.headers['cache-control']]).toEqual([200, 'no-store']);
    });

    it('with the generic typ JWT (what Glewlwyd sends), or none, or application/logout+jwt: accepted', async () => {
      for (const header of [{ typ: 'JWT' }, {}, { typ: 'application/logout+jwt' }]) {
        const hal = await signIn('corp', corp, 'hal', `hal-${JSON.stringify(header)}`);
        const res = await post('corp', await logoutToken(corp, claimsFor(corp, { sub: 'hal' }), header));
        expect([JSON.stringify(header), res.status]).toEqual([JSON.stringify(header), 200]);
        expect(await signedIn(hal)).toBe(false);
      }
    });

    it('with everything: the session ends and every token is revoked (introspection, status list, refresh)', async () => {
      const erin = await signIn('strict', strict, 'erin', 'erin-1');
      const other = await signIn('strict', strict, 'frank', 'frank-1');
      expect(await active(erin.access)).toBe(true);
      const res = await post('strict', await logoutToken(strict, claimsFor(strict, { sid: 'erin-1' })));
      expect(res.status).toBe(200);
      expect(await signedIn(erin)).toBe(false);
      await becomesInactive(erin.access);
      expect(await statusBit(erin.access)).toBe(1);
      const refused = await refreshes(erin);
      expect([refused.status, refused.body.error]).toEqual([400, 'invalid_grant']);
      // someone else's are untouched
      expect(await active(other.access)).toBe(true);
      expect(await signedIn(other)).toBe(true);
      const [revoked] = await searchEvents(t.server.storage.db, {
        type: 'token.revoked',
        account: erin.account,
        limit: 10,
      });
      expect(revoked?.event).toMatchObject({
        reason: 'back_channel_logout',
        details: { via: 'back_channel_logout', idp: 'strict', target: 'user', id: erin.account, tokens: 1, grants: 1 },
      });
    });
  });

  describe('hostile logout tokens and requests', () => {
    let victim: Browser;
    let before: number;
    beforeAll(async () => {
      victim = await signIn('corp', corp, 'victor', 'victor-1');
      before = await sessionRows(victim.account);
    });

    const hostile: [string, () => Promise<string>][] = [
      ['a forged signature', () => logoutToken(corp, claimsFor(corp, { sub: 'victor' }), undefined, evil)],
      ['alg none', async () => new UnsecuredJWT(claimsFor(corp, { sub: 'victor' })).encode()],
      [
        'HS256 keyed with the public key',
        async () =>
          new SignJWT(claimsFor(corp, { sub: 'victor' }))
            .setProtectedHeader({ alg: 'HS256', kid: 'k1', typ: 'logout+jwt' })
            .sign(new TextEncoder().encode(JSON.stringify(corp.publicJwks.keys[0]))),
      ],
      ['another IdP’s key', () => logoutToken(strict, claimsFor(corp, { sub: 'victor' }))],
      ['a wrong iss', () => logoutToken(corp, claimsFor(corp, { sub: 'victor', iss: strict.issuer }))],
      ['a wrong aud', () => logoutToken(corp, claimsFor(corp, { sub: 'victor', aud: 'someone-else' }))],
      ['an expired token', () => logoutToken(corp, claimsFor(corp, { sub: 'victor', exp: now() - 120 }))],
      ['an old iat', () => logoutToken(corp, claimsFor(corp, { sub: 'victor', iat: now() - 3600 }))],
      ['an iat in the future', () => logoutToken(corp, claimsFor(corp, { sub: 'victor', iat: now() + 3600 }))],
      ['no iat', () => logoutToken(corp, claimsFor(corp, { sub: 'victor', iat: undefined }))],
      ['no jti', () => logoutToken(corp, claimsFor(corp, { sub: 'victor', jti: undefined }))],
      ['a nonce', () => logoutToken(corp, claimsFor(corp, { sub: 'victor', nonce: 'n-0S6_WzA2Mj' }))],
      ['no events', () => logoutToken(corp, claimsFor(corp, { sub: 'victor', events: undefined }))],
      ['events an array', () => logoutToken(corp, claimsFor(corp, { sub: 'victor', events: [LOGOUT_EVENT] }))],
      ['events without the member', () => logoutToken(corp, claimsFor(corp, { sub: 'victor', events: { x: {} } }))],
      [
        'the member not an object',
        () => logoutToken(corp, claimsFor(corp, { sub: 'victor', events: { [LOGOUT_EVENT]: 'yes' } })),
      ],
      ['neither sub nor sid', () => logoutToken(corp, claimsFor(corp))],
      ['a sub that is not a string', () => logoutToken(corp, claimsFor(corp, { sub: 42 }))],
      ['typ at+jwt', () => logoutToken(corp, claimsFor(corp, { sub: 'victor' }), { typ: 'at+jwt' })],
      ['typ of an ID-JAG', () => logoutToken(corp, claimsFor(corp, { sub: 'victor' }), { typ: 'oauth-id-jag+jwt' })],
      ['an encrypted-looking token (five parts)', async () => 'a.b.c.d.e'],
      ['not a JWT', async () => 'not-a-jwt'],
    ];

    it.each(hostile)('%s: 400 invalid_request, nothing ended', async (_name, make) => {
      const res = await post('corp', await make());
      expect([res.status, res.body, res.headers['cache-control']]).toEqual([400, BAD, 'no-store']);
    });

    it('an ID token (it has a nonce and no events) is not a logout token', async () => {
      const idToken = await logoutToken(
        corp,
        claimsFor(corp, { sub: 'victor', nonce: 'abc', events: undefined, exp: now() + 600 }),
        { typ: 'JWT' },
      );
      expect((await post('corp', idToken)).body).toEqual(BAD);
    });

    it('a replayed jti: the second use is refused, also when two arrive at once (exactly one 200)', async () => {
      const token = await logoutToken(corp, claimsFor(corp, { sub: 'nobody-yet' }));
      expect((await post('corp', token)).status).toBe(200);
      const again = await post('corp', token);
      expect([again.status, again.body]).toEqual([400, BAD]);
      const twice = await logoutToken(corp, claimsFor(corp, { sub: 'nobody-either' }));
      const statuses = (await Promise.all([post('corp', twice), post('corp', twice)])).map((r) => r.status);
      expect(statuses.sort()).toEqual([200, 400]);
    });

    it('an unknown IdP, a local one, one with back_channel_logout off, or a disabled one: 404', async () => {
      const token = await logoutToken(quiet, claimsFor(quiet, { sub: 'victor' }));
      for (const id of ['nope', 'local', 'quiet', 'paused']) {
        const res = await post(id, token);
        expect([id, res.status, res.body]).toEqual([id, 404, NOT_FOUND]);
      }
    });

    it('an IdP whose keys cannot be read: 503 (the IdP may send the token again)', async () => {
      const token = await logoutToken(corp, claimsFor(corp, { iss: 'http://127.0.0.1:9', aud: 'c', sub: 'victor' }));
      const res = await post('down', token);
      expect([res.status, res.body, res.headers['retry-after']]).toEqual([
        503,
        { error: 'temporarily_unavailable', error_description: 'the logout could not be done; try again' },
        '5',
      ]);
    });

    it('a body that is not a form: 415; too large: 413; no or two logout_token: 400; GET: 405', async () => {
      const url = '/idp/corp/backchannel-logout';
      const json = await request(t.url).post(url).send({ logout_token: 'x' });
      expect([json.status, json.body]).toEqual([
        415,
        { error: 'invalid_request', error_description: 'the body must be application/x-www-form-urlencoded' },
      ]);
      const huge = await request(t.url)
        .post(url)
        .type('form')
        .send(`logout_token=${'a'.repeat(20_000)}`);
      expect([huge.status, huge.body]).toEqual([
        413,
        { error: 'invalid_request', error_description: 'the body is larger than 16384 bytes' },
      ]);
      for (const body of ['', 'other=1', 'logout_token=', 'logout_token=a&logout_token=b', 'logout_token[x]=a']) {
        const res = await request(t.url).post(url).type('form').send(body);
        expect([body, res.status, res.body]).toEqual([body, 400, BAD]);
      }
      expect((await request(t.url).get(url)).status).toBe(405);
    });

    it('after all of them, the victim is still signed in and the token valid', async () => {
      expect(await sessionRows(victim.account)).toBe(before);
      expect(await signedIn(victim)).toBe(true);
      expect(await active(victim.access)).toBe(true);
      expect(await statusBit(victim.access)).toBe(0);
      const refusals = await searchEvents(t.server.storage.db, { type: 'session.ended', limit: 500 });
      const refused = refusals.filter((r) => r.event.outcome === 'refused');
      expect(refused.length).toBeGreaterThanOrEqual(hostile.length);
      expect(refused.find((r) => r.event.reason?.includes('nonce'))?.event).toMatchObject({
        error: 'invalid_request',
        details: { idp: 'corp', via: 'back_channel_logout' },
      });
    });
  });

  it('a store that fails while ending the sessions: 503, and the same token is accepted once it is back', async () => {
    const jill = await signIn('corp', corp, 'jill', 'jill-1');
    const { storage } = t.server;
    const real = storage.adapterFor('Session');
    let down = true;
    const sessions = new Proxy(real, {
      get(target, prop) {
        if (prop === 'findByUid' && down) return () => Promise.reject(new Error('store down'));
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    // the endpoint on the server's own stores, but with a Session store that fails until `down` is false
    const app = new Koa();
    app.use(async (ctx, next) => {
      ctx.state.log = memoryLogger().log;
      await next();
    });
    const routes = backChannelLogoutRoutes({
      idps: new IdpRegistry(t.config, () => ''),
      db: storage.db,
      sessions,
      replay: storage.adapterFor('ReplayDetection'),
      revocation: {
        db: storage.db,
        adapterFor: (m) => storage.adapterFor(m),
        accounts: t.server.accounts,
        isStaticClient: () => false,
      },
    });
    app.use(routes.routes());
    const server = app.callback();
    const token = await logoutToken(corp, claimsFor(corp, { sid: 'jill-1' }));
    const send = () => request(server).post('/idp/corp/backchannel-logout').type('form').send({ logout_token: token });
    const failed = await send();
    expect([failed.status, failed.body]).toEqual([
      503,
      { error: 'temporarily_unavailable', error_description: 'the logout could not be done; try again' },
    ]);
    expect(await signedIn(jill)).toBe(true);
    down = false;
    expect((await send()).status).toBe(200);
    expect(await signedIn(jill)).toBe(false);
    expect((await send()).status).toBe(400); // and then it is used
  });

  it('a session row lives as long as its session: moved on when the session is saved again', async () => {
    const ivan = await signIn('corp', corp, 'ivan', 'ivan-1');
    const rows = () => t.server.storage.db('session_logins').where({ account_id: ivan.account });
    const soon = new Date(Date.now() + 60_000);
    await rows().update({ expires_at: soon });
    expect(await signedIn(ivan)).toBe(true); // oidc-provider saves the session again (its ttl from now)
    const [row] = await rows().select<{ expires_at: Date }[]>('expires_at');
    expect(new Date(row!.expires_at).getTime()).toBeGreaterThan(
      Date.now() + t.config.tokens.session_ttl * 1000 - 60_000,
    );
    // the storage GC forgets the rows of expired sessions
    await rows().update({ expires_at: new Date(Date.now() - 1000) });
    expect(await collectSessionLogins(t.server.storage.db)).toBeGreaterThanOrEqual(1);
    expect(await rows().select()).toEqual([]);
  });

  it('baton revoke user ends the sessions it finds through the session index (and counts them)', async () => {
    const gina = await signIn('corp', corp, 'gina', 'gina-1');
    const r = await runOperation(adminStoresOf(t), 'revoke.user', { account: gina.account });
    expect(r).toMatchObject({ target: 'user', id: gina.account, sessions: 1 });
    expect(await signedIn(gina)).toBe(false);
    expect(await sessionRows(gina.account)).toBe(0);
  });
});

const now = () => Math.floor(Date.now() / 1000);
/** a location baton answered (absolute under its issuer, or a path) as a path on the test server */
const pathOf = (location: string) => {
  const url = URL.parse(location);
  return url ? url.pathname + url.search : location;
};
