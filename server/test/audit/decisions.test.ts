/**
 * The audit records of baton's decisions besides the token endpoint (issue #13, docs/events.md "Audit"): a
 * sign-in, a refused sign-in, a consent, a revocation, an inactive introspection, a registration, a CIMD
 * document accepted or refused, an account disabled or enabled, a policy reload and every admin operation —
 * each record's exact fields, read back from the store, with no secret in it. Then the durability rule: a
 * record of what hands something out fails closed (no code, no client), a record of a refusal or removal is
 * logged when it cannot be written and the answer stays.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainedRow } from '../../src/audit/chain.ts';
import { searchEvents } from '../../src/audit/store.ts';
import { AuditRecordError } from '../../src/admin/audit-record.ts';
import { runOperation, type AdminStores } from '../../src/admin/operations.ts';
import { policySha256 } from '../../src/policy/audit.ts';
import { makeConfig, memoryLogger, RESOURCES, SERVICE_SECRET, startTestServer, type TestServer } from '../helpers.ts';
import { actionOf, csrfOf, followRedirects } from '../pages.ts';
import { runCli, writeConfig } from '../processes.ts';
import { codeForm, seedAccount, seedCode } from '../seed.ts';

const LOGS = 'https://logs.mcp.example.com/mcp';
const COST = 'https://cost.internal.example.com';
const PASSWORDS = ['alice-password', 'bob-password', 'carol-password'];

let t: TestServer;
const logs = memoryLogger();
beforeAll(async () => {
  t = await startTestServer({ backend: 'postgres+redis', logs });
});
afterAll(async () => t?.close());

const db = () => t.server.storage.db;
const rows = (q: { type: string; client?: string; account?: string }) => searchEvents(db(), { ...q, limit: 1000 });
const last = async (q: Parameters<typeof rows>[0]): Promise<ChainedRow> => {
  const found = await rows(q);
  expect(found.length).toBeGreaterThan(0);
  return found.at(-1)!;
};
/** the stored rows hold none of these (passwords, secrets, tokens, codes) */
const holdsNone = (stored: unknown, secrets: readonly string[]) => {
  const text = JSON.stringify(stored);
  for (const s of secrets) expect(text).not.toContain(s);
};

/**
 * The next audit write of `type` fails (a CHECK constraint the chain's INSERT trips, NOT VALID: the rows
 * already there are left alone) until the returned function lifts it.
 */
async function failingWrites(type: string): Promise<() => Promise<void>> {
  const name = `fail_${type.replace(/\W/g, '_')}`;
  await db().raw(`alter table audit_events add constraint ${name} check (type <> '${type}') not valid`);
  return async () => void (await db().raw(`alter table audit_events drop constraint ${name}`));
}

interface Flow {
  agent: TestAgent;
  verifier: string;
  clientId: string;
  redirectUri: string;
}

function authorize(clientId = 'ide-agent', redirectUri = 'http://127.0.0.1/callback', scope = 'logs.read') {
  const agent = request.agent(t.url);
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
    resource: LOGS,
    scope,
  });
  return { flow: { agent, verifier, clientId, redirectUri }, url: `/auth?${query.toString()}` };
}

const follow = (flow: Flow, location: string) =>
  followRedirects(flow.agent, location, (l) => l.startsWith(flow.redirectUri));

/** the login form posted: the answer (a redirect on success, a page otherwise) */
async function postLogin(username: string, password: string, client?: [string, string]) {
  const { flow, url } = authorize(...(client ?? []));
  const { page } = await follow(flow, url);
  expect(page?.status).toBe(200);
  const action = actionOf(page!.text);
  const res = await flow.agent
    .post(action)
    .type('form')
    .send({ csrf: csrfOf(page!.text), username, password });
  return { flow, res, interaction: action.replace(/\/login\?.*$/, '') };
}

/** a sign-in to the end: the code at the redirect URI (after the consent page, for a third-party client) */
async function signIn(username: string, client?: [string, string]) {
  const { flow, res } = await postLogin(username, `${username}-password`, client);
  expect(res.status).toBe(303);
  const first = await follow(flow, res.headers.location!);
  let stoppedAt = first.stoppedAt;
  const page = first.page;
  if (page) {
    expect(page.text).toContain('name="decision"');
    const allowed = await flow.agent
      .post(actionOf(page.text))
      .type('form')
      .send({ csrf: csrfOf(page.text), decision: 'allow' });
    expect(allowed.status).toBe(303);
    ({ stoppedAt } = await follow(flow, allowed.headers.location!));
  }
  const code = new URL(stoppedAt!).searchParams.get('code')!;
  const tokens = await request(t.url).post('/token').type('form').send({
    grant_type: 'authorization_code',
    code,
    code_verifier: flow.verifier,
    redirect_uri: flow.redirectUri,
    client_id: flow.clientId,
    resource: LOGS,
  });
  expect(tokens.status).toBe(200);
  return { flow, code, tokens: tokens.body as { access_token: string } };
}

const serviceToken = async () => {
  const res = await request(t.url)
    .post('/token')
    .auth('cost-reporter', SERVICE_SECRET)
    .type('form')
    .send({ grant_type: 'client_credentials', resource: COST, scope: 'cost.read' })
    .expect(200);
  return res.body.access_token as string;
};
const asService = (path: string, token: string) =>
  request(t.url).post(path).auth('cost-reporter', SERVICE_SECRET).type('form').send({ token });

const stores = (): AdminStores => ({
  config: t.config,
  db: db(),
  accounts: t.server.accounts,
  keys: t.server.keystore,
});

describe('sign-in', () => {
  it('login.success: the IdP, the account, the IdP identity, auth_time and the client; no password, no code', async () => {
    const { code, tokens } = await signIn('alice');
    const at = decodeJwt(tokens.access_token);
    const row = await last({ type: 'login.success', account: String(at.sub) });
    expect(row.event).toEqual({
      type: 'login.success',
      outcome: 'success',
      account: at.sub,
      idp: { iss: 'urn:baton:idp:local', sub: 'alice' },
      client: 'ide-agent',
      details: { idp: 'local', auth_time: at.auth_time },
      request_id: expect.any(String),
      at: expect.any(Number),
    });
    expect([row.account_id, row.client_id, row.outcome]).toEqual([at.sub, 'ide-agent', 'success']);
    holdsNone(row, [...PASSWORDS, code, tokens.access_token]);
  });

  it('login.failed: a wrong password names the user and the reason, never the password', async () => {
    const { res } = await postLogin('bob', 'not-bobs-password-XYZ');
    expect(res.status).toBe(401);
    const row = await last({ type: 'login.failed' });
    expect(row.event).toEqual({
      type: 'login.failed',
      outcome: 'refused',
      client: 'ide-agent',
      reason: 'wrong password',
      details: { idp: 'local', username: 'bob' },
      request_id: expect.any(String),
      at: expect.any(Number),
    });
    holdsNone(row, ['not-bobs-password-XYZ']);
  });

  it('login.failed: what was typed as an unknown username is kept only as its hash (a password typed there)', async () => {
    const { res } = await postLogin('carol-password', 'carol');
    expect(res.status).toBe(401);
    const row = await last({ type: 'login.failed' });
    expect(row.event.reason).toBe('unknown user');
    expect(row.event.details).toEqual({
      idp: 'local',
      username_sha256: createHash('sha256').update('carol-password').digest('hex').slice(0, 16),
    });
    holdsNone(row, ['carol-password']);
  });
});

describe('consent', () => {
  it('consent.given: the account, the client, the grant and the scopes granted per resource', async () => {
    const { tokens, code } = await signIn('alice', ['third-party-agent', 'http://127.0.0.1/tp-callback']);
    const at = decodeJwt(tokens.access_token) as { sub: string; gid: string };
    const row = await last({ type: 'consent.given', account: at.sub });
    expect(row.event).toEqual({
      type: 'consent.given',
      outcome: 'success',
      account: at.sub,
      client: 'third-party-agent',
      gid: at.gid,
      resource: LOGS,
      details: { granted: [{ resource: LOGS, scopes: ['logs.read'] }], auth_time: expect.any(Number) },
      request_id: expect.any(String),
      at: expect.any(Number),
    });
    expect(row.grant_id).toBe(at.gid);
    // the sign-in that started it: the same auth_time as the login.success just before it
    const login = await last({ type: 'login.success', account: at.sub });
    expect(login.seq).toBeLessThan(row.seq);
    expect((login.event.details as { auth_time: number }).auth_time).toBe(
      (row.event.details as { auth_time: number }).auth_time,
    );
    holdsNone(row, [...PASSWORDS, code, tokens.access_token]);
  });

  it('a grant made without the consent page (a first-party client) is recorded too, as auto', async () => {
    const { tokens } = await signIn('alice');
    const at = decodeJwt(tokens.access_token) as { sub: string; gid: string; client_id: string };
    const row = await last({ type: 'consent.given', account: at.sub });
    expect(row.event).toEqual({
      type: 'consent.given',
      outcome: 'success',
      account: at.sub,
      client: at.client_id,
      gid: at.gid,
      resource: LOGS,
      details: {
        auto: 'first_party',
        granted: [{ resource: LOGS, scopes: expect.arrayContaining(['logs.read']) as string[] }],
        auth_time: expect.any(Number),
      },
      request_id: expect.any(String),
      at: expect.any(Number),
    });
  });
});

describe('revocation and introspection', () => {
  it('token.revoked (RFC 7009): the jti, the client that asked, how many exchanged tokens went with it', async () => {
    const token = await serviceToken();
    const { jti } = decodeJwt(token);
    await asService('/token/revocation', token).expect(200);
    const row = await last({ type: 'token.revoked', client: 'cost-reporter' });
    expect(row.event).toEqual({
      type: 'token.revoked',
      outcome: 'success',
      client: 'cost-reporter',
      jti,
      resource: COST,
      reason: 'revoked',
      details: { descendants: 0 },
      request_id: expect.any(String),
      at: expect.any(Number),
    });
    expect(row.jti).toBe(jti);
    holdsNone(row, [token, SERVICE_SECRET]);
  });

  it('introspection.inactive: a well-signed token answered active:false, with the reason and who asked', async () => {
    const token = await serviceToken();
    const { jti } = decodeJwt(token);
    await asService('/token/revocation', token).expect(200);
    const res = await asService('/token/introspection', token).expect(200);
    expect(res.body).toEqual({ active: false });
    const row = await last({ type: 'introspection.inactive', client: 'cost-reporter' });
    expect(row.event).toEqual({
      type: 'introspection.inactive',
      outcome: 'refused',
      client: 'cost-reporter',
      jti,
      resource: COST,
      reason: 'token revoked',
      request_id: expect.any(String),
      at: expect.any(Number),
    });
    holdsNone(row, [token, SERVICE_SECRET]);
  });

  it('token.revoked for a grant: a code presented twice revokes its grant (gid, reason reused)', async () => {
    const { flow, code, tokens } = await signIn('bob');
    const { gid } = decodeJwt(tokens.access_token) as { gid: string };
    const again = await request(t.url).post('/token').type('form').send({
      grant_type: 'authorization_code',
      code,
      code_verifier: flow.verifier,
      redirect_uri: flow.redirectUri,
      client_id: flow.clientId,
      resource: LOGS,
    });
    expect(again.body.error).toBe('invalid_grant');
    const row = await last({ type: 'token.revoked', client: 'ide-agent' });
    expect(row.event).toEqual({
      type: 'token.revoked',
      outcome: 'success',
      client: 'ide-agent',
      gid,
      reason: 'reused',
      request_id: expect.any(String),
      at: expect.any(Number),
    });
    holdsNone(row, [code, tokens.access_token]);
  });
});

describe('revocation of a token that was exchanged', () => {
  const SECRET = 'logs-mcp-secret-0123456789abcdefghij';
  let x: TestServer;
  beforeAll(async () => {
    const base = makeConfig();
    x = await startTestServer({
      backend: 'postgres',
      config: {
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
              scopes: ['cost.read'],
            },
          ],
        },
        delegation: [{ actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'] }],
      },
    });
  });
  afterAll(async () => x?.close());

  it('token.revoked: details.descendants counts the exchanged tokens revoked with it', async () => {
    const seed = await seedCode(x.server.provider(), await seedAccount(x.server.accounts));
    const alice = (await request(x.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body;
    const exchanged = await request(x.url)
      .post('/token')
      .auth('logs-mcp', SECRET)
      .type('form')
      .send({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        subject_token: alice.access_token,
        resource: COST,
        scope: 'cost.read',
      })
      .expect(200);
    // the resource server of the token revokes it (RFC 7009 §2.1)
    await request(x.url)
      .post('/token/revocation')
      .auth('logs-mcp', SECRET)
      .type('form')
      .send({ token: alice.access_token })
      .expect(200);
    const at = decodeJwt(alice.access_token as string);
    const [row] = await searchEvents(x.server.storage.db, { type: 'token.revoked', limit: 10 });
    expect({ ...row!.event, at: undefined, request_id: undefined }).toEqual({
      type: 'token.revoked',
      outcome: 'success',
      client: 'logs-mcp',
      jti: at.jti,
      account: at.sub,
      resource: LOGS,
      gid: seed.grantId,
      reason: 'revoked',
      details: { descendants: 1 },
      at: undefined,
      request_id: undefined,
    });
    holdsNone(row, [alice.access_token as string, exchanged.body.access_token as string, SECRET]);
  });
});

describe('registration', () => {
  it('client.registered (RFC 7591): the client id, the method and the redirect hosts; no secret', async () => {
    const res = await request(t.url)
      .post('/reg')
      .send({
        redirect_uris: ['https://agent.example.com/cb', 'https://agent.example.com/cb2', 'http://127.0.0.1/cb'],
        token_endpoint_auth_method: 'client_secret_basic',
        software_id: 'example-agent',
      })
      .expect(201);
    const row = await last({ type: 'client.registered', client: res.body.client_id as string });
    expect(row.event).toEqual({
      type: 'client.registered',
      outcome: 'success',
      client: res.body.client_id,
      details: { method: 'dcr', redirect_hosts: ['127.0.0.1', 'agent.example.com'], software_id: 'example-agent' },
      request_id: expect.any(String),
      at: expect.any(Number),
    });
    holdsNone(row, [res.body.client_secret as string, res.body.registration_access_token as string]);
  });
});

describe('Client ID Metadata Documents', () => {
  let dev: TestServer;
  let host: Server;
  let base: string;
  beforeAll(async () => {
    host = createServer((req, res) => {
      if (req.url === '/agent.json')
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            client_id: `${base}/agent.json`,
            client_name: 'Agent',
            redirect_uris: ['http://127.0.0.1:9999/callback'],
            token_endpoint_auth_method: 'none',
          }),
        );
      else res.writeHead(404).end();
    });
    await new Promise<void>((ok) => host.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
    dev = await startTestServer({
      backend: 'postgres',
      config: { mode: 'development', clients: { static: makeConfig().clients.static } },
    });
  });
  afterAll(async () => {
    await dev?.close();
    await new Promise((ok) => host?.close(ok));
  });
  const authorizeAs = (clientId: string) =>
    request(dev.url)
      .get('/auth')
      .query({
        client_id: clientId,
        redirect_uri: 'http://127.0.0.1:9999/callback',
        response_type: 'code',
        code_challenge: createHash('sha256').update('v'.repeat(43)).digest('base64url'),
        code_challenge_method: 'S256',
        resource: LOGS,
      });
  const devRows = (type: string) => searchEvents(dev.server.storage.db, { type, limit: 100 });

  it('client.registered (cimd): the document accepted the first time, once', async () => {
    const id = `${base}/agent.json`;
    expect((await authorizeAs(id)).status).toBe(303);
    expect((await authorizeAs(id)).status).toBe(303);
    const found = await devRows('client.registered');
    expect(found.map((r) => r.event)).toEqual([
      {
        type: 'client.registered',
        outcome: 'success',
        client: id,
        details: { method: 'cimd', redirect_hosts: ['127.0.0.1:9999'] },
        request_id: expect.any(String),
        at: expect.any(Number),
      },
    ]);
  });

  it('cimd.refused: a document that cannot be fetched, with the client id URL and the reason', async () => {
    const id = `${base}/missing.json`;
    expect((await authorizeAs(id)).status).toBe(400);
    const found = await devRows('cimd.refused');
    expect(found.at(-1)?.event).toEqual({
      type: 'cimd.refused',
      outcome: 'refused',
      client: id,
      reason: 'status 404 (the document must be served with 200)',
      request_id: expect.any(String),
      at: expect.any(Number),
    });
  });
});

describe('admin operations', () => {
  it('account.disabled and account.enabled, each with its admin.operation, in the trail once', async () => {
    await signIn('alice');
    const [alice] = (await t.server.accounts.list()).filter((a) => a.idpSubject === 'alice');
    const before = (await rows({ type: 'admin.operation' })).length;
    await runOperation(stores(), 'accounts.disable', { account: alice!.id });
    await runOperation(stores(), 'accounts.enable', { account: alice!.id });
    const disabled = await last({ type: 'account.disabled' });
    const enabled = await last({ type: 'account.enabled' });
    const fields = (r: ChainedRow) => ({ ...r.event, at: undefined });
    expect(fields(disabled)).toEqual({
      type: 'account.disabled',
      outcome: 'success',
      account: alice!.id,
      details: { operation: 'accounts.disable', via: 'store' },
      at: undefined,
    });
    expect(fields(enabled)).toMatchObject({ type: 'account.enabled', account: alice!.id });
    const ops = (await rows({ type: 'admin.operation' })).slice(before);
    expect(ops.map((r) => fields(r))).toEqual([
      { type: 'admin.operation', outcome: 'success', details: { operation: 'accounts.disable', via: 'store' } },
      { type: 'admin.operation', outcome: 'success', details: { operation: 'accounts.enable', via: 'store' } },
    ]);
  });

  it('admin.operation: a refusal has its reason code, never what the operator typed', async () => {
    await expect(runOperation(stores(), 'accounts.disable', { account: 'nobody-SECRET-typed' })).rejects.toThrow(
      /no account matches/,
    );
    const row = await last({ type: 'admin.operation' });
    expect({ ...row.event, at: undefined }).toEqual({
      type: 'admin.operation',
      outcome: 'refused',
      reason: 'not_found',
      details: { operation: 'accounts.disable', via: 'store' },
      at: undefined,
    });
    holdsNone(row, ['nobody-SECRET-typed']);
  });

  it('admin.operation: a read of the trail is recorded by name only', async () => {
    await runOperation(stores(), 'audit.search', { client: 'SECRET-looking-filter' });
    const row = await last({ type: 'admin.operation' });
    expect(row.event.details).toEqual({ operation: 'audit.search', via: 'store' });
    holdsNone(row, ['SECRET-looking-filter']);
  });

  it('policy.reloaded: the counts and the SHA-256 of the new policy', async () => {
    const next = makeConfig({ ...t.config, roles: { ...t.config.roles, auditor: ['logs.read'] } });
    await t.server.reloadPolicy(next);
    const row = await last({ type: 'policy.reloaded' });
    expect({ ...row.event, at: undefined }).toEqual({
      type: 'policy.reloaded',
      outcome: 'success',
      details: { roles: 3, resources: 2, clients: 4, blocked: 0, sha256: policySha256(next) },
      at: undefined,
    });
    expect(policySha256(next)).not.toBe(policySha256(t.config));
    holdsNone(row, [SERVICE_SECRET]);
    await t.server.reloadPolicy(t.config);
  });
});

describe('admin operations from the command line', () => {
  it('keys.changed: published, activated, rewrapped, each with its kid (the KEK id for a rewrap)', async () => {
    const file = writeConfig(t.config);
    const published = await runCli(['keys', 'publish', '--config', file]);
    expect(published.code).toBe(0);
    const kid = /published (\S+);/.exec(published.stdout)![1]!;
    expect((await runCli(['keys', 'activate', '--force', '--config', file, '--', kid])).code).toBe(0);
    expect((await runCli(['keys', 'rewrap', '--config', file])).code).toBe(0);
    const changes = (await rows({ type: 'keys.changed' })).map((r) => r.event.details);
    expect(changes).toEqual([
      { action: 'published', kid, operation: 'keys.publish', via: 'store' },
      { action: 'activated', kid, operation: 'keys.activate', via: 'store' },
      { action: 'rewrapped', kid: expect.any(String), operation: 'keys.rewrap', via: 'store' },
    ]);
    const ops = (await rows({ type: 'admin.operation' })).slice(-3).map((r) => r.event.details?.operation);
    expect(ops).toEqual(['keys.publish', 'keys.activate', 'keys.rewrap']);
    // refused by the key store: no keys.changed, an admin.operation saying so
    expect((await runCli(['keys', 'retire', '--force', '--config', file, '--', 'no-such-kid'])).code).toBe(1);
    expect(await rows({ type: 'keys.changed' })).toHaveLength(3);
    const refused = await last({ type: 'admin.operation' });
    expect(refused.event).toMatchObject({
      outcome: 'refused',
      reason: 'keystore_refused',
      details: { operation: 'keys.retire', via: 'store' },
    });
  });

  it("an operation through the running server's admin socket (embedded store) is recorded once, by the server", async () => {
    const embedded = await startTestServer({ backend: 'embedded' });
    try {
      const file = writeConfig(embedded.config);
      const res = await runCli(['accounts', 'list', '--config', file]);
      expect(res.code).toBe(0);
      const ops = await searchEvents(embedded.server.storage.db, { type: 'admin.operation', limit: 10 });
      expect(ops.map((r) => ({ ...r.event, at: undefined }))).toEqual([
        {
          type: 'admin.operation',
          outcome: 'success',
          details: { operation: 'accounts.list', via: 'admin_socket' },
          at: undefined,
        },
      ]);
    } finally {
      await embedded.close();
    }
  });
});

describe('the durability rule', () => {
  it('a sign-in whose record cannot be written shows the 503 page and hands out no code', async () => {
    const lift = await failingWrites('login.success');
    try {
      const { flow, res, interaction } = await postLogin('alice', 'alice-password');
      expect(res.status).toBe(503);
      expect(res.headers.location).toBeUndefined();
      expect(res.text).toContain('Sign-in unavailable');
      expect(res.text).toContain('Signing in is not possible right now.');
      // the login was not handed back to oidc-provider: the interaction still asks for it
      const again = await flow.agent.get(interaction);
      expect(again.status).toBe(200);
      expect(again.text).toContain('name="password"');
    } finally {
      await lift();
    }
    expect(logs.lines().some((l) => l.includes('"msg":"audit.write_failed"'))).toBe(true);
  });

  it('a consent whose record cannot be written shows the 503 page, keeps no consent and hands out no code', async () => {
    const consents = async () => Number((await db()('consents').count<{ count: string }[]>('* as count'))[0]!.count);
    const before = await consents();
    const { flow, res } = await postLogin('bob', 'bob-password', ['third-party-agent', 'http://127.0.0.1/tp-callback']);
    const { page } = await follow(flow, res.headers.location!);
    expect(page?.text).toContain('name="decision"');
    const lift = await failingWrites('consent.given');
    try {
      const allowed = await flow.agent
        .post(actionOf(page!.text))
        .type('form')
        .send({ csrf: csrfOf(page!.text), decision: 'allow' });
      expect(allowed.status).toBe(503);
      expect(allowed.headers.location).toBeUndefined();
      expect(allowed.text).toContain('Sign-in unavailable');
    } finally {
      await lift();
    }
    expect(await consents()).toBe(before);
  });

  it('a registration whose record cannot be written answers 503 server_error and stores no client', async () => {
    const count = async () =>
      Number(
        (await db()('oidc_payloads').where({ model: 'Client' }).count<{ count: string }[]>('* as count'))[0]!.count,
      );
    const before = await count();
    const lift = await failingWrites('client.registered');
    try {
      const res = await request(t.url)
        .post('/reg')
        .send({ redirect_uris: ['https://agent.example.com/cb'], token_endpoint_auth_method: 'client_secret_basic' });
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        error: 'server_error',
        error_description: 'the audit trail is unavailable; try again later',
      });
    } finally {
      await lift();
    }
    expect(await count()).toBe(before);
  });

  it('a revocation whose record cannot be written still answers 200 and revokes; the failure is logged', async () => {
    const token = await serviceToken();
    const lines = logs.lines().length;
    const lift = await failingWrites('token.revoked');
    try {
      const res = await asService('/token/revocation', token);
      expect(res.status).toBe(200);
    } finally {
      await lift();
    }
    expect((await asService('/token/introspection', token)).body).toEqual({ active: false });
    expect(
      logs
        .lines()
        .slice(lines)
        .filter((l) => l.includes('"msg":"audit.write_failed"')),
    ).toHaveLength(1);
  });

  it('a failed sign-in whose record cannot be written keeps its precise page', async () => {
    const lift = await failingWrites('login.failed');
    try {
      const lines = logs.lines().length;
      const { res } = await postLogin('alice', 'wrong-password-123');
      expect(res.status).toBe(401);
      expect(res.text).toContain('Wrong username or password.');
      expect(
        logs
          .lines()
          .slice(lines)
          .filter((l) => l.includes('"msg":"audit.write_failed"')),
      ).toHaveLength(1);
    } finally {
      await lift();
    }
  });

  it('an admin operation whose record cannot be written is done, and tells the operator', async () => {
    const [bob] = (await t.server.accounts.list()).filter((a) => a.idpSubject === 'bob');
    const lift = await failingWrites('admin.operation');
    try {
      const done = runOperation(stores(), 'accounts.disable', { account: bob!.id });
      await expect(done).rejects.toBeInstanceOf(AuditRecordError);
      await expect(done).rejects.toThrow(/accounts.disable was done, but its audit record could not be written/);
      expect((await t.server.accounts.find(bob!.id))?.disabled).toBe(true);
      // a read of the trail still answers
      const reported: string[] = [];
      const read = await runOperation({ ...stores(), log: { error: (_o, m) => reported.push(m) } }, 'audit.search', {});
      expect(read).toMatchObject({ rows: expect.any(Array) });
      expect(reported).toEqual(['audit.write_failed']);
    } finally {
      await lift();
      await t.server.accounts.setDisabled(bob!.id, false);
    }
  });
});
