/**
 * Client registration under attack: Client ID Metadata Documents that lie, are too large, too slow,
 * redirect, are not JSON, not 200, carry secrets; client-id URLs with fragments, userinfo or dot segments;
 * a document host on a loopback address in production mode (SSRF); DCR with each forbidden redirect URI,
 * oversized metadata, or a first-party claim. Each is refused with the right OAuth error, nothing stored,
 * the reason logged. Plus blocking, pre-approval, and the initial-access-token mode.
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/main.ts';
import { BACKENDS, makeConfig, memoryLogger, selfSignedCertificate } from './helpers.ts';

const DOC_PORT = 9467;
const DOCS = `https://127.0.0.1:${DOC_PORT}`;
const REDIRECT = 'http://127.0.0.1:9468/callback';
let docs: HttpsServer;
let cert: string;
let dev: RunningServer;
let prod: RunningServer;
const cleanups: (() => Promise<void>)[] = [];
const devLogs = memoryLogger();
const prodLogs = memoryLogger();

const doc = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    client_id: id,
    client_name: 'Agent',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    ...extra,
  });

/** what the document host answers, per path */
const ROUTES: Record<string, (res: import('node:http').ServerResponse) => void> = {
  '/good.json': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(doc(`${DOCS}/good.json`)),
  '/first-party.json': (res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(doc(`${DOCS}/first-party.json`)),
  '/lying.json': (res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(doc(`${DOCS}/someone-else.json`)),
  '/huge.json': (res) =>
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(doc(`${DOCS}/huge.json`, { padding: 'x'.repeat(8000) })),
  '/slow.json': (res) =>
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(doc(`${DOCS}/slow.json`)), 4000),
  '/redirect.json': (res) => res.writeHead(302, { location: `${DOCS}/good.json` }).end(),
  '/not-json.json': (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>'),
  '/missing.json': (res) => res.writeHead(404).end(),
  '/secret-basic.json': (res) =>
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(doc(`${DOCS}/secret-basic.json`, { token_endpoint_auth_method: 'client_secret_basic' })),
  '/with-secret.json': (res) =>
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(doc(`${DOCS}/with-secret.json`, { client_secret: 'hunter2hunter2hunter2hunter2hunter2' })),
  '/client-credentials.json': (res) =>
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(doc(`${DOCS}/client-credentials.json`, { grant_types: ['authorization_code', 'client_credentials'] })),
  '/claims-first-party.json': (res) =>
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(doc(`${DOCS}/claims-first-party.json`, { baton_first_party: true })),
};

beforeAll(async () => {
  const tls = selfSignedCertificate();
  cert = tls.cert;
  docs = createHttpsServer({ key: tls.key, cert }, (req, res) =>
    (ROUTES[req.url ?? ''] ?? ((r) => r.writeHead(404).end()))(res),
  );
  await new Promise<void>((ok) => docs.listen(DOC_PORT, '127.0.0.1', ok));

  const base = makeConfig();
  const start = async (mode: 'development' | 'production', logs: ReturnType<typeof memoryLogger>) => {
    const store = await BACKENDS[1]!.create();
    cleanups.push(store.cleanup);
    return startServer(
      makeConfig({
        mode,
        storage: store.storage,
        clients: {
          static: base.clients.static,
          first_party: [`${DOCS}/first-party.json`],
          registration: {
            cimd: {
              allow_private_network: mode === 'development',
              extra_ca: cert,
              first_party_hosts: [],
              failure_cache_seconds: 30,
            },
            dcr: { mode: 'open', max_metadata_bytes: 2048 },
          },
        },
      }),
      logs.log,
    );
  };
  dev = await start('development', devLogs);
  prod = await start('production', prodLogs);
}, 60_000);
afterAll(async () => {
  await Promise.all([dev?.close(), prod?.close()]);
  for (const c of cleanups) await c();
  await new Promise((ok) => docs?.close(ok));
});

function authorize(server: RunningServer, clientId: string, redirectUri = REDIRECT, agent = request(server.url)) {
  const verifier = randomBytes(32).toString('base64url');
  return agent.get('/auth').query({
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    resource: 'https://logs.mcp.example.com/mcp',
    state: 's',
  });
}

/** the authorization endpoint answers a browser: the OAuth error is on the page */
const errorOf = (html: string) => /<code>([a-z_]+)<\/code>/.exec(html)?.[1];

const storedClients = async (server: RunningServer) =>
  Number(
    (await server.storage.db('oidc_payloads').where({ model: 'Client' }).count<{ count: string }[]>('* as count'))[0]!
      .count,
  );

describe('Client ID Metadata Documents', () => {
  it('a good document works (the fixture is sound): the request goes on to sign-in', async () => {
    const res = await authorize(dev, `${DOCS}/good.json`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/\/interaction\//);
  });

  it.each([
    ['a client_id that differs from its URL', '/lying.json'],
    ['a document over the size limit', '/huge.json'],
    ['a document slower than the timeout', '/slow.json'],
    ['an answer that redirects', '/redirect.json'],
    ['an answer that is not JSON', '/not-json.json'],
    ['an answer that is not 200', '/missing.json'],
    ['a document listing client_secret_basic', '/secret-basic.json'],
    ['a document with a client_secret', '/with-secret.json'],
    ['a document claiming first-party status', '/claims-first-party.json'],
    ['a document listing the client_credentials grant', '/client-credentials.json'],
  ])(
    '%s is refused (invalid_client), nothing stored',
    async (_what, path) => {
      const res = await authorize(dev, `${DOCS}${path}`);
      expect(res.status).toBe(400);
      expect(errorOf(res.text)).toMatch(/^invalid_client(_metadata)?$/);
      expect(res.headers.location).toBeUndefined();
      expect(await storedClients(dev)).toBe(0);
    },
    10_000,
  );

  it.each([
    ['a fragment', `${DOCS}/good.json#x`],
    ['userinfo', `https://user:pass@127.0.0.1:${DOC_PORT}/good.json`],
    ['dot segments', `${DOCS}/a/../good.json`],
    ['plain http', `http://127.0.0.1:${DOC_PORT}/good.json`],
  ])('a client-id URL with %s is refused', async (_what, id) => {
    const res = await authorize(dev, id);
    expect(res.status).toBe(400);
    expect(errorOf(res.text)).toBe('invalid_client');
  });

  it('in production mode a document on a loopback address is never fetched (SSRF guard)', async () => {
    const before = prodLogs.lines().length;
    const res = await authorize(prod, `${DOCS}/good.json`);
    expect(res.status).toBe(400);
    expect(errorOf(res.text)).toBe('invalid_client');
    expect(prodLogs.lines().slice(before).join('\n')).toContain('special-use IP address');
  });

  it('a loopback redirect URI matches on any port (RFC 8252 §7.3)', async () => {
    const res = await authorize(dev, `${DOCS}/good.json`, 'http://127.0.0.1:51234/callback');
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/\/interaction\//);
    const other = await authorize(dev, `${DOCS}/good.json`, 'http://127.0.0.1:51234/elsewhere');
    expect(other.status).toBe(400);
  });

  it('a pre-approved CIMD client is first-party: no consent page after sign-in', async () => {
    const signIn = async (clientId: string) => {
      const agent = request.agent(dev.url);
      const first = await authorize(dev, clientId, REDIRECT, agent).expect(303);
      const page = await agent.get(first.headers.location!).expect(200);
      const action = /<form method="post" action="([^"]+)"/.exec(page.text)![1]!.replaceAll('&amp;', '&');
      const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
      let res = await agent.post(action).type('form').send({ csrf, username: 'alice', password: 'alice-password' });
      while (res.status === 303 && !res.headers.location!.startsWith(REDIRECT))
        res = await agent.get(res.headers.location!.replace('http://127.0.0.1:9400', ''));
      return res;
    };
    const approved = await signIn(`${DOCS}/first-party.json`);
    expect(approved.headers.location).toMatch(/^http:\/\/127\.0\.0\.1:9468\/callback\?code=/);
    const other = await signIn(`${DOCS}/good.json`);
    expect(other.status).toBe(200);
    expect(other.text).toContain('Allow Agent to act for you?');
  });

  it('a failed fetch is cached: the same document is not fetched again at once', async () => {
    await authorize(dev, `${DOCS}/missing.json?cached`).expect(400);
    const before = devLogs.lines().length;
    await authorize(dev, `${DOCS}/missing.json?cached`).expect(400);
    expect(devLogs.lines().slice(before).join('\n')).toMatch(
      /"reason":"recent fetch failure \(cached\)","msg":"cimd.fetch_refused"/,
    );
  });

  it('discovery advertises CIMD support', async () => {
    const res = await request(dev.url).get('/.well-known/oauth-authorization-server').expect(200);
    expect(res.body.client_id_metadata_document_supported).toBe(true);
    expect(res.body.registration_endpoint).toBe('http://127.0.0.1:9400/reg');
  });
});

describe('dynamic client registration (RFC 7591)', () => {
  const register = (metadata: Record<string, unknown>) => request(dev.url).post('/reg').send(metadata);

  it('registers a public native client with loopback redirect; kind defaults to agent', async () => {
    const res = await register({
      client_name: 'CLI',
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      scope: 'logs.read',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({
      client_kind: 'agent',
      token_endpoint_auth_method: 'none',
      redirect_uris: [REDIRECT],
    });
    expect(typeof res.body.registration_access_token).toBe('string');
    await request(dev.url)
      .get(new URL(res.body.registration_client_uri as string).pathname)
      .auth(res.body.registration_access_token, { type: 'bearer' })
      .expect(200);
    await request(dev.url)
      .delete('/reg/' + String(res.body.client_id))
      .auth(res.body.registration_access_token, { type: 'bearer' })
      .expect(204);
  });

  it.each([
    ['javascript:', 'javascript:alert(1)'],
    ['data:', 'data:text/html,hi'],
    ['a fragment', 'https://app.example.com/cb#frag'],
    ['a wildcard', 'https://*.example.com/cb'],
    ['http off loopback', 'http://app.example.com/cb'],
    ['a private-use scheme that is not a reverse domain', 'myapp:/cb'],
  ])('refuses a redirect URI with %s, nothing stored', async (_what, uri) => {
    const before = await storedClients(dev);
    const res = await register({ redirect_uris: [uri], token_endpoint_auth_method: 'none' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/^invalid_(redirect_uri|client_metadata)$/);
    expect(await storedClients(dev)).toBe(before);
  });

  it.each([
    ['client_name', { client_name: 'Evil\u0000Corp' }, 'invalid_client_metadata'],
    ['client_name', { client_name: 'line\nbreak' }, 'invalid_client_metadata'],
    ['redirect_uris', { redirect_uris: [`${REDIRECT}\u0000`] }, 'invalid_redirect_uri'],
    ['client_name', { client_name: 'half \ud800 a pair' }, 'invalid_client_metadata'],
  ])('refuses control characters and unpaired surrogates in %s (%j), nothing stored', async (name, metadata, error) => {
    const before = await storedClients(dev);
    const res = await register({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', ...metadata });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error,
      error_description: `${name} must not contain control characters or unpaired surrogates`,
    });
    expect(await storedClients(dev)).toBe(before);
  });

  it('a browser-based client may register from its own origin (CORS, no credentials)', async () => {
    const origin = 'http://localhost:6274';
    const preflight = await request(dev.url)
      .options('/reg')
      .set('Origin', origin)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type')
      .expect(204);
    expect(preflight.headers).toMatchObject({
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'GET, POST, PUT, DELETE',
      'access-control-allow-headers': 'authorization, content-type',
    });
    expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();
    const created = await request(dev.url)
      .post('/reg')
      .set('Origin', origin)
      .send({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', application_type: 'native' })
      .expect(201);
    expect(created.headers['access-control-allow-origin']).toBe('*');
    const read = await request(dev.url)
      .get(`/reg/${String(created.body.client_id)}`)
      .set('Origin', origin)
      .auth('not-the-token', { type: 'bearer' })
      .expect(401);
    expect(read.headers['access-control-allow-origin']).toBe('*');
    expect(read.headers['access-control-expose-headers']).toContain('WWW-Authenticate');
  });

  it('accepts a reverse-domain private-use scheme (RFC 8252 §7.1)', async () => {
    await register({
      redirect_uris: ['com.example.app:/oauth2redirect'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    }).expect(201);
  });

  it('refuses oversized metadata', async () => {
    const res = await register({
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
      client_name: 'x'.repeat(4000),
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: 'invalid_client_metadata',
      error_description: 'client metadata larger than 2048 bytes',
    });
  });

  it.each([
    ['first-party status', { baton_first_party: true }],
    ['allowed resources', { baton_resources: ['https://logs.mcp.example.com/mcp'] }],
    ['an mcp_server kind', { client_kind: 'mcp_server' }],
  ])('refuses an anonymous claim of %s', async (_what, extra) => {
    const res = await register({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', ...extra });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_client_metadata');
  });

  it('a blocked client gets invalid_client on its next request', async () => {
    const res = await register({
      redirect_uris: ['https://app.example.com/cb'],
      token_endpoint_auth_method: 'client_secret_basic',
    }).expect(201);
    const id = res.body.client_id as string;
    const secret = res.body.client_secret as string;
    const token = () =>
      request(dev.url)
        .post('/token')
        .auth(id, secret)
        .type('form')
        .send({ grant_type: 'refresh_token', refresh_token: 'r'.repeat(43) });
    expect((await token()).body.error).toBe('invalid_grant'); // authenticated: the refresh token is unknown
    const base = makeConfig();
    dev.reloadPolicy(makeConfig({ clients: { static: base.clients.static, blocked: [id] } }));
    const refused = await token();
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');
    dev.reloadPolicy(makeConfig());
  });
});

describe('registration modes and limits', () => {
  let strict: RunningServer;
  const IAT = 'initial-access-token-0123456789abcdefghij';
  beforeAll(async () => {
    const store = await BACKENDS[1]!.create();
    cleanups.push(store.cleanup);
    strict = await startServer(
      makeConfig({
        mode: 'development',
        storage: store.storage,
        clients: {
          static: makeConfig().clients.static,
          registration: {
            cimd: {
              allow_private_network: true,
              extra_ca: cert,
              rate_limit: { per_host: 2, window_seconds: 60 },
              failure_cache_seconds: 0,
            },
            dcr: { mode: 'initial_access_token', initial_access_token: IAT, unused_expiry_days: 7 },
          },
        },
      }),
      devLogs.log,
    );
  });
  afterAll(async () => {
    await strict?.close();
  });

  it('initial_access_token mode: no token or a wrong one is refused, the right one registers', async () => {
    const metadata = { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', application_type: 'native' };
    const none = await request(strict.url).post('/reg').send(metadata);
    expect(none.status).toBe(401);
    expect(none.body.error).toBe('invalid_token');
    await request(strict.url).post('/reg').auth('wrong', { type: 'bearer' }).send(metadata).expect(401);
    const ok = await request(strict.url).post('/reg').auth(IAT, { type: 'bearer' }).send(metadata).expect(201);
    // unused registrations expire: stored with a time to live of clients.registration.dcr.unused_expiry_days
    const row = await strict.storage
      .db('oidc_payloads')
      .where({ model: 'Client', id: ok.body.client_id })
      .first<{ expires_at: Date }>('expires_at');
    const days = (new Date(row.expires_at).getTime() - Date.now()) / 86400_000;
    expect(days).toBeGreaterThan(6.99);
    expect(days).toBeLessThanOrEqual(7);
  });

  it('initial_access_token mode: client_credentials cannot be registered with the token either', async () => {
    const res = await request(strict.url)
      .post('/reg')
      .auth(IAT, { type: 'bearer' })
      .send({
        redirect_uris: ['https://agent.example.com/cb'],
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
      })
      .expect(400);
    expect(res.body).toEqual({
      error: 'invalid_client_metadata',
      error_description: 'grant_types: client_credentials is only for clients configured in clients.static',
    });
  });

  it('CIMD fetches are rate limited per host', async () => {
    const before = devLogs.lines().length;
    for (const path of ['/missing.json?a', '/missing.json?b']) {
      const res = await authorize(strict, `${DOCS}${path}`);
      expect(res.status).toBe(400);
    }
    await authorize(strict, `${DOCS}/missing.json?c`).expect(400);
    expect(devLogs.lines().slice(before).join('\n')).toMatch(
      /"reason":"rate limit for the host","msg":"cimd.fetch_refused"/,
    );
  });
});

describe('registration rate limit (per client address, shared through Redis)', () => {
  const two: RunningServer[] = [];
  const logs = memoryLogger();
  beforeAll(async () => {
    const store = await BACKENDS[2]!.create();
    cleanups.push(store.cleanup);
    const config = makeConfig({
      storage: store.storage,
      clients: {
        static: makeConfig().clients.static,
        registration: { dcr: { mode: 'open', rate_limit: { per_ip: 3, window_seconds: 600 } } },
      },
    });
    // two processes on one store: the count is one count
    for (let i = 0; i < 2; i++) two.push(await startServer(config, logs.log));
  });
  afterAll(async () => {
    for (const s of two) await s.close();
  });

  it('past the limit a registration is 429 with Retry-After, on every process; reads are not counted', async () => {
    const metadata = { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', application_type: 'native' };
    const first = await request(two[0]!.url).post('/reg').send(metadata).expect(201);
    await request(two[1]!.url)
      .post('/reg')
      .send({ redirect_uris: ['javascript:x'] })
      .expect(400); // counted too
    await request(two[0]!.url).post('/reg').send(metadata).expect(201);
    await request(two[1]!.url)
      .get(`/reg/${String(first.body.client_id)}`)
      .auth(first.body.registration_access_token as string, { type: 'bearer' })
      .expect(200);
    for (const server of two) {
      const refused = await request(server.url).post('/reg').send(metadata);
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({
        error: 'temporarily_unavailable',
        error_description: expect.stringMatching(/^too many registrations from this address; retry after \d+ s$/),
      });
      const wait = Number(refused.headers['retry-after']);
      expect(wait).toBeGreaterThan(590);
      expect(wait).toBeLessThanOrEqual(600);
    }
    // a browser-based client can read why, and when to retry
    const fromBrowser = await request(two[0]!.url).post('/reg').set('Origin', 'http://localhost:6274').send(metadata);
    expect(fromBrowser.status).toBe(429);
    expect(fromBrowser.headers['access-control-allow-origin']).toBe('*');
    expect(fromBrowser.headers['access-control-expose-headers']).toContain('Retry-After');
    expect(logs.lines().join('\n')).toMatch(/"address":"127\.0\.0\.1".*"msg":"registration\.throttled"/);
    const stored = await two[0]!.storage.db('oidc_payloads').where({ model: 'Client' }).count<{ count: string }[]>();
    expect(Number(stored[0]!.count)).toBe(2);
  });
});

describe('the client address behind a trusted proxy (listen.trust_proxy)', () => {
  let behind: RunningServer;
  beforeAll(async () => {
    const store = await BACKENDS[1]!.create();
    cleanups.push(store.cleanup);
    behind = await startServer(
      makeConfig({
        storage: store.storage,
        listen: { host: '127.0.0.1', port: 0, trust_proxy: true },
        clients: {
          static: makeConfig().clients.static,
          registration: { dcr: { mode: 'open', rate_limit: { per_ip: 1, window_seconds: 600 } } },
        },
      }),
      memoryLogger().log,
    );
  });
  afterAll(async () => {
    await behind?.close();
  });

  it('is the entry the proxy appended: what the client put before it cannot dodge the limit', async () => {
    const metadata = { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', application_type: 'native' };
    const register = (forwardedFor: string) =>
      request(behind.url).post('/reg').set('X-Forwarded-For', forwardedFor).send(metadata);
    expect((await register('198.51.100.1, 203.0.113.7')).status).toBe(201);
    expect((await register('198.51.100.2, 203.0.113.7')).status).toBe(429); // same client, another made-up entry
    expect((await register('198.51.100.1, 203.0.113.8')).status).toBe(201); // another client
  });
});
