/**
 * `identity_providers[].subject_claim`: an IdP whose ID-token `sub` is pairwise per application (Microsoft
 * Entra ID) names the person to SCIM by another claim (Entra's object id, `oid`). With `subject_claim: oid`
 * the account is keyed by the ID token's `oid` everywhere baton maps a token the IdP signed to an account: the
 * sign-in, a refresh at the IdP (userinfo's `sub` still the ID token's, OIDC Core §5.3.2), an ID token at
 * token exchange, an ID-JAG; a back-channel logout token's `sub` and an `iss_sub` find the account through
 * the `sub` its sign-in recorded. So a SCIM User posted with `externalId` = the oid is the signed-in account,
 * and Entra's PATCH `active` "False" cuts the signed-in user's token off. An ID token without the claim is
 * refused; an IdP left at the default is keyed by `sub` as before. Against the hostile test IdP (Entra-shaped
 * ID tokens), on PostgreSQL + Redis.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt, importJWK, SignJWT, type JWTPayload } from 'jose';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountIdFor } from '../src/accounts/store.ts';
import { searchEvents } from '../src/audit/store.ts';
import { LOGOUT_EVENT } from '../src/idp/logout-token.ts';
import { memoryLogger, RESOURCES, startTestServer, storedStatus, type TestServer } from './helpers.ts';
import { startHostileIdp, type HostileIdp, type Plan } from './idp/hostile-idp.ts';
import { actionOf, agentAuthorizePath, csrfOf, redeemAtAgentCallback } from './pages.ts';

const LOGS = RESOURCES[0]!.uri;
const SECRET = 'subject-claim-secret-0123456789abcdefgh';
const SCIM_TOKEN = 'entra-scim-token-0123456789abcdefghijklmnopqrstuvwxyz';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const NO_OID = 'the ID token has no oid claim that is a non-empty string (identity_providers[].subject_claim)';

interface Browser {
  agent: TestAgent;
  access: string;
  refresh: string;
}

let entra: HostileIdp;
let plain: HostileIdp;
let t: TestServer;
const logs = memoryLogger();

beforeAll(async () => {
  [entra, plain] = await Promise.all([startHostileIdp(), startHostileIdp()]);
  const idp = (id: string, i: HostileIdp, extra: Record<string, unknown> = {}) => ({
    id,
    type: 'oidc',
    display_name: id === 'entra' ? 'Entra ID' : 'Plain',
    issuer: i.issuer,
    client_id: i.clientId,
    client_secret: 'x'.repeat(32),
    jwks: i.publicJwks,
    ...extra,
  });
  const service = (client_id: string, kind: string, grant_types: string[]) => ({
    client_id,
    kind,
    auth: 'client_secret_basic',
    client_secret: SECRET,
    grant_types,
  });
  t = await startTestServer({
    backend: 'postgres+redis',
    logs,
    config: (base) => ({
      identity_providers: [
        idp('entra', entra, {
          subject_claim: 'oid',
          scim: { token: SCIM_TOKEN },
          back_channel_logout: 'everything',
          global_token_revocation: true,
          accept_id_jag: true,
        }),
        idp('plain', plain),
      ],
      role_bindings: { entra: { oncall: ['sre'] }, plain: { oncall: ['sre'] } },
      resources: [{ ...RESOURCES[0]!, client_id: 'logs-mcp' }, RESOURCES[1]!],
      clients: {
        static: [
          ...base.clients.static,
          service('logs-mcp', 'mcp_server', ['client_credentials']),
          service('portal-app', 'app', ['client_credentials']),
          service('xaa-app', 'agent', [JWT_BEARER]),
        ],
      },
      delegation: [{ actor: 'portal-app', targets: [LOGS], scopes: ['logs.read'] }],
    }),
  });
}, 60_000);
afterAll(async () => {
  await t?.close();
  await Promise.all([entra?.stop(), plain?.stop()]);
});

/** a redirect's path on baton (its Location may be absolute) */
const pathOf = (location: string) => {
  const url = new URL(location, 'http://baton.invalid');
  return url.pathname + url.search;
};

const authorizeUrl = agentAuthorizePath;

/** The chooser → the IdP (whose ID token is `plan`'s) → baton's callback: its answer, and the agent. */
async function callback(idpId: string, idp: HostileIdp, plan: Plan) {
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
  idp.next('good', upstream.searchParams.get('nonce')!, plan);
  const back = await agent
    .get(`/interaction/callback/${idpId}?code=abc&state=${upstream.searchParams.get('state')}`)
    .expect(303);
  const answer = await agent.get(pathOf(back.headers.location!));
  return { agent, verifier, answer };
}

/** A sign-in that reaches the client, and the code redeemed. */
async function signIn(idpId: string, idp: HostileIdp, plan: Plan): Promise<Browser> {
  const { agent, verifier, answer } = await callback(idpId, idp, plan);
  expect(answer.status, answer.text).toBe(303);
  const tokens = await redeemAtAgentCallback(t.url, agent, answer.headers.location!, verifier);
  return { agent, access: tokens.access_token, refresh: tokens.refresh_token };
}

const active = async (token: string) =>
  (await request(t.url).post('/token/introspection').auth('logs-mcp', SECRET).type('form').send({ token }).expect(200))
    .body.active as boolean;

/** introspection answers from a per-process cache of at most STATE_CACHE_MS: poll */
const becomesInactive = (token: string) =>
  expect.poll(() => active(token), { interval: 50, timeout: 10_000 }).toBe(false);

const statusBit = (token: string) => storedStatus(t.server.storage.db, token);

const refresh = (b: Browser) =>
  request(t.url)
    .post('/token')
    .type('form')
    .send({ grant_type: 'refresh_token', refresh_token: b.refresh, client_id: 'ide-agent', resource: LOGS });

const scim = (method: 'post' | 'patch', path: string, body: unknown) => {
  const req = request(t.url)[method](`/idp/entra/scim/v2${path}`);
  return req.set('Authorization', `Bearer ${SCIM_TOKEN}`).type('application/scim+json').send(JSON.stringify(body));
};

/** the `detail` of the refusals logged with this reason code (the wire keeps the generic text) */
const detailsLogged = (reason: string) =>
  logs
    .lines()
    .map((l) => JSON.parse(l) as { reason?: string; detail?: string })
    .filter((l) => l.reason === reason)
    .map((l) => l.detail);

/** an Entra-shaped sign-in: a pairwise `sub`, the object id `oid` */
const entraPlan = (sub: string, oid: string, more: Plan = {}): Plan => ({
  sub,
  ...more,
  claims: { oid, ...more.claims },
});

describe('subject_claim oid: the account is keyed by the ID token’s oid', () => {
  it('the sign-in creates the account of the oid; SCIM externalId = oid is that account; PATCH active "False" cuts its token off', async () => {
    const b = await signIn('entra', entra, entraPlan('pairwise-ann', 'oid-ann'));
    const id = accountIdFor(entra.issuer, 'oid-ann');
    expect(decodeJwt(b.access)).toMatchObject({ sub: id, idp: { iss: entra.issuer, sub: 'oid-ann' } });
    expect(await t.server.accounts.find(id)).toMatchObject({
      idpId: 'entra',
      idpSubject: 'oid-ann',
      upstreamSub: 'pairwise-ann',
      groups: ['oncall'],
    });
    expect(await t.server.accounts.find(accountIdFor(entra.issuer, 'pairwise-ann'))).toBeUndefined();

    // Entra provisions the user with the object id as externalId: the account that signed in (linked)
    const created = await scim('post', '/Users', {
      schemas: [USER],
      externalId: 'oid-ann',
      userName: 'ann@example.com',
      active: true,
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ id, externalId: 'oid-ann', active: true });
    expect(await active(b.access)).toBe(true);
    expect(await statusBit(b.access)).toBe(0);

    const patched = await scim('patch', `/Users/${id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ id, active: false });
    await becomesInactive(b.access);
    expect(await statusBit(b.access)).toBe(1);
    expect((await refresh(b)).body.error).toBe('invalid_grant');
    const again = await callback('entra', entra, entraPlan('pairwise-ann', 'oid-ann'));
    expect(again.answer.status).toBe(403);
    expect(again.answer.text).toContain('This account is disabled.');
  });

  it('an ID token without oid (or with an oid that is not a non-empty string) is refused with a clear page', async () => {
    for (const claims of [{}, { oid: '' }, { oid: 42 }]) {
      const { answer } = await callback('entra', entra, { sub: 'pairwise-noid', claims });
      expect(answer.status).toBe(400);
      expect(answer.text).toContain('<h1>Sign-in failed</h1>');
      expect(answer.text).toContain(
        'Entra ID signed you in but did not say who you are in the way this sign-in service expects.',
      );
      expect(answer.text).not.toContain('oid');
    }
    const refused = logs
      .lines()
      .map((l) => JSON.parse(l) as { msg: string; reason?: string })
      .filter((l) => l.msg === 'interaction.refused' && l.reason === `subject_claim_missing: ${NO_OID}`);
    expect(refused).toHaveLength(3);
    const failed = await searchEvents(t.server.storage.db, { type: 'login.failed', limit: 100 });
    const missing = failed.filter((r) => r.event.reason !== 'account disabled');
    expect(missing.map((r) => [r.event.reason, (r.event.details as { idp?: string }).idp])).toEqual([
      ['upstream_subject_missing', 'entra'],
      ['upstream_subject_missing', 'entra'],
      ['upstream_subject_missing', 'entra'],
    ]);
    expect(await t.server.accounts.find(accountIdFor(entra.issuer, 'pairwise-noid'))).toBeUndefined();
  });

  it('a refresh at the IdP: the same sub and oid refresh; another oid, in the ID token or in userinfo, does not', async () => {
    const upstream = { refreshToken: 'entra-refresh-bea' };
    const b = await signIn('entra', entra, entraPlan('pairwise-bea', 'oid-bea', upstream));
    const id = accountIdFor(entra.issuer, 'oid-bea');
    expect((await t.server.accounts.find(id))!.hasUpstreamToken).toBe(true);
    const ok = await refresh(b);
    expect(ok.status, ok.text).toBe(200);
    expect(decodeJwt(ok.body.access_token)).toMatchObject({ sub: id, idp: { iss: entra.issuer, sub: 'oid-bea' } });

    // the refreshed ID token names another oid
    entra.next('good', '', entraPlan('pairwise-bea', 'oid-someone-else', upstream));
    const other = await refresh({ ...b, refresh: ok.body.refresh_token });
    expect(other.status).toBe(503);
    // the refreshed ID token has no oid: userinfo's (its sub the ID token's, OIDC Core §5.3.2) is another's
    entra.next('good', '', { sub: 'pairwise-bea', ...upstream, userinfo: { oid: 'oid-someone-else' } });
    const viaUserinfo = await refresh({ ...b, refresh: ok.body.refresh_token });
    expect(viaUserinfo.status).toBe(503);
    expect(
      logs
        .lines()
        .filter((l) => l.includes('account.upstream_refresh_failed') && l.includes(id))
        .map((l) => (JSON.parse(l) as { reason: string }).reason),
    ).toEqual(["the refreshed oid is another person's", "the refreshed oid is another person's"]);
    // the refreshed ID token has no oid, userinfo the same sub and no oid: the sub check is what holds
    entra.next('good', '', { sub: 'pairwise-bea', ...upstream });
    const subOnly = await refresh({ ...b, refresh: ok.body.refresh_token });
    expect(subOnly.status, subOnly.text).toBe(200);
  });

  it('an ID token at token exchange: the account of its oid; without oid invalid_request', async () => {
    await signIn('entra', entra, entraPlan('pairwise-cy', 'oid-cy'));
    const now = Math.floor(Date.now() / 1000);
    const idToken = (claims: Record<string, unknown>) =>
      entra.sign(
        { iss: entra.issuer, sub: 'pairwise-cy-portal', aud: 'portal-app', iat: now, exp: now + 300, ...claims },
        { typ: 'JWT' },
      );
    const exchange = async (token: string) =>
      request(t.url)
        .post('/token')
        .auth('portal-app', SECRET)
        .type('form')
        .send({ grant_type: TOKEN_EXCHANGE, subject_token: token, subject_token_type: ID_TOKEN, resource: LOGS });
    const ok = await exchange(await idToken({ oid: 'oid-cy' }));
    expect(ok.status, ok.text).toBe(200);
    expect(decodeJwt(ok.body.access_token)).toMatchObject({
      sub: accountIdFor(entra.issuer, 'oid-cy'),
      idp: { iss: entra.issuer, sub: 'oid-cy' },
    });
    const refused = await exchange(await idToken({}));
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ error: 'invalid_request', error_description: 'subject_token is invalid' });
    expect(detailsLogged('subject_token_invalid')).toContain(NO_OID);
  });

  it('an ID-JAG: the account of its oid (its sub is the ID tokens’ pairwise one); without oid invalid_grant', async () => {
    await signIn('entra', entra, entraPlan('pairwise-dee', 'oid-dee'));
    const now = Math.floor(Date.now() / 1000);
    const jag = (claims: Record<string, unknown>) =>
      entra.sign({
        iss: entra.issuer,
        sub: 'pairwise-dee',
        aud: t.config.issuer,
        client_id: 'xaa-app',
        jti: randomUUID(),
        iat: now,
        exp: now + 120,
        resource: LOGS,
        scope: 'logs.read',
        ...claims,
      });
    const redeem = async (assertion: string) =>
      request(t.url).post('/token').auth('xaa-app', SECRET).type('form').send({ grant_type: JWT_BEARER, assertion });
    const ok = await redeem(await jag({ oid: 'oid-dee' }));
    expect(ok.status, ok.text).toBe(200);
    expect(decodeJwt(ok.body.access_token)).toMatchObject({
      sub: accountIdFor(entra.issuer, 'oid-dee'),
      idp: { iss: entra.issuer, sub: 'oid-dee' },
      scope: 'logs.read',
    });
    const refused = await redeem(await jag({}));
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ error: 'invalid_grant', error_description: 'grant request is invalid' });
    expect(detailsLogged('id_jag_user')).toContain(NO_OID.replace('the ID token', 'the ID-JAG'));
  });

  it('a back-channel logout token names the person by sub: the account its sign-in recorded is cut off', async () => {
    const logoutToken = async (claims: JWTPayload) =>
      new SignJWT({
        iss: entra.issuer,
        aud: entra.clientId,
        iat: Math.floor(Date.now() / 1000),
        jti: randomUUID(),
        events: { [LOGOUT_EVENT]: {} },
        ...claims,
      })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'logout+jwt' })
        .sign(await importJWK(entra.privateJwk, 'RS256'));
    const post = async (claims: JWTPayload) =>
      request(t.url)
        .post('/idp/entra/backchannel-logout')
        .type('form')
        .send({ logout_token: await logoutToken(claims) });
    const eve = await signIn('entra', entra, entraPlan('pairwise-eve', 'oid-eve', { sid: 'eve-session' }));
    const fay = await signIn('entra', entra, entraPlan('pairwise-fay', 'oid-fay'));

    // the oid is not what a logout token's sub is (§2.4: the ID token's sub): nobody is named, nothing cut
    expect((await post({ sub: 'oid-eve' })).status).toBe(200);
    expect(await active(eve.access)).toBe(true);
    expect(await statusBit(eve.access)).toBe(0);

    // sid with sub: that session of the account with that sub (everything: all it holds is revoked)
    expect((await post({ sub: 'pairwise-eve', sid: 'eve-session' })).status).toBe(200);
    await becomesInactive(eve.access);
    expect(await statusBit(eve.access)).toBe(1);
    // sub alone
    expect((await post({ sub: 'pairwise-fay' })).status).toBe(200);
    await becomesInactive(fay.access);
    expect(await statusBit(fay.access)).toBe(1);
    expect((await refresh(fay)).body.error).toBe('invalid_grant');
  });

  it('global token revocation: iss_sub names the person by the oid, or by the sub of the ID tokens', async () => {
    const endpoint = `${t.config.issuer}/idp/entra/global-token-revocation`;
    const gtr = async (sub: string) => {
      const now = Math.floor(Date.now() / 1000);
      const jwt = await entra.sign(
        { iss: entra.issuer, sub: 'baton-app', aud: endpoint, jti: randomUUID(), iat: now, exp: now + 60 },
        { typ: 'global-token-revocation+jwt' },
      );
      return request(t.url)
        .post('/idp/entra/global-token-revocation')
        .set('Content-Type', 'application/json')
        .set('Authorization', `Bearer ${jwt}`)
        .send(JSON.stringify({ sub_id: { format: 'iss_sub', iss: entra.issuer, sub } }));
    };
    const gil = await signIn('entra', entra, entraPlan('pairwise-gil', 'oid-gil'));
    const hal = await signIn('entra', entra, entraPlan('pairwise-hal', 'oid-hal'));
    expect((await gtr('oid-gil')).status).toBe(204);
    await becomesInactive(gil.access);
    expect(await statusBit(gil.access)).toBe(1);
    expect(await active(hal.access)).toBe(true);
    expect((await gtr('pairwise-hal')).status).toBe(204);
    await becomesInactive(hal.access);
    expect((await gtr('oid-nobody')).status).toBe(404);
  });
});

describe('subject_claim left at sub: nothing changes', () => {
  it('the account is keyed by sub, even when the ID token carries an oid', async () => {
    const b = await signIn('plain', plain, entraPlan('plain-ivy', 'oid-ivy'));
    const id = accountIdFor(plain.issuer, 'plain-ivy');
    expect(decodeJwt(b.access)).toMatchObject({ sub: id, idp: { iss: plain.issuer, sub: 'plain-ivy' } });
    expect(await t.server.accounts.find(id)).toMatchObject({ idpSubject: 'plain-ivy', upstreamSub: 'plain-ivy' });
    expect(await t.server.accounts.find(accountIdFor(plain.issuer, 'oid-ivy'))).toBeUndefined();
  });
});
