/**
 * Global Token Revocation (draft-parecki-oauth-global-token-revocation-06), as Okta's Universal Logout
 * calls it: `POST <issuer>/idp/okta/global-token-revocation` with a JWT the IdP signed in `Authorization:
 * Bearer` (§3.5: iss, sub, aud = the endpoint URL, jti, iat, exp; Okta's typ and nbf) and an RFC 9493
 * `sub_id`. The IdP is the test's: a jose key pair whose public half is the IdP's `jwks` (`sign_in: false`).
 * Alice has a token for the logs MCP server and one exchanged from it for the cost service: after a 204
 * both are inactive at introspection, their status list bits are set, and a `token.revoked` audit record
 * names the IdP. Then every hostile request: the exact status and body, and nothing revoked.
 */
import { randomUUID } from 'node:crypto';
import {
  createLocalJWKSet,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  type CryptoKey,
  type JSONWebKeySet,
} from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Account } from '../src/accounts/store.ts';
import { searchEvents } from '../src/audit/store.ts';
import { decodeStatusList } from '../src/status-list/format.ts';
import { startServer, type RunningServer } from '../src/main.ts';
import {
  exchangeToken,
  freePort,
  LOCAL_IDP,
  memoryLogger,
  RESOURCES,
  startTestServer,
  type TestServer,
} from './helpers.ts';
import { codeForm, seedCode } from './seed.ts';

const OKTA = 'https://example.okta.com';
const COST = RESOURCES[1]!.uri;
const SECRET = 'gtr-test-secret-0123456789abcdefghijkl';
const PATH = '/idp/okta/global-token-revocation';

let t: TestServer;
let key: CryptoKey;
let evil: CryptoKey;
let endpoint: string;

const service = (client_id: string, kind: string) => ({
  client_id,
  kind,
  client_secret: SECRET,
  grant_types: ['client_credentials'],
});

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  evil = (await generateKeyPair('ES256')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'okta-1', alg: 'ES256', use: 'sig' };
  const idp = (id: string, issuer: string, on: boolean) => ({
    id,
    type: 'oidc',
    issuer,
    sign_in: false,
    sync_on_refresh: false,
    jwks: { keys: [jwk] },
    global_token_revocation: on,
  });
  const closedPort = await freePort();
  t = await startTestServer({
    backend: 'postgres+redis',
    config: (base) => ({
      identity_providers: [
        LOCAL_IDP,
        idp('okta', OKTA, true),
        idp('quiet', 'https://quiet.example.com', false),
        { ...idp('paused', 'https://paused.example.com', true), enabled: false },
        // an IdP whose key set cannot be fetched (nothing listens there)
        {
          ...idp('down', 'https://down.example.com', true),
          jwks: undefined,
          jwks_uri: `http://127.0.0.1:${closedPort}/jwks`,
        },
      ],
      role_bindings: { ...base.role_bindings, okta: { developers: ['developer'] } },
      resources: [
        { ...RESOURCES[0]!, client_id: 'logs-mcp' },
        { ...RESOURCES[1]!, client_id: 'cost-svc' },
      ],
      clients: { static: [...base.clients.static, service('logs-mcp', 'mcp_server'), service('cost-svc', 'service')] },
      delegation: [{ actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'], max_chain: 3 }],
    }),
  });
  endpoint = `${t.config.issuer}${PATH}`;
}, 60_000);
afterAll(async () => t?.close());

/** Okta's Universal Logout JWT (its developer guide, "Endpoint authentication"), with the test's changes */
async function oktaJwt(
  change: Record<string, unknown> = {},
  opts: { signer?: CryptoKey; header?: Record<string, unknown> } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: OKTA,
    sub: '0oa-baton-app',
    aud: endpoint,
    jti: randomUUID(),
    iat: now,
    nbf: now - 300,
    exp: now + 300,
    ...change,
  };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete (claims as Record<string, unknown>)[k];
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: 'global-token-revocation+jwt', kid: 'okta-1', ...opts.header })
    .sign(opts.signer ?? key);
}

const post = (body: unknown, jwt?: string, path = PATH) => {
  const r = request(t.url).post(path).set('Content-Type', 'application/json');
  if (jwt) void r.set('Authorization', `Bearer ${jwt}`);
  return r.send(typeof body === 'string' ? body : JSON.stringify(body));
};

const issSub = (sub: string, iss = OKTA) => ({ sub_id: { format: 'iss_sub', iss, sub } });

/** a person of the Okta org with an account, a token for the logs MCP server and one exchanged from it */
async function person(subject: string, email: string): Promise<{ account: Account; logs: string; cost: string }> {
  const account = await t.server.accounts.recordLogin({
    idpId: 'okta',
    idpIssuer: OKTA,
    idpSubject: subject,
    profile: { email },
    groups: ['developers'],
    roles: ['developer'],
  });
  const seed = await seedCode(t.server.provider(), account.id);
  const logs = (await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body
    .access_token as string;
  const cost = await exchangeToken(t.url, 'logs-mcp', SECRET, {
    subject_token: logs,
    resource: COST,
    scope: 'cost.read',
  });
  return { account, logs, cost };
}

/** RFC 7662, asked by the token's own resource server */
const active = async (token: string, asker: string) =>
  (await request(t.url).post('/token/introspection').auth(asker, SECRET).type('form').send({ token }).expect(200)).body
    .active as boolean;

/** introspection answers from a per-process cache of at most STATE_CACHE_MS (1 s): poll */
const inactive = (token: string, asker: string) =>
  expect.poll(() => active(token, asker), { interval: 100, timeout: 10_000 }).toBe(false);

/** nothing of the person's tokens is revoked in the stores (no cache in between) */
async function untouched(tokens: string[]): Promise<void> {
  const jtis = tokens.map((x) => String(decodeJwt(x).jti));
  const rows = await t.server.storage
    .db('status_list_entries')
    .whereIn('jti', jtis)
    .select<{ status: number }[]>('status');
  expect(rows.map((r) => r.status)).toEqual(jtis.map(() => 0));
  for (const jti of jtis) expect(await t.server.storage.adapterFor('RevokedToken').find(jti)).toBeUndefined();
}

/** the token's bit in the status list baton serves (draft-ietf-oauth-status-list-20 §8.3), verified */
async function statusBit(token: string): Promise<number> {
  const { idx, uri } = (decodeJwt(token) as { status: { status_list: { idx: number; uri: string } } }).status
    .status_list;
  const res = await request(t.url).get(new URL(uri).pathname).expect(200);
  const jwks = createLocalJWKSet((await request(t.url).get('/jwks')).body as JSONWebKeySet);
  const { payload } = await jwtVerify(res.text, jwks, { typ: 'statuslist+jwt' });
  return decodeStatusList(payload.status_list).get(idx);
}

const records = async (outcome: string) =>
  (await searchEvents(t.server.storage.db, { type: 'token.revoked', limit: 1000 })).filter(
    (r) =>
      r.outcome === outcome && (r.event.details as { via?: string } | undefined)?.via === 'global_token_revocation',
  );

describe('a global token revocation from the IdP', () => {
  it('iss_sub: 204, both hops inactive at introspection, their status bits set, one token.revoked record', async () => {
    const alice = await person('00u-alice', 'alice@example.com');
    expect(await active(alice.logs, 'logs-mcp')).toBe(true);
    expect(await active(alice.cost, 'cost-svc')).toBe(true);
    expect(await statusBit(alice.logs)).toBe(0);

    const res = await post(issSub('00u-alice'), await oktaJwt());
    expect(res.status, res.text).toBe(204);
    expect(res.text).toBe('');

    await inactive(alice.logs, 'logs-mcp');
    await inactive(alice.cost, 'cost-svc');
    // the list is cached for 1 s in each process: poll the served list
    await expect.poll(() => statusBit(alice.logs), { interval: 100, timeout: 10_000 }).toBe(1);
    await expect.poll(() => statusBit(alice.cost), { interval: 100, timeout: 10_000 }).toBe(1);

    const [record] = (await records('success')).filter((r) => r.account_id === alice.account.id);
    expect(record!.event).toMatchObject({
      type: 'token.revoked',
      outcome: 'success',
      account: alice.account.id,
      idp: { iss: OKTA, sub: '00u-alice' },
      reason: 'global_token_revocation',
      details: {
        via: 'global_token_revocation',
        idp: 'okta',
        caller: '0oa-baton-app',
        format: 'iss_sub',
        target: 'user',
        id: alice.account.id,
        tokens: 2,
        grants: 1,
        refresh_tokens: expect.any(Number),
        consents: 0,
        sessions: 0,
      },
    });
    expect((record!.event.details as { record: string }).record).toMatch(/^gtr\./);
    expect(t.logs.lines().some((l) => l.includes('global_token_revocation.revoked'))).toBe(true);
  });

  it("email (Okta's default format), case-insensitively, and `subject` (the name Okta's guide uses): 204", async () => {
    const dave = await person('00u-dave', 'Dave@Example.com');
    const res = await post({ subject: { format: 'email', email: 'dave@example.COM' } }, await oktaJwt());
    expect(res.status, res.text).toBe(204);
    await inactive(dave.logs, 'logs-mcp');
    await inactive(dave.cost, 'cost-svc');
  });

  it("opaque: baton's own account id, only for an account of that IdP", async () => {
    const erin = await person('00u-erin', 'erin@example.com');
    // a JWT without typ, its aud an array of exactly the endpoint (RFC 7519 §4.1.3), is accepted too
    const jwt = await oktaJwt({ aud: [endpoint] }, { header: { typ: undefined } });
    expect((await post({ sub_id: { format: 'opaque', id: erin.account.id } }, jwt)).status).toBe(204);
    await inactive(erin.logs, 'logs-mcp');
  });
});

describe('hostile requests: the exact answer, nothing revoked', () => {
  let bob: { account: Account; logs: string; cost: string };
  beforeAll(async () => {
    bob = await person('00u-bob', 'bob@example.com');
  });

  const invalidToken = {
    error: 'invalid_token',
    error_description: 'the token is not valid here',
  };
  const challenge = `Bearer realm="http://127.0.0.1:9400${PATH}", error="invalid_token", error_description="the token is not valid here"`;

  /** every case: the status, the body, the challenge (401), and bob still active on both hops */
  async function refused(
    res: request.Response,
    status: number,
    body: Record<string, string>,
    reason: string,
  ): Promise<void> {
    expect(res.status, res.text).toBe(status);
    expect(res.body).toEqual(body);
    expect(res.headers['cache-control']).toBe('no-store');
    if (status === 401) expect(res.headers['www-authenticate']).toBe(challenge);
    expect(await active(bob.logs, 'logs-mcp')).toBe(true);
    expect(await active(bob.cost, 'cost-svc')).toBe(true);
    await untouched([bob.logs, bob.cost]);
    const logged = t.logs
      .lines()
      .filter((l) => l.includes('global_token_revocation.refused'))
      .at(-1)!;
    expect(JSON.parse(logged)).toMatchObject({ status, reason });
    const record = (await records('refused')).at(-1)!;
    expect(record.event).toMatchObject({
      outcome: 'refused',
      reason,
      error: body.error,
      details: {
        via: 'global_token_revocation',
        status,
        ...(reason === 'idp_unknown' ? {} : { idp: expect.any(String) }),
      },
    });
    if (reason === 'idp_unknown') expect(record.event.details).not.toHaveProperty('idp');
  }

  it('a forged signature: 401 invalid_token', async () => {
    await refused(
      await post(issSub('00u-bob'), await oktaJwt({}, { signer: evil })),
      401,
      invalidToken,
      'token_invalid',
    );
  });

  it('another issuer, another audience: 401 invalid_token', async () => {
    await refused(
      await post(issSub('00u-bob'), await oktaJwt({ iss: 'https://evil.okta.com' })),
      401,
      invalidToken,
      'token_invalid',
    );
    await refused(
      await post(issSub('00u-bob'), await oktaJwt({ aud: `${t.config.issuer}/idp/quiet/global-token-revocation` })),
      401,
      invalidToken,
      'token_invalid',
    );
    await refused(
      await post(issSub('00u-bob'), await oktaJwt({ aud: [endpoint, 'https://other.example.com'] })),
      401,
      invalidToken,
      'token_invalid',
    );
  });

  it('expired, too long-lived, without jti, a foreign typ, HS256: 401 invalid_token', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused(
      await post(issSub('00u-bob'), await oktaJwt({ iat: now - 900, nbf: now - 900, exp: now - 600 })),
      401,
      invalidToken,
      'token_invalid',
    );
    await refused(
      await post(issSub('00u-bob'), await oktaJwt({ exp: now + 3600 })),
      401,
      invalidToken,
      'token_invalid',
    );
    await refused(await post(issSub('00u-bob'), await oktaJwt({ jti: undefined })), 401, invalidToken, 'token_invalid');
    await refused(
      await post(issSub('00u-bob'), await oktaJwt({}, { header: { typ: 'logout+jwt' } })),
      401,
      invalidToken,
      'token_invalid',
    );
    const hs = await new SignJWT({ iss: OKTA, sub: 'x', aud: endpoint, jti: randomUUID(), iat: now, exp: now + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: 'okta-1' })
      .sign(new TextEncoder().encode('a-shared-secret-of-thirty-two-bytes!'));
    await refused(await post(issSub('00u-bob'), hs), 401, invalidToken, 'token_invalid');
  });

  it('no Authorization, or another scheme: 401 with a bare challenge (RFC 6750 §3.1)', async () => {
    for (const res of [
      await post(issSub('00u-bob')),
      await post(issSub('00u-bob')).set('Authorization', 'Basic b2t0YTpzZWNyZXQ='),
    ]) {
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(`Bearer realm="http://127.0.0.1:9400${PATH}"`);
      expect(res.body).toEqual({
        error: 'invalid_token',
        error_description: 'a JWT signed by the identity provider is required',
      });
    }
    expect(await active(bob.logs, 'logs-mcp')).toBe(true);
  });

  it('a replayed jti, two requests at once at two servers on the store: exactly one revocation, the other 401', async () => {
    const carol = await person('00u-carol', 'carol@example.com');
    const jwt = await oktaJwt();
    const before = (await records('success')).length;
    // a second baton on the same PostgreSQL and Redis: the jti is claimed in the shared store
    const other: RunningServer = await startServer(t.config, memoryLogger().log);
    const at = (url: string) =>
      request(url).post(PATH).set('Content-Type', 'application/json').set('Authorization', `Bearer ${jwt}`);
    const answers = await Promise.all([
      at(t.url).send(JSON.stringify(issSub('00u-carol'))),
      at(other.url).send(JSON.stringify(issSub('00u-carol'))),
    ]).finally(() => other.close());
    expect(answers.map((r) => r.status).sort()).toEqual([204, 401]);
    expect(answers.find((r) => r.status === 401)!.body).toEqual(invalidToken);
    expect((await records('success')).length).toBe(before + 1);
    expect((await records('refused')).at(-1)!.event).toMatchObject({ reason: 'token_replayed' });
    await inactive(carol.logs, 'logs-mcp');
    // the same JWT later, for bob: 401, bob untouched
    await refused(await post(issSub('00u-bob'), jwt), 401, invalidToken, 'token_replayed');
  });

  it('an unsupported subject identifier format: 400', async () => {
    const body = {
      error: 'invalid_request',
      error_description: 'unsupported subject identifier format; supported: iss_sub, email, opaque',
    };
    await refused(
      await post({ sub_id: { format: 'phone_number', phone_number: '+12065550100' } }, await oktaJwt()),
      400,
      body,
      'format_unsupported',
    );
  });

  it('a malformed sub_id: 400', async () => {
    const body = { error: 'invalid_request', error_description: 'sub_id is not a valid subject identifier' };
    await refused(
      await post({ sub_id: { format: 'iss_sub', iss: OKTA } }, await oktaJwt()),
      400,
      body,
      'sub_id_invalid',
    );
    await refused(
      await post({ sub_id: { format: 'email', email: 'bob@example.com', sub: '00u-bob' } }, await oktaJwt()),
      400,
      body,
      'sub_id_invalid',
    );
    await refused(
      await post({ sub_id: { format: 'iss_sub', iss: OKTA, sub: '00u-\u0000' } }, await oktaJwt()),
      400,
      body,
      'sub_id_invalid',
    );
    const none = { error: 'invalid_request', error_description: 'the body must be a JSON object with sub_id' };
    await refused(await post({ user: 'bob' }, await oktaJwt()), 400, none, 'body_invalid');
    await refused(await post([issSub('00u-bob')], await oktaJwt()), 400, none, 'body_invalid');
  });

  it("iss_sub naming another issuer's user: 403", async () => {
    const body = { error: 'access_denied', error_description: 'this identity provider may only name its own users' };
    await refused(
      await post(issSub('00u-bob', 'https://quiet.example.com'), await oktaJwt()),
      403,
      body,
      'issuer_foreign',
    );
  });

  it('an unknown user: 404 (§3.4.2 "User Not Found"), by iss_sub, email and opaque', async () => {
    const body = { error: 'not_found', error_description: 'the user indicated by sub_id was not found' };
    await refused(await post(issSub('00u-nobody'), await oktaJwt()), 404, body, 'user_unknown');
    await refused(
      await post({ sub_id: { format: 'email', email: 'nobody@example.com' } }, await oktaJwt()),
      404,
      body,
      'user_unknown',
    );
    // a local account's id is not one of the Okta org's users
    const local = await t.server.accounts.recordLogin({
      idpId: 'local',
      idpIssuer: 'urn:baton:idp:local',
      idpSubject: 'zed',
      profile: {},
      groups: [],
      roles: [],
    });
    await refused(
      await post({ sub_id: { format: 'opaque', id: local.id } }, await oktaJwt()),
      404,
      body,
      'user_unknown',
    );
  });

  it('malformed JSON, another content type, a huge body: 400, 400, 413', async () => {
    await refused(
      await post('{"sub_id": {', await oktaJwt()),
      400,
      { error: 'invalid_request', error_description: 'the body is not JSON' },
      'body_invalid',
    );
    const form = await request(t.url)
      .post(PATH)
      .set('Authorization', `Bearer ${await oktaJwt()}`)
      .type('form')
      .send({ sub_id: 'x' });
    await refused(
      form,
      400,
      { error: 'invalid_request', error_description: 'the body must be application/json' },
      'content_type',
    );
    const huge = JSON.stringify({ ...issSub('00u-bob'), pad: 'x'.repeat(20_000) });
    await refused(
      await post(huge, await oktaJwt()),
      413,
      { error: 'invalid_request', error_description: 'the body is larger than 8192 bytes' },
      'body_too_large',
    );
  });

  it("the IdP's key set cannot be fetched: 503 temporarily_unavailable, Retry-After", async () => {
    const down = `${t.config.issuer}/idp/down/global-token-revocation`;
    const jwt = await oktaJwt({ iss: 'https://down.example.com', aud: down });
    const res = await post(issSub('00u-bob', 'https://down.example.com'), jwt, '/idp/down/global-token-revocation');
    expect(res.headers['retry-after']).toBe('5');
    await refused(
      res,
      503,
      {
        error: 'temporarily_unavailable',
        error_description: 'global token revocation cannot answer right now; try again later',
      },
      'unavailable',
    );
  });

  it('the revocation fails in PostgreSQL: 422 (§3.4.2), all or nothing: nothing of hers revoked', async () => {
    const fay = await person('00u-fay', 'fay@example.com');
    const db = t.server.storage.db;
    // setting her status bits fails (a CHECK the UPDATE trips; NOT VALID leaves the rows there alone)
    await db.raw(
      `alter table status_list_entries add constraint gtr_fail check (status = 0 or account_id <> '${fay.account.id}') not valid`,
    );
    try {
      const res = await post(issSub('00u-fay'), await oktaJwt());
      expect(res.status, res.text).toBe(422);
      expect(res.body).toEqual({
        error: 'temporarily_unavailable',
        error_description: 'the user could not be logged out; try again',
      });
      expect(res.headers['retry-after']).toBe('5');
      expect((await records('refused')).at(-1)!.event).toMatchObject({ reason: 'revocation_failed' });
      await untouched([fay.logs, fay.cost]);
      expect(await active(fay.logs, 'logs-mcp')).toBe(true);
    } finally {
      await db.raw('alter table status_list_entries drop constraint gtr_fail');
    }
  });

  it('its audit record cannot be written: still 204 (a removal keeps its answer), audit.write_failed logged', async () => {
    const gus = await person('00u-gus', 'gus@example.com');
    const db = t.server.storage.db;
    await db.raw(`alter table audit_events add constraint gtr_no_revoked check (type <> 'token.revoked') not valid`);
    try {
      const res = await post(issSub('00u-gus'), await oktaJwt());
      expect(res.status, res.text).toBe(204);
    } finally {
      await db.raw('alter table audit_events drop constraint gtr_no_revoked');
    }
    await inactive(gus.logs, 'logs-mcp');
    expect(t.logs.lines().some((l) => l.includes('audit.write_failed'))).toBe(true);
  });

  it('an IdP with it off, and one that does not exist: 404 JSON, before any authentication', async () => {
    const body = { error: 'not_found', error_description: 'no global token revocation endpoint here' };
    const quiet = await oktaJwt({
      iss: 'https://quiet.example.com',
      aud: `${t.config.issuer}/idp/quiet/global-token-revocation`,
    });
    await refused(
      await post(issSub('00u-bob', 'https://quiet.example.com'), quiet, '/idp/quiet/global-token-revocation'),
      404,
      body,
      'idp_off',
    );
    await refused(
      await post(issSub('00u-bob'), await oktaJwt(), '/idp/local/global-token-revocation'),
      404,
      body,
      'idp_off',
    );
    // an IdP that is disabled (enabled: false) signs nothing baton accepts, this neither
    const paused = await oktaJwt({
      iss: 'https://paused.example.com',
      aud: `${t.config.issuer}/idp/paused/global-token-revocation`,
    });
    await refused(
      await post(issSub('00u-bob', 'https://paused.example.com'), paused, '/idp/paused/global-token-revocation'),
      404,
      body,
      'idp_off',
    );
    await refused(
      await post(issSub('00u-bob'), undefined, '/idp/nope/global-token-revocation'),
      404,
      body,
      'idp_unknown',
    );
  });
});
