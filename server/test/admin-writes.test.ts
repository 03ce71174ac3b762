/**
 * The admin API's key and client changes (issue #15, items 1 and 4), on two servers sharing one PostgreSQL +
 * Redis: `POST /admin/api/keys`, `/keys/{kid}/activate|retire` (the rotation of `baton keys`, never forced),
 * and `POST /admin/api/clients/{client}/block|unblock` (`baton clients block|unblock`): their scope rule
 * (admin.write), their refusals (404, 409, 400), the audit records naming the caller, the JWKS following
 * the rotation, and a runtime block behaving as `clients.blocked` does on every process: invalid_client at
 * the token endpoint, its tokens inactive at introspection and INVALID in the Token Status List.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../src/audit/store.ts';
import { startServer, type RunningServer } from '../src/main.ts';
import {
  clientCredentialsRequest,
  memoryLogger,
  RESOURCES,
  SERVICE_SECRET,
  startTestServer,
  exchangeToken,
  storedStatus,
  type TestServer,
  staticService,
} from './helpers.ts';
import { runCli, writeConfig } from './processes.ts';
import { codeForm, seedAccount, seedCode } from './seed.ts';

const ISSUER = 'http://127.0.0.1:9400';
const ADMIN = `${ISSUER}/admin/api`;
const COST = RESOURCES[1]!.uri;
const SECRET = 'admin-writes-secret-0123456789abcdefghij';

let t: TestServer;
/** a second server on the same store: a peer process */
let peer: RunningServer;

const service = (client_id: string, scopes?: string[]) => staticService(client_id, SECRET, scopes);

beforeAll(async () => {
  t = await startTestServer({
    backend: 'postgres+redis',
    config: (base) => ({
      resources: [
        { ...RESOURCES[0]!, client_id: 'logs-mcp' },
        { ...RESOURCES[1]!, client_id: 'cost-svc' },
      ],
      delegation: [{ actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'], max_chain: 3 }],
      clients: {
        ...base.clients,
        static: [
          ...base.clients.static,
          service('writes-admin', ['admin.write']),
          service('writes-reader', ['admin.read']),
          service('cost-svc'),
          service('logs-mcp'),
        ],
        blocked: ['partner-app'],
        block_refresh_interval_seconds: 1,
      },
    }),
  });
  peer = await startServer(t.config, memoryLogger().log);
}, 60_000);
afterAll(async () => {
  await peer?.close();
  await t?.close();
});

const adminToken = async (c: string) =>
  (await clientCredentialsRequest(t.url, c, SECRET, ADMIN).expect(200)).body.access_token as string;
const post = (path: string, token?: string, body?: unknown) => {
  const req = request(t.url).post(path);
  if (token !== undefined) void req.set('Authorization', `Bearer ${token}`);
  return body === undefined ? req : req.send(body as object);
};
/** cost-reporter's client_credentials token request at one server */
const costToken = (url: string) => clientCredentialsRequest(url, 'cost-reporter', SERVICE_SECRET, COST);

async function until(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** RFC 7662 at one server, asked by the cost service (the token's resource server) */
const active = async (url: string, token: string) =>
  (await request(url).post('/token/introspection').auth('cost-svc', SECRET).type('form').send({ token }).expect(200))
    .body.active as boolean;

const jwksKids = async (url: string) =>
  ((await request(url).get('/jwks').expect(200)).body.keys as { kid: string }[]).map((k) => k.kid).sort();

const events = (type: string) => searchEvents(t.server.storage.db, { type, limit: 1000 });

const ROUTES = ['/admin/api/keys', '/admin/api/keys/k/activate', '/admin/api/keys/k/retire'].concat(
  ['block', 'unblock'].map((a) => `/admin/api/clients/cost-reporter/${a}`),
);

describe('the key and client changes: scope admin.write', () => {
  it.each(ROUTES)('POST %s: no token → 401 with the challenge; an admin.read token → 403', async (path) => {
    const none = await post(path);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe(`Bearer realm="${ADMIN}", scope="admin.write"`);
    const read = await post(path, await adminToken('writes-reader'), {});
    expect(read.status).toBe(403);
    expect(read.body.error).toBe('insufficient_scope');
    expect(read.headers['www-authenticate']).toContain('scope="admin.write"');
    // nothing was done: no key published, no client blocked
    expect(await t.server.storage.db('client_blocks').count<{ count: string }[]>()).toEqual([{ count: '0' }]);
  });
});

describe('POST /admin/api/keys, /keys/{kid}/activate, /keys/{kid}/retire (baton keys publish|activate|retire)', () => {
  it('rotates the signing key through the API: the JWKS of both servers follows, each change recorded', async () => {
    const writer = await adminToken('writes-admin');
    const [k0] = await jwksKids(t.url);
    const published = await post('/admin/api/keys', writer);
    expect(published.status).toBe(201);
    const k1 = published.body.kid as string;
    expect(published.body).toEqual({
      kid: k1,
      alg: 'ES256',
      state: 'published',
      refresh_interval_seconds: 1,
      activate_after_seconds: 62,
      next: `POST /admin/api/keys/${k1}/activate once it has been published for 62 s`,
    });
    expect(await jwksKids(t.url)).toEqual([k0, k1].sort()); // this server at once
    await until('the peer serves k1', async () => (await jwksKids(peer.url)).length === 2);

    // too early (zero downtime): 409, and the API never forces
    const early = await post(`/admin/api/keys/${k1}/activate`, writer);
    expect(early.status).toBe(409);
    expect(early.body.error).toBe('invalid_request');
    expect(early.body.error_description).toMatch(
      new RegExp(
        `^key ${k1} was published \\d+ s ago; wait until it has been published for 62 s .*only \`baton keys … --force\` skips the wait\\)$`,
      ),
    );
    const forced = await post(`/admin/api/keys/${k1}/activate`, writer, { force: true });
    expect([forced.status, forced.body.error]).toEqual([400, 'invalid_request']);
    expect(forced.body.error_description).toContain("force is the command line's only");

    // the propagation time has passed (the key's age in the table)
    await t.server.storage
      .db('signing_keys')
      .where({ kid: k1 })
      .update({ created_at: new Date(Date.now() - 3600_000) });
    const activated = await post(`/admin/api/keys/${k1}/activate`, writer, {});
    expect(activated.status).toBe(200);
    expect(activated.body).toMatchObject({ kid: k1, state: 'active', previous: k0, retire_after_seconds: 360 });
    expect(activated.body.next).toBe(`POST /admin/api/keys/${k0}/retire after 360 s`);
    const issued = async (url: string) =>
      decodeProtectedHeader((await costToken(url).expect(200)).body.access_token as string).kid;
    expect(await issued(t.url)).toBe(k1);
    await until('the peer signs with k1', async () => (await issued(peer.url)) === k1);

    // k1 is active, not retiring; k0 stopped signing just now
    const wrong = await post(`/admin/api/keys/${k1}/retire`, writer);
    expect([wrong.status, wrong.body.error_description]).toEqual([409, `key ${k1} is active, not retiring`]);
    expect((await post(`/admin/api/keys/${k0}/retire`, writer)).status).toBe(409);
    await t.server.storage
      .db('signing_keys')
      .where({ kid: k0 })
      .update({ retiring_at: new Date(Date.now() - 7200_000) });
    const retired = await post(`/admin/api/keys/${k0}/retire`, writer);
    expect([retired.status, retired.body]).toEqual([200, { kid: k0, state: 'retired' }]);
    expect(await jwksKids(t.url)).toEqual([k1]);
    await until('the peer drops k0', async () => (await jwksKids(peer.url)).length === 1);

    const changes = (await events('keys.changed')).map((r) => r.event.details);
    expect(changes).toEqual([
      { action: 'published', kid: k1, operation: 'keys.publish', via: 'admin_api' },
      { action: 'activated', kid: k1, operation: 'keys.activate', via: 'admin_api' },
      { action: 'retired', kid: k0, operation: 'keys.retire', via: 'admin_api' },
    ]);
    const ops = (await events('admin.operation')).filter((r) => String(r.event.details?.operation).startsWith('keys.'));
    expect(ops.map((r) => [r.event.details?.operation, r.event.outcome, r.event.client, r.event.reason])).toEqual([
      ['keys.publish', 'success', 'writes-admin', undefined],
      ['keys.activate', 'refused', 'writes-admin', 'keystore_refused'],
      ['keys.activate', 'success', 'writes-admin', undefined],
      ['keys.retire', 'refused', 'writes-admin', 'keystore_refused'],
      ['keys.retire', 'refused', 'writes-admin', 'keystore_refused'],
      ['keys.retire', 'success', 'writes-admin', undefined],
    ]);
  });

  it('an unknown kid is 404 not_found; a bad body is 400', async () => {
    const writer = await adminToken('writes-admin');
    for (const action of ['activate', 'retire']) {
      const res = await post(`/admin/api/keys/no-such-kid/${action}`, writer);
      expect([res.status, res.body.error, res.body.error_description]).toEqual([
        404,
        'not_found',
        'no key no-such-kid',
      ]);
    }
    const extra = await post('/admin/api/keys', writer, { alg: 'EdDSA' });
    expect([extra.status, extra.body.error]).toEqual([400, 'invalid_request']);
    const notJson = await post('/admin/api/keys', writer).type('json').send('{');
    expect([notJson.status, notJson.body.error]).toEqual([400, 'invalid_request']);
    const query = await post('/admin/api/keys?force=1', writer);
    expect([query.status, query.body.error]).toEqual([400, 'invalid_request']);
  });
});

describe('POST /admin/api/clients/{client}/block and /unblock (baton clients block|unblock)', () => {
  it('a blocked client is unknown on every server, its tokens inactive; unblocked, it gets new tokens again', async () => {
    const writer = await adminToken('writes-admin');
    const before = (await costToken(t.url).expect(200)).body.access_token as string;
    await costToken(peer.url).expect(200);

    const res = await post('/admin/api/clients/cost-reporter/block', writer, { reason: 'leaked secret' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      client: 'cost-reporter',
      blocked: true,
      changed: true,
      configured: false,
      block: {
        client_id: 'cost-reporter',
        blocked_by_client: 'writes-admin',
        blocked_by_account: null,
        via: 'admin_api',
        reason: 'leaked secret',
      },
    });
    expect(res.body.tokens).toBeGreaterThanOrEqual(2); // both servers' tokens (and the key test's)
    // RFC 6749 §5.2: unknown at once here, and on the peer once it refreshed its blocked set
    const refused = await costToken(t.url);
    expect([refused.status, refused.body.error]).toEqual([401, 'invalid_client']);
    await until('the peer refuses cost-reporter', async () => (await costToken(peer.url)).status === 401);
    expect((await costToken(peer.url)).body.error).toBe('invalid_client');
    // its token: inactive at introspection on both (RFC 7662 §2.2), INVALID in the status list (§7.1)
    expect(await active(t.url, before)).toBe(false);
    expect(await active(peer.url, before)).toBe(false);
    expect(await storedStatus(t.server.storage.db, before)).toBe(1);

    // a second block: 200, the first one's who, when and why kept
    const again = await post('/admin/api/clients/cost-reporter/block', writer, {});
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({
      changed: false,
      block: { reason: 'leaked secret', blocked_at: res.body.block.blocked_at },
    });

    const reader = await adminToken('writes-reader');
    const shown = await request(t.url).get('/admin/api/clients/cost-reporter').set('Authorization', `Bearer ${reader}`);
    expect(shown.body).toMatchObject({
      blocked: true,
      blocked_by: {
        source: 'admin',
        blocked_at: res.body.block.blocked_at,
        blocked_by_client: 'writes-admin',
        blocked_by_account: null,
        via: 'admin_api',
        reason: 'leaked secret',
      },
    });

    const unblocked = await post('/admin/api/clients/cost-reporter/unblock', writer);
    expect([unblocked.status, unblocked.body]).toEqual([
      200,
      { client: 'cost-reporter', blocked: false, changed: true },
    ]);
    const after = (await costToken(t.url).expect(200)).body.access_token as string;
    await until('the peer lets cost-reporter in', async () => (await costToken(peer.url)).status === 200);
    expect(await active(t.url, after)).toBe(true);
    expect(await active(t.url, before)).toBe(false); // revoked stays revoked
    expect(await storedStatus(t.server.storage.db, before)).toBe(1);
    const twice = await post('/admin/api/clients/cost-reporter/unblock', writer);
    expect([twice.status, twice.body.changed]).toEqual([200, false]);

    const blocks = await events('client.blocked');
    expect(blocks.map((r) => [r.event.client, r.event.details?.changed, r.event.details?.via])).toEqual([
      ['cost-reporter', true, 'admin_api'],
      ['cost-reporter', false, 'admin_api'],
    ]);
    expect(JSON.stringify(blocks)).not.toContain('leaked secret');
    const unblocks = await events('client.unblocked');
    expect(unblocks.map((r) => [r.event.client, r.event.details?.changed])).toEqual([
      ['cost-reporter', true],
      ['cost-reporter', false],
    ]);
    const ops = (await events('admin.operation')).filter((r) =>
      String(r.event.details?.operation).startsWith('clients.'),
    );
    expect(
      ops
        .filter((r) => r.event.details?.operation !== 'clients.show')
        .map((r) => [r.event.details?.operation, r.event.client]),
    ).toEqual([
      ['clients.block', 'writes-admin'],
      ['clients.block', 'writes-admin'],
      ['clients.unblock', 'writes-admin'],
      ['clients.unblock', 'writes-admin'],
    ]);
  });

  it('refuses an unknown client (404), a configured block (409) and a bad body (400)', async () => {
    const writer = await adminToken('writes-admin');
    for (const action of ['block', 'unblock']) {
      const res = await post(`/admin/api/clients/nobody/${action}`, writer);
      expect([res.status, res.body.error, res.body.error_description]).toEqual([
        404,
        'not_found',
        `no client nobody (see baton clients list): nothing was ${action}ed`,
      ]);
    }
    const configured = await post('/admin/api/clients/partner-app/unblock', writer);
    expect([configured.status, configured.body.error, configured.body.error_description]).toEqual([
      409,
      'invalid_request',
      'client partner-app is blocked by the configuration (clients.blocked): remove it there and reload the policy (SIGHUP)',
    ]);
    for (const body of [
      { reason: 5 },
      { reason: '' },
      { reason: 'x'.repeat(501) },
      { why: 'x' },
      [],
      { reason: 'a\u0000b' },
    ]) {
      const res = await post('/admin/api/clients/third-party-agent/block', writer, body);
      expect([res.status, res.body.error]).toEqual([400, 'invalid_request']);
    }
    const text = await post('/admin/api/clients/third-party-agent/block', writer).type('text').send('reason');
    expect([text.status, text.body.error]).toEqual([400, 'invalid_request']);
    expect(await t.server.storage.db('client_blocks').where({ client_id: 'third-party-agent' })).toEqual([]);
  });

  it('baton clients block|unblock on the store: the servers follow, clients show says who blocked it', async () => {
    const file = writeConfig({ ...t.config, logging: { level: 'warn' } });
    const blocked = await runCli(['clients', 'block', '--config', file, '--reason', 'rotation', 'ide-agent']);
    expect([blocked.code, blocked.stderr]).toEqual([0, '']);
    expect(blocked.stdout).toMatch(
      /^blocked ide-agent \(since \S+\); revoked 0 access token\(s\), 0 grant\(s\), 0 refresh token\(s\)\n$/,
    );
    const shown = await runCli(['clients', 'show', '--config', file, 'ide-agent']);
    expect(shown.stdout).toMatch(/ BLOCKED \(admin \(store\) at \S+\)\n$/);
    await until('both servers refuse ide-agent', async () => {
      const asks = await Promise.all(
        [t.url, peer.url].map((url) =>
          request(url)
            .post('/token')
            .type('form')
            .send({ grant_type: 'refresh_token', refresh_token: 'x', client_id: 'ide-agent' }),
        ),
      );
      return asks.every((r) => r.body.error === 'invalid_client');
    });
    const row = await t.server.storage.db('client_blocks').where({ client_id: 'ide-agent' }).first();
    expect(row).toMatchObject({ blocked_by_client: null, blocked_by_account: null, via: 'store', reason: 'rotation' });
    const unblocked = await runCli(['clients', 'unblock', '--config', file, 'ide-agent']);
    expect([unblocked.code, unblocked.stdout]).toEqual([0, 'unblocked ide-agent\n']);
    const configured = await runCli(['clients', 'unblock', '--config', file, 'partner-app']);
    expect([configured.code, configured.stderr]).toEqual([
      1,
      'baton: client partner-app is blocked by the configuration (clients.blocked): remove it there and reload the policy (SIGHUP)\n',
    ]);
    expect((await runCli(['clients', 'block', '--config', file])).code).toBe(64);
  });
});

describe('a blocked actor (RFC 8693 §4.1)', () => {
  it('every token whose actor chain passes through it is inactive; the tokens it only received are not', async () => {
    const writer = await adminToken('writes-admin');
    const seed = await seedCode(t.server.provider(), await seedAccount(t.server.accounts));
    const logs = (await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body
      .access_token as string;
    const form = { subject_token: logs, resource: COST, scope: 'cost.read' };
    const exchanged = await exchangeToken(t.url, 'logs-mcp', SECRET, form);
    expect(decodeJwt(exchanged).act).toMatchObject({ sub: 'logs-mcp' });
    expect(await active(peer.url, exchanged)).toBe(true);

    expect((await post('/admin/api/clients/logs-mcp/block', writer)).status).toBe(200);
    expect(await active(t.url, exchanged)).toBe(false);
    // the peer asked about it before: its token state is cached a moment (STATE_CACHE_MS), then it refuses too
    await until('the peer says inactive', async () => !(await active(peer.url, exchanged)));
    expect(await storedStatus(t.server.storage.db, exchanged)).toBe(1);
    expect(await storedStatus(t.server.storage.db, logs)).toBe(0); // ide-agent's own token: not through logs-mcp
    const again = await request(t.url)
      .post('/token')
      .auth('logs-mcp', SECRET)
      .type('form')
      .send({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        ...form,
      });
    expect([again.status, again.body.error]).toEqual([401, 'invalid_client']);
    expect((await post('/admin/api/clients/logs-mcp/unblock', writer)).status).toBe(200);
  });
});

describe('the window before a peer refreshes its blocked set', () => {
  it("a token the peer issued before the block is inactive there at once (the revocation's RevokedToken entry)", async () => {
    const writer = await adminToken('writes-admin');
    const token = (await costToken(peer.url).expect(200)).body.access_token as string;
    expect(decodeJwt(token).client_id).toBe('cost-reporter');
    expect((await post('/admin/api/clients/cost-reporter/block', writer)).status).toBe(200);
    expect(await active(peer.url, token)).toBe(false);
    expect((await post('/admin/api/clients/cost-reporter/unblock', writer)).status).toBe(200);
  });
});

describe("through the running server's admin socket (embedded store)", () => {
  it('baton keys publish and clients block|unblock apply in that server at once', async () => {
    const embedded = await startTestServer({ backend: 'embedded' });
    try {
      const file = writeConfig({ ...embedded.config, logging: { level: 'warn' } });
      const published = await runCli(['keys', 'publish', '--config', file]);
      expect([published.code, published.stderr]).toEqual([0, '']);
      const kid =
        /^published (\S+); every process serves it within 1 s\. Activate it with: baton keys activate -- \1\n$/.exec(
          published.stdout,
        )?.[1];
      expect(kid).toBeTruthy();
      expect(await jwksKids(embedded.url)).toContain(kid);
      const early = await runCli(['keys', 'activate', '--config', file, '--', kid!]);
      expect(early.code).toBe(1);
      expect(early.stderr).toMatch(/wait until it has been published for 62 s .*\(or pass --force\)\n$/);

      const blocked = await runCli(['clients', 'block', '--config', file, 'cost-reporter']);
      expect(blocked.code).toBe(0);
      const refused = await costToken(embedded.url);
      expect([refused.status, refused.body.error]).toEqual([401, 'invalid_client']);
      expect((await runCli(['clients', 'unblock', '--config', file, 'cost-reporter'])).stdout).toBe(
        'unblocked cost-reporter\n',
      );
      await costToken(embedded.url).expect(200);
      const row = await embedded.server.storage.db('audit_events').where({ type: 'client.blocked' }).first();
      expect(row.event.details).toMatchObject({ operation: 'clients.block', via: 'admin_socket', changed: true });
    } finally {
      await embedded.close();
    }
  });
});
