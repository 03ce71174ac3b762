/**
 * Issue #14 item 4, SCIM 2.0 deprovisioning (RFC 7643/7644) as Microsoft Entra ID and Okta provisioning call
 * it: the Entra-shaped sequence (POST a User, GET with `filter=userName eq`, PATCH `Replace` `active`
 * "False") and the Okta-shaped one (POST, PUT with `active: false`, PATCH `{"op":"replace","value":{"active":
 * false}}`). After each deactivation the user's token and the token exchanged from it are inactive at
 * introspection (RFC 7662) and INVALID in the served Token Status List (draft-ietf-oauth-status-list-20),
 * the refresh and a new sign-in are refused, and the audit trail says SCIM did it. Hostile requests (no
 * token, a wrong one, another IdP's, malformed filters, bad PATCH operations, a huge body, unknown Users)
 * each get their exact SCIM error (RFC 7644 §3.12) and change nothing. On PostgreSQL + Redis and on the
 * embedded store.
 */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeStatusList } from '../src/status-list/format.ts';
import { STATE_CACHE_MS } from '../src/provider/token-state.ts';
import {
  exchangeToken,
  LOCAL_IDP,
  makeConfig,
  RESOURCES,
  startTestServer,
  type Backend,
  type TestServer,
} from './helpers.ts';
import { startHostileIdp, type HostileIdp } from './idp/hostile-idp.ts';
import { actionOf, csrfOf } from './pages.ts';
import { codeForm, seedCode } from './seed.ts';

const LOGS = RESOURCES[0]!.uri;
const COST = 'https://cost.internal.example.com';
const SECRET = 'scim-test-service-secret-0123456789abcdef';
const ENTRA_TOKEN = 'entra-scim-token-0123456789abcdefghijklmnopqrstuvwxyz';
const OKTA_TOKEN = 'okta-scim-token-0123456789abcdefghijklmnopqrstuvwxyz';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ISSUER = 'http://127.0.0.1:9400';

const service = (client_id: string, kind: string) => ({
  client_id,
  kind,
  auth: 'client_secret_basic',
  client_secret: SECRET,
  grant_types: ['client_credentials'],
});

const idpEntry = (id: string, idp: HostileIdp, scim?: Record<string, unknown>) => ({
  id,
  type: 'oidc',
  display_name: id,
  issuer: idp.issuer,
  client_id: idp.clientId,
  client_secret: 'x'.repeat(32),
  ...(scim ? { scim } : {}),
});

describe.each<Backend['name']>(['postgres+redis', 'embedded'])('SCIM provisioning on %s', (backend) => {
  let entraIdp: HostileIdp;
  let oktaIdp: HostileIdp;
  let t: TestServer;

  beforeAll(async () => {
    [entraIdp, oktaIdp] = await Promise.all([startHostileIdp(), startHostileIdp()]);
    t = await startTestServer({
      backend,
      config: (base) => ({
        resources: [
          { ...RESOURCES[0]!, client_id: 'logs-mcp' },
          { ...RESOURCES[1]!, client_id: 'cost-svc' },
        ],
        clients: {
          static: [...base.clients.static, service('logs-mcp', 'mcp_server'), service('cost-svc', 'service')],
        },
        delegation: [{ actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'], max_chain: 3 }],
        identity_providers: [
          ...base.identity_providers,
          idpEntry('entra', entraIdp, { token: ENTRA_TOKEN }),
          idpEntry('okta', oktaIdp, { token: OKTA_TOKEN }),
          // the same IdP without SCIM
          idpEntry('plain', entraIdp),
        ],
        role_bindings: { ...base.role_bindings, entra: { oncall: ['sre'] }, okta: { oncall: ['sre'] } },
      }),
    });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await Promise.all([entraIdp?.stop(), oktaIdp?.stop()]);
  });

  const base = (idp: string) => `/idp/${idp}/scim/v2`;
  const scim = (method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string, token?: string) => {
    const req = request(t.url)[method](path);
    return token ? req.set('Authorization', `Bearer ${token}`) : req;
  };
  const send = (method: 'post' | 'put' | 'patch', path: string, token: string, body: unknown) =>
    scim(method, path, token).type('application/scim+json').send(JSON.stringify(body));
  const entra = (method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string) =>
    scim(method, `${base('entra')}${path}`, ENTRA_TOKEN);

  /**
   * a code-flow token of the account for the logs MCP server, and logs-mcp's exchange of it for COST (the
   * groups a sign-in at the IdP would have brought: an SRE)
   */
  async function tokensOf(account: string) {
    await t.server.accounts.updateGroups(account, { groups: ['oncall'], roles: ['sre'] });
    const seed = await seedCode(t.server.provider(), account);
    const code = await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200);
    const logs = code.body.access_token as string;
    // an account enabled again is seen so by every process within STATE_CACHE_MS (provider/token-state.ts)
    const until = Date.now() + 4 * STATE_CACHE_MS + 5000;
    while (Date.now() < until && !(await active(logs))) await sleep(25);
    const cost = await exchangeToken(t.url, 'logs-mcp', SECRET, {
      subject_token: logs,
      resource: COST,
      scope: 'cost.read',
    });
    return { logs, cost, refresh: code.body.refresh_token as string };
  }

  const active = async (token: string) => {
    const asker = decodeJwt(token).aud === COST ? 'cost-svc' : 'logs-mcp';
    const res = await request(t.url).post('/token/introspection').auth(asker, SECRET).type('form').send({ token });
    expect(res.status).toBe(200);
    return res.body.active as boolean;
  };

  /** the token's bit in the served, signed status list (draft-ietf-oauth-status-list-20 §8.3, §7.1: 1 INVALID) */
  async function servedBit(token: string): Promise<number> {
    const { idx, uri } = (decodeJwt(token) as { status: { status_list: { idx: number; uri: string } } }).status
      .status_list;
    const jwks = createLocalJWKSet((await request(t.url).get('/jwks')).body as JSONWebKeySet);
    const res = await request(t.url).get(new URL(uri).pathname).expect(200);
    const { payload } = await jwtVerify(res.text, jwks, { typ: 'statuslist+jwt', subject: uri });
    return decodeStatusList(payload.status_list).get(idx);
  }

  /**
   * inactive at introspection, and INVALID in the served list (polled: each process caches token state for
   * STATE_CACHE_MS, provider/token-state.ts, and keeps its signed list a moment)
   */
  async function expectCutOff(tokens: string[]): Promise<void> {
    for (const token of tokens) {
      const until = Date.now() + 4 * STATE_CACHE_MS + 5000;
      while (Date.now() < until && (await active(token))) await sleep(25);
      expect(await active(token)).toBe(false);
      while (Date.now() < until && (await servedBit(token)) !== 1) await sleep(50);
      expect(await servedBit(token)).toBe(1);
    }
  }

  const refresh = (refreshToken: string) =>
    request(t.url)
      .post('/token')
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'ide-agent', resource: LOGS });

  /** A sign-in of Mallory (the hostile IdP's user, `sub` mallory) through `idpId`: the callback's answer. */
  async function signIn(idpId: string, idp: HostileIdp) {
    const agent = request.agent(t.url);
    const verifier = randomBytes(32).toString('base64url');
    const auth = `/auth?${new URLSearchParams({
      client_id: 'ide-agent',
      redirect_uri: 'http://127.0.0.1/callback',
      response_type: 'code',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      resource: LOGS,
    }).toString()}`;
    const toInteraction = await agent.get(auth).expect(303);
    const chooser = await agent.get(toInteraction.headers.location!).expect(200);
    const toIdp = await agent
      .post(actionOf(chooser.text))
      .type('form')
      .send({ csrf: csrfOf(chooser.text), idp: idpId })
      .expect(303);
    const upstream = new URL(toIdp.headers.location!);
    idp.next('good', upstream.searchParams.get('nonce')!);
    const callback = await agent
      .get(`/interaction/callback/${idpId}?code=abc&state=${upstream.searchParams.get('state')}`)
      .expect(303);
    return agent.get(callback.headers.location!.replace(ISSUER, ''));
  }

  type EventRow = { type: string; event: { reason?: string; details?: Record<string, unknown> } };
  const recordsOf = async (account: string) =>
    (
      await t.server.storage
        .db('audit_events')
        .where({ account_id: account })
        .orderBy('seq')
        .select<EventRow[]>('type', 'event')
    ).map((r) => ({ type: r.type, reason: r.event.reason, details: r.event.details }));

  const accountOf = (id: string) => t.server.accounts.find(id);

  describe('Entra ID: POST, GET filter userName eq, PATCH Replace active "False"', () => {
    it('creates the account, finds it, and the PATCH cuts the user off everywhere', async () => {
      const created = await send('post', `${base('entra')}/Users`, ENTRA_TOKEN, {
        schemas: [USER, ENTERPRISE],
        externalId: 'mallory',
        userName: 'Mallory@example.com',
        active: true,
        displayName: 'Mallory Example',
        emails: [{ primary: true, type: 'work', value: 'mallory@example.com' }],
        name: { formatted: 'Mallory Example', familyName: 'Example', givenName: 'Mallory' },
        [ENTERPRISE]: { department: 'Security' },
      });
      expect(created.status).toBe(201);
      expect(created.headers['content-type']).toBe('application/scim+json');
      const id = created.body.id as string;
      expect(created.headers.location).toBe(`${ISSUER}${base('entra')}/Users/${id}`);
      expect(created.body).toEqual({
        schemas: [USER, ENTERPRISE],
        id,
        externalId: 'mallory',
        userName: 'Mallory@example.com',
        active: true,
        displayName: 'Mallory Example',
        emails: [{ primary: true, type: 'work', value: 'mallory@example.com' }],
        name: { formatted: 'Mallory Example', familyName: 'Example', givenName: 'Mallory' },
        [ENTERPRISE]: { department: 'Security' },
        meta: {
          resourceType: 'User',
          created: expect.any(String),
          lastModified: expect.any(String),
          location: `${ISSUER}${base('entra')}/Users/${id}`,
        },
      });
      // the account of (the IdP's issuer, externalId), as `baton accounts add` would make it
      const account = await accountOf(id);
      expect(account).toMatchObject({
        idpId: 'entra',
        idpIssuer: entraIdp.issuer,
        idpSubject: 'mallory',
        disabled: false,
        profile: { email: 'mallory@example.com', name: 'Mallory Example' },
      });

      // Entra's lookup before a change: userName eq, case-insensitive (RFC 7643 §4.1.1)
      const found = await entra('get', '/Users').query({ filter: 'userName eq "mallory@example.com"' }).expect(200);
      expect(found.body).toMatchObject({ schemas: [LIST], totalResults: 1, startIndex: 1, itemsPerPage: 1 });
      expect(found.body.Resources).toEqual([created.body]);
      const none = await entra('get', '/Users').query({ filter: 'userName eq "nobody@example.com"' }).expect(200);
      expect(none.body).toEqual({ schemas: [LIST], Resources: [], totalResults: 0, startIndex: 1, itemsPerPage: 0 });
      const byExternalId = await entra('get', '/Users').query({ filter: 'externalId eq "mallory"' }).expect(200);
      expect(byExternalId.body.Resources).toEqual([created.body]);
      expect((await entra('get', `/Users/${id}`).expect(200)).body).toEqual(created.body);

      // a profile update as Entra writes it (an Enterprise extension path, Add of a new attribute): kept as sent
      const updated = await send('patch', `${base('entra')}/Users/${id}`, ENTRA_TOKEN, {
        schemas: [PATCH_OP],
        Operations: [
          { op: 'Replace', path: `${ENTERPRISE}:department`, value: 'Offboarding' },
          { op: 'Add', path: 'title', value: 'Analyst' },
        ],
      }).expect(200);
      expect(updated.body).toMatchObject({
        title: 'Analyst',
        active: true,
        [ENTERPRISE]: { department: 'Offboarding' },
      });
      expect((await entra('get', `/Users/${id}`).expect(200)).body).toEqual(updated.body);

      // Mallory signs in through the IdP; her agent has a token, exchanged by the logs MCP server
      expect((await signIn('entra', entraIdp)).status).toBe(303);
      const tokens = await tokensOf(id);
      expect(await active(tokens.logs)).toBe(true);
      expect(await servedBit(tokens.cost)).toBe(0);

      const patched = await send('patch', `${base('entra')}/Users/${id}`, ENTRA_TOKEN, {
        schemas: [PATCH_OP],
        Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ id, active: false, userName: 'Mallory@example.com' });
      expect((await accountOf(id))!.disabled).toBe(true);

      await expectCutOff([tokens.logs, tokens.cost]);
      const refused = await refresh(tokens.refresh);
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('invalid_grant');
      const again = await signIn('entra', entraIdp);
      expect(again.status).toBe(403);
      expect(again.text).toContain('This account is disabled.');

      const records = (await recordsOf(id)).filter((r) => r.details?.via === 'scim');
      expect(records).toEqual([
        {
          type: 'account.provisioned',
          reason: undefined,
          details: { via: 'scim', idp: 'entra', operation: 'scim.create', action: 'created' },
        },
        {
          type: 'account.provisioned',
          reason: undefined,
          details: { via: 'scim', idp: 'entra', operation: 'scim.modify', action: 'updated' },
        },
        {
          type: 'account.disabled',
          reason: undefined,
          details: { via: 'scim', idp: 'entra', operation: 'scim.modify' },
        },
        {
          type: 'token.revoked',
          reason: 'scim_deprovisioned',
          details: {
            via: 'scim',
            idp: 'entra',
            operation: 'scim.modify',
            target: 'user',
            id,
            tokens: 2,
            grants: 1,
            refresh_tokens: 1,
            consents: 0,
            sessions: expect.any(Number),
          },
        },
      ]);
    }, 60_000);
  });

  describe('Okta: POST, PUT active false, PATCH value {active: false}', () => {
    const okta = (method: 'post' | 'put' | 'patch', path: string, body: unknown) =>
      send(method, `${base('okta')}${path}`, OKTA_TOKEN, body);
    const oktaUser = {
      schemas: [USER],
      userName: 'okta.user@example.com',
      externalId: '00u1okta',
      name: { givenName: 'Okta', familyName: 'User' },
      emails: [{ primary: true, value: 'okta.user@example.com', type: 'work' }],
      displayName: 'Okta User',
      active: true,
      password: 'never-kept-0123',
    };

    it('PUT active false cuts off, PUT active true re-enables (revoked stays revoked), PATCH cuts off again', async () => {
      const created = await okta('post', '/Users', oktaUser).expect(201);
      const id = created.body.id as string;
      expect(created.body.password).toBeUndefined();
      const row = await t.server.storage.db('scim_users').where({ account_id: id }).first<{ resource: unknown }>();
      expect(JSON.stringify(row.resource)).not.toContain('never-kept');

      const first = await tokensOf(id);
      const off = await okta('put', `/Users/${id}`, { ...oktaUser, id, active: false }).expect(200);
      expect(off.body).toMatchObject({ id, active: false, userName: 'okta.user@example.com' });
      await expectCutOff([first.logs, first.cost]);
      expect((await refresh(first.refresh)).body.error).toBe('invalid_grant');

      const on = await okta('put', `/Users/${id}`, { ...oktaUser, id, active: true }).expect(200);
      expect(on.body.active).toBe(true);
      expect((await accountOf(id))!.disabled).toBe(false);
      expect(await active(first.logs)).toBe(false);
      expect(await servedBit(first.logs)).toBe(1);

      const second = await tokensOf(id);
      expect(await active(second.logs)).toBe(true);
      const patched = await okta('patch', `/Users/${id}`, {
        schemas: [PATCH_OP],
        Operations: [{ op: 'replace', value: { active: false } }],
      }).expect(200);
      expect(patched.body.active).toBe(false);
      await expectCutOff([second.logs, second.cost]);

      const types = (await recordsOf(id)).filter((r) => r.details?.via === 'scim').map((r) => r.type);
      expect(types).toEqual([
        'account.provisioned',
        'account.disabled',
        'token.revoked',
        'account.enabled',
        'account.disabled',
        'token.revoked',
      ]);
    }, 60_000);

    it('DELETE disables and revokes; then GET is 404 (RFC 7644 §3.6), the account stays, disabled', async () => {
      const created = await okta('post', '/Users', {
        ...oktaUser,
        userName: 'leaver@example.com',
        externalId: '00u2leaver',
      }).expect(201);
      const id = created.body.id as string;
      const tokens = await tokensOf(id);
      await scim('delete', `${base('okta')}/Users/${id}`, OKTA_TOKEN).expect(204);
      await expectCutOff([tokens.logs, tokens.cost]);
      const gone = await scim('get', `${base('okta')}/Users/${id}`, OKTA_TOKEN).expect(404);
      expect(gone.body).toEqual({ schemas: [ERROR], status: '404', detail: 'no such resource' });
      const listed = await scim('get', `${base('okta')}/Users`, OKTA_TOKEN)
        .query({ filter: 'userName eq "leaver@example.com"' })
        .expect(200);
      expect(listed.body.totalResults).toBe(0);
      expect((await accountOf(id))!.disabled).toBe(true);
      const types = (await recordsOf(id)).filter((r) => r.details?.via === 'scim').map((r) => r.type);
      expect(types).toEqual(['account.provisioned', 'account.disabled', 'token.revoked', 'account.provisioned']);
    }, 60_000);
  });

  describe('an account that exists already, an inactive POST', () => {
    it('a POST links the account that signed in before, keeping its groups; action linked', async () => {
      const signedIn = await t.server.accounts.recordLogin({
        idpId: 'okta',
        idpIssuer: oktaIdp.issuer,
        idpSubject: '00u3before',
        profile: { email: 'before@example.com' },
        groups: ['oncall'],
        roles: ['sre'],
      });
      const res = await send('post', `${base('okta')}/Users`, OKTA_TOKEN, {
        schemas: [USER],
        userName: 'before@example.com',
        externalId: '00u3before',
      }).expect(201);
      expect(res.body).toMatchObject({ id: signedIn.id, active: true });
      expect(await accountOf(signedIn.id)).toMatchObject({ groups: ['oncall'], roles: ['sre'], disabled: false });
      const records = (await recordsOf(signedIn.id)).filter((r) => r.details?.via === 'scim');
      expect(records).toEqual([
        {
          type: 'account.provisioned',
          reason: undefined,
          details: { via: 'scim', idp: 'okta', operation: 'scim.create', action: 'linked' },
        },
      ]);
    });

    it('two POSTs of one User at once: one 201, one 409 uniqueness, one User', async () => {
      const user = { schemas: [USER], userName: 'twice@example.com', externalId: 'twice-oid' };
      const answers = await Promise.all([1, 2].map(() => send('post', `${base('entra')}/Users`, ENTRA_TOKEN, user)));
      expect(answers.map((r) => r.status).sort()).toEqual([201, 409]);
      expect(answers.find((r) => r.status === 409)!.body).toMatchObject({ scimType: 'uniqueness' });
      const found = await entra('get', '/Users').query({ filter: 'externalId eq "twice-oid"' }).expect(200);
      expect(found.body.totalResults).toBe(1);
    });

    it('a POST with active "False" creates the account disabled (revoked first), and shows it inactive', async () => {
      const res = await send('post', `${base('entra')}/Users`, ENTRA_TOKEN, {
        schemas: [USER],
        userName: 'dormant@example.com',
        externalId: 'dormant-oid',
        active: 'False',
      }).expect(201);
      expect(res.body).toMatchObject({ userName: 'dormant@example.com', active: false });
      expect((await accountOf(res.body.id as string))!.disabled).toBe(true);
      const types = (await recordsOf(res.body.id as string)).map((r) => r.type);
      expect(types).toEqual(['account.provisioned', 'account.disabled', 'token.revoked']);
      const on = await send('patch', `${base('entra')}/Users/${res.body.id as string}`, ENTRA_TOKEN, {
        schemas: [PATCH_OP],
        Operations: [{ op: 'Replace', value: { active: 'True' } }],
      }).expect(200);
      expect(on.body.active).toBe(true);
      expect((await accountOf(res.body.id as string))!.disabled).toBe(false);
    });
  });

  describe('hostile requests: the exact SCIM error, nothing changed', () => {
    let victim: string;
    beforeAll(async () => {
      const created = await send('post', `${base('entra')}/Users`, ENTRA_TOKEN, {
        schemas: [USER],
        externalId: 'victim-oid',
        userName: 'victim@example.com',
        active: true,
      }).expect(201);
      victim = created.body.id as string;
    });

    /** what a request could change: the Users, the accounts and the audit trail */
    const snapshot = async () => {
      const db = t.server.storage.db;
      return {
        users: await db('scim_users')
          .orderBy('account_id')
          .select('account_id', 'resource', 'deleted_at', 'updated_at'),
        accounts: await db('accounts').orderBy('id').select('id', 'disabled_at', 'profile'),
        audit: Number((await db('audit_events').count<{ n: string }[]>('* as n'))[0]!.n),
      };
    };

    const error = (status: number, detail: string, scimType?: string) => ({
      schemas: [ERROR],
      status: String(status),
      ...(scimType ? { scimType } : {}),
      detail,
    });

    it.each([
      ['no token', undefined, 'Bearer realm="http://127.0.0.1:9400/idp/entra/scim/v2"', 'a bearer token is required'],
      [
        'a wrong token',
        'wrong-token-0123456789abcdefghijklmnopqrstuvwxyz',
        'Bearer realm="http://127.0.0.1:9400/idp/entra/scim/v2", error="invalid_token", error_description="the bearer token is not valid here"',
        'the bearer token is not valid here',
      ],
      [
        "another IdP's token",
        OKTA_TOKEN,
        'Bearer realm="http://127.0.0.1:9400/idp/entra/scim/v2", error="invalid_token", error_description="the bearer token is not valid here"',
        'the bearer token is not valid here',
      ],
    ])(
      '%s: 401 with the Bearer challenge (RFC 6750 §3), on every endpoint',
      async (_name, token, challenge, detail) => {
        const before = await snapshot();
        const requests = [
          scim('get', `${base('entra')}/Users/${victim}`, token),
          scim('get', `${base('entra')}/ServiceProviderConfig`, token),
          scim('delete', `${base('entra')}/Users/${victim}`, token),
          scim('patch', `${base('entra')}/Users/${victim}`, token)
            .type('application/scim+json')
            .send(
              JSON.stringify({ schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] }),
            ),
        ];
        for (const res of await Promise.all(requests)) {
          expect(res.status).toBe(401);
          expect(res.headers['www-authenticate']).toBe(challenge);
          expect(res.headers['content-type']).toBe('application/scim+json');
          expect(res.body).toEqual(error(401, detail));
        }
        expect(await snapshot()).toEqual(before);
        // the refusal is logged with its reason; no token ever is
        const lines = t.logs.lines();
        expect(lines.some((l) => l.includes('"msg":"scim.refused"') && l.includes('"status":401'))).toBe(true);
        for (const secret of [ENTRA_TOKEN, OKTA_TOKEN, 'wrong-token-0123456789'])
          expect(lines.some((l) => l.includes(secret))).toBe(false);
      },
    );

    it.each([
      ['not a filter', 'userName eq', 'only userName eq, externalId eq and id eq filters are supported'],
      ['an unclosed group', '(userName eq "a"', "Missing closing ')' token in filter '(userName eq \"a\"'"],
      ['garbage', 'userName zz "a"', expect.any(String)],
      [
        'an unsupported comparison',
        'userName co "a"',
        'only userName eq, externalId eq and id eq filters are supported',
      ],
      [
        'an or',
        'userName eq "a" or userName eq "b"',
        'only userName eq, externalId eq and id eq filters are supported',
      ],
      ['a number', 'userName eq 5', 'userName is compared with a string'],
    ])('a filter with %s: 400 invalidFilter', async (_name, filter, detail) => {
      const res = await entra('get', '/Users').query({ filter });
      expect(res.status).toBe(400);
      expect(res.body).toEqual(error(400, detail as string, 'invalidFilter'));
    });

    it.each([
      ['an unknown op', [{ op: 'move', path: 'active', value: false }], 'invalidSyntax'],
      ['an unknown path', [{ op: 'replace', path: 'clearance', value: 'top' }], 'invalidPath'],
      ['a malformed path', [{ op: 'remove', path: 'emails[type eq "work"' }], 'invalidPath'],
      ['a value of the wrong type', [{ op: 'replace', path: 'active', value: 'maybe' }], 'invalidValue'],
      ['no operations', [], 'invalidValue'],
      ['the account changed', [{ op: 'replace', path: 'externalId', value: 'someone-else' }], 'mutability'],
    ])('a PATCH with %s: 400 %s, nothing changed', async (_name, Operations, scimType) => {
      const before = await snapshot();
      const res = await send('patch', `${base('entra')}/Users/${victim}`, ENTRA_TOKEN, {
        schemas: [PATCH_OP],
        Operations,
      });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ schemas: [ERROR], status: '400', scimType, detail: expect.any(String) });
      expect(await snapshot()).toEqual(before);
    });

    it('a PATCH without the PatchOp schema, or not an object: 400 invalidSyntax', async () => {
      const before = await snapshot();
      for (const body of [{ schemas: [USER], Operations: [{ op: 'replace', path: 'active', value: false }] }, [1]]) {
        const res = await send('patch', `${base('entra')}/Users/${victim}`, ENTRA_TOKEN, body);
        expect(res.status).toBe(400);
        expect(res.body).toMatchObject({ schemas: [ERROR], status: '400', scimType: 'invalidSyntax' });
      }
      expect(await snapshot()).toEqual(before);
    });

    it('a body that is not JSON, or of another type: 400 invalidSyntax; a huge body: 413', async () => {
      const before = await snapshot();
      const path = `${base('entra')}/Users/${victim}`;
      const notJson = await scim('put', path, ENTRA_TOKEN).type('application/scim+json').send('{"userName":');
      expect(notJson.status).toBe(400);
      expect(notJson.body).toEqual(error(400, 'the body is not JSON', 'invalidSyntax'));
      const text = await scim('put', path, ENTRA_TOKEN).type('text/plain').send('userName=x');
      expect(text.body).toEqual(
        error(400, 'the body must be application/json or application/scim+json', 'invalidSyntax'),
      );
      const huge = await send('put', path, ENTRA_TOKEN, {
        userName: 'victim@example.com',
        displayName: 'x'.repeat(70_000),
      });
      expect(huge.status).toBe(413);
      expect(huge.body).toEqual(error(413, 'the body is larger than 65536 bytes'));
      expect(await snapshot()).toEqual(before);
    });

    it('an unknown User: 404 for GET, PUT, PATCH and DELETE', async () => {
      const before = await snapshot();
      const path = `${base('entra')}/Users/u_nobody`;
      const answers = [
        await scim('get', path, ENTRA_TOKEN),
        await scim('delete', path, ENTRA_TOKEN),
        await send('put', path, ENTRA_TOKEN, { schemas: [USER], userName: 'x@example.com', externalId: 'x' }),
        await send('patch', path, ENTRA_TOKEN, {
          schemas: [PATCH_OP],
          Operations: [{ op: 'replace', path: 'active', value: false }],
        }),
      ];
      for (const res of answers) expect([res.status, res.body]).toEqual([404, error(404, 'no such resource')]);
      // another IdP's User is unknown here
      const other = await scim('get', `${base('okta')}/Users/${victim}`, OKTA_TOKEN);
      expect([other.status, other.body]).toEqual([404, error(404, 'no such resource')]);
      expect(await snapshot()).toEqual(before);
    });

    it('a POST of an existing externalId or userName (any case): 409 uniqueness', async () => {
      const before = await snapshot();
      const same = await send('post', `${base('entra')}/Users`, ENTRA_TOKEN, {
        schemas: [USER],
        externalId: 'victim-oid',
        userName: 'other@example.com',
      });
      expect([same.status, same.body]).toEqual([
        409,
        error(409, 'a User with this externalId exists already', 'uniqueness'),
      ]);
      const name = await send('post', `${base('entra')}/Users`, ENTRA_TOKEN, {
        schemas: [USER],
        externalId: 'new-oid',
        userName: 'VICTIM@example.com',
      });
      expect([name.status, name.body]).toEqual([
        409,
        error(409, 'a User with this userName exists already', 'uniqueness'),
      ]);
      expect(await snapshot()).toEqual(before);
    });

    it('a POST without the externalId, or with a control character: 400 invalidValue, no account', async () => {
      const before = await snapshot();
      const missing = await send('post', `${base('entra')}/Users`, ENTRA_TOKEN, {
        schemas: [USER],
        userName: 'n@example.com',
      });
      expect([missing.status, missing.body]).toEqual([
        400,
        error(400, 'externalId (1-255 characters) is required: it names the account', 'invalidValue'),
      ]);
      const control = await send('post', `${base('entra')}/Users`, ENTRA_TOKEN, {
        schemas: [USER],
        userName: 'n\u0000@example.com',
        externalId: 'n',
      });
      expect(control.status).toBe(400);
      expect(control.body).toMatchObject({ status: '400', scimType: 'invalidValue' });
      expect(await snapshot()).toEqual(before);
    });

    it('an unknown IdP, a local one, or one without scim: 404 before any token is looked at', async () => {
      for (const idp of ['nope', 'local', 'plain']) {
        const res = await scim('get', `${base(idp)}/Users`, ENTRA_TOKEN);
        expect([res.status, res.body, res.headers['www-authenticate']]).toEqual([
          404,
          error(404, 'no such resource'),
          undefined,
        ]);
      }
    });

    it('odd ids, IdP ids and filter values: 404 or 400, never a 500', async () => {
      const answers = await Promise.all(
        [
          `${base('entra')}/Users/%00`,
          `${base('entra')}/Users/%E0%A4%A`,
          `${base('entra')}/Users/u_${'a'.repeat(23)}%00`,
          `/idp/%E0%A4%A/scim/v2/Users`,
          `/idp/%00/scim/v2/Users`,
        ].map((path) => scim('get', path, ENTRA_TOKEN)),
      );
      for (const res of answers) expect([res.status, res.body.schemas]).toEqual([404, [ERROR]]);
      const nul = await entra('get', '/Users').query({ filter: 'userName eq "a\u0000b"' });
      expect([nul.status, nul.body]).toEqual([
        400,
        error(400, 'userName is compared with a value no User has', 'invalidFilter'),
      ]);
      const paging = await entra('get', '/Users').query({ startIndex: 'one' });
      expect([paging.status, paging.body]).toEqual([400, error(400, 'startIndex must be an integer', 'invalidValue')]);
    });

    it('another method or path: 405 with Allow, 404', async () => {
      const res = await entra('delete', '/Users');
      expect([res.status, res.headers.allow, res.body]).toEqual([
        405,
        'GET, POST',
        error(405, 'DELETE is not served here'),
      ]);
      const unknown = await entra('get', '/Groups');
      expect([unknown.status, unknown.body]).toEqual([404, error(404, 'no such resource')]);
    });
  });

  describe('paging (RFC 7644 §3.4.2.4)', () => {
    it('startIndex and count select a page of the list; count 0 gives the total only', async () => {
      for (const name of ['page-a', 'page-b', 'page-c'])
        await send('post', `${base('entra')}/Users`, ENTRA_TOKEN, {
          schemas: [USER],
          userName: `${name}@example.com`,
          externalId: name,
        }).expect(201);
      const all = (await entra('get', '/Users').expect(200)).body as { Resources: unknown[]; totalResults: number };
      expect(all.totalResults).toBe(all.Resources.length);
      expect(all.totalResults).toBeGreaterThanOrEqual(3);
      const page = await entra('get', '/Users').query({ startIndex: 2, count: 2 }).expect(200);
      expect(page.body).toEqual({
        schemas: [LIST],
        totalResults: all.totalResults,
        Resources: all.Resources.slice(1, 3),
        startIndex: 2,
        itemsPerPage: 2,
      });
      const counted = await entra('get', '/Users').query({ count: 0, startIndex: -4 }).expect(200);
      expect(counted.body).toEqual({
        schemas: [LIST],
        totalResults: all.totalResults,
        Resources: [],
        startIndex: 1,
        itemsPerPage: 0,
      });
    });
  });

  describe('discovery (RFC 7644 §4)', () => {
    it('ServiceProviderConfig, Schemas and ResourceTypes, located under the IdP base', async () => {
      const at = `${ISSUER}${base('entra')}`;
      const spc = await entra('get', '/ServiceProviderConfig').expect(200);
      expect(spc.body).toMatchObject({
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
        patch: { supported: true },
        filter: { supported: true, maxResults: 100 },
        bulk: { supported: false },
        sort: { supported: false },
        etag: { supported: false },
        authenticationSchemes: [expect.objectContaining({ type: 'oauthbearertoken' })],
        meta: { resourceType: 'ServiceProviderConfig', location: `${at}/ServiceProviderConfig` },
      });
      const types = await entra('get', '/ResourceTypes').expect(200);
      expect(types.body.Resources).toEqual([
        {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
          id: 'User',
          name: 'User',
          endpoint: '/Users',
          description: 'User Account',
          schema: USER,
          schemaExtensions: [{ schema: ENTERPRISE, required: false }],
          meta: { resourceType: 'ResourceType', location: `${at}/ResourceTypes/User` },
        },
      ]);
      const schema = await entra('get', `/Schemas/${USER}`).expect(200);
      expect(schema.body).toMatchObject({ id: USER, meta: { location: `${at}/Schemas/${USER}` } });
      const all = (await entra('get', '/Schemas').expect(200)).body as { Resources: { id: string }[] };
      expect(all.Resources.map((r) => r.id)).toEqual([USER, ENTERPRISE]);
      const filtered = await entra('get', '/ServiceProviderConfig').query({ filter: 'x eq "y"' });
      expect(filtered.status).toBe(403);
    });
  });
});

describe('identity_providers[].scim in the configuration', () => {
  const withScim = (scim: unknown, type = 'oidc') =>
    makeConfig({
      identity_providers: [
        LOCAL_IDP,
        type === 'oidc'
          ? { id: 'corp', type: 'oidc', issuer: 'https://idp.example.com', client_id: 'baton', scim }
          : { id: 'corp', type: 'local', scim },
      ],
    });

  it('a token shorter than 32 characters, or not a bearer token, stops the start', () => {
    expect(() => withScim({ token: 'short-token' })).toThrow(/scim.*token.*at least 32 characters/s);
    expect(() => withScim({ token: `${'a'.repeat(40)} b` })).toThrow(/RFC 6750 bearer token/);
  });

  it('only an oidc IdP has scim; subject_attribute is externalId or userName (externalId by default)', () => {
    expect(() => withScim({ token: 'a'.repeat(32) }, 'local')).toThrow();
    expect(() => withScim({ token: 'a'.repeat(32), subject_attribute: 'emails' })).toThrow();
    const idp = withScim({ token: 'a'.repeat(32) }).identity_providers[1]!;
    expect(idp.type === 'oidc' && idp.scim).toEqual({ token: 'a'.repeat(32), subject_attribute: 'externalId' });
  });
});
