/**
 * Client registration under attack: Client ID Metadata Documents that lie, are too large, too slow,
 * redirect, are not JSON, not 200, carry secrets; client-id URLs with fragments, userinfo or dot segments;
 * a document host on a loopback address in production mode (SSRF); DCR with each forbidden redirect URI,
 * oversized metadata, or a first-party claim. Each is refused with the right OAuth error, nothing stored,
 * the reason logged. Plus blocking, pre-approval, and the initial-access-token mode.
 */
import { createServer as createHttpServer, request as httpRequest, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/main.ts';
import { makeConfig, memoryLogger, selfSignedCertificate, startTestServer, type TestServer } from './helpers.ts';
import { actionOf, csrfOf } from './pages.ts';

const DOC_PORT = 9467;
const DOCS = `https://127.0.0.1:${DOC_PORT}`;
const REDIRECT = 'http://127.0.0.1:9468/callback';
let docs: HttpsServer;
/** a document host whose certificate no configured CA trusts */
let untrusted: HttpsServer;
let untrustedUrl: string;
/** plain http on loopback (development mode's CIMD for newcomers) */
let plain: HttpServer;
let plainUrl: string;
/** requests the document hosts received, per path */
const hits = new Map<string, number>();
/** answers a test sets for a path (checked before ROUTES) */
const overrides = new Map<string, (res: import('node:http').ServerResponse) => void>();
let cert: string;
let dev: RunningServer;
let prod: RunningServer;
/** the servers of the file (closed, stores dropped, at its end) */
const started: TestServer[] = [];
/** a baton on a fresh PostgreSQL store */
const startOnPostgres = async (opts: Parameters<typeof startTestServer>[0]) => {
  const baton = await startTestServer({ backend: 'postgres', ...opts });
  started.push(baton);
  return baton.server;
};
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
  '/broken.json': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"client_id": '),
  '/html.json': (res) => res.writeHead(200, { 'content-type': 'text/html' }).end(doc(`${DOCS}/html.json`)),
  '/untyped.json': (res) => {
    res.removeHeader('content-type');
    res.writeHead(200).end(doc(`${DOCS}/untyped.json`));
  },
  '/chunked-huge.json': (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(doc(`${DOCS}/chunked-huge.json`).slice(0, -1));
    res.end(`, "padding": "${'x'.repeat(8000)}"}`);
  },
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
  const route = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const path = req.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    (overrides.get(path) ?? ROUTES[path] ?? ((r) => r.writeHead(404).end()))(res);
  };
  docs = createHttpsServer({ key: tls.key, cert }, route);
  await new Promise<void>((ok) => docs.listen(DOC_PORT, '127.0.0.1', ok));
  untrusted = createHttpsServer(selfSignedCertificate(), route);
  await new Promise<void>((ok) => untrusted.listen(0, '127.0.0.1', ok));
  untrustedUrl = `https://127.0.0.1:${(untrusted.address() as AddressInfo).port}`;
  plain = createHttpServer((req, res) => {
    const path = req.url ?? '';
    hits.set(`plain${path}`, (hits.get(`plain${path}`) ?? 0) + 1);
    if (path === '/dev.json')
      res.writeHead(200, { 'content-type': 'application/json' }).end(doc(`${plainUrl}/dev.json`));
    else if (path === '/dev-client-credentials.json')
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(
          doc(`${plainUrl}/dev-client-credentials.json`, { grant_types: ['authorization_code', 'client_credentials'] }),
        );
    else if (path === '/localhost.json')
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(doc(`${plainUrl.replace('127.0.0.1', 'localhost')}/localhost.json`));
    else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => plain.listen(0, '127.0.0.1', ok));
  plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;

  const base = makeConfig();
  const start = async (mode: 'development' | 'production', logs: ReturnType<typeof memoryLogger>) =>
    startOnPostgres({
      logs,
      config: {
        mode,
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
      },
    });
  dev = await start('development', devLogs);
  prod = await start('production', prodLogs);
}, 60_000);
afterAll(async () => {
  for (const baton of started) await baton.close();
  await Promise.all([docs, untrusted, plain].map((server) => new Promise((ok) => server?.close(ok))));
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
/** and why the client's metadata document could not be used */
const reasonOf = (html: string) =>
  /could not be used: <strong>([^<]*)<\/strong>/.exec(html)?.[1]?.replaceAll('&#39;', "'").replaceAll('&amp;', '&');

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
    ['a client_id that differs from its URL', '/lying.json', 'client_id mismatch'],
    ['a document over the size limit', '/huge.json', 'too large (over 5120 bytes)'],
    ['a chunked document over the size limit', '/chunked-huge.json', 'too large (over 5120 bytes)'],
    ['a document slower than the timeout', '/slow.json', 'timeout'],
    ['an answer that redirects', '/redirect.json', 'status 302'],
    ['an answer that is not JSON', '/broken.json', 'not JSON'],
    ['an answer that is not 200', '/missing.json', 'status 404'],
    ['a document served as text/html', '/html.json', 'wrong content type (text/html'],
    ['a document served with no content type', '/untyped.json', 'wrong content type (none'],
    ['a document listing client_secret_basic', '/secret-basic.json', undefined],
    ['a document with a client_secret', '/with-secret.json', undefined],
    ['a document claiming first-party status', '/claims-first-party.json', undefined],
    ['a document listing the client_credentials grant', '/client-credentials.json', undefined],
  ])(
    '%s is refused (invalid_client), nothing stored, and the page says why',
    async (_what, path, reason) => {
      const res = await authorize(dev, `${DOCS}${path}`);
      expect(res.status).toBe(400);
      expect(errorOf(res.text)).toMatch(/^invalid_client(_metadata)?$/);
      expect(res.headers.location).toBeUndefined();
      expect(await storedClients(dev)).toBe(0);
      if (reason) expect(reasonOf(res.text)).toContain(reason);
      else expect(res.text).not.toContain('could not be used');
    },
    10_000,
  );

  it('a document under a CA nobody configured fails on TLS, and the page says so', async () => {
    const res = await authorize(dev, `${untrustedUrl}/good.json`);
    expect(res.status).toBe(400);
    expect(errorOf(res.text)).toBe('invalid_client');
    expect(reasonOf(res.text)).toBe('tls (DEPTH_ZERO_SELF_SIGNED_CERT)');
    // what the page shows is the category: the client id is escaped, no stack or internal message
    expect(res.text).toContain(`<code>${untrustedUrl}/good.json</code>`);
    expect(res.text).not.toMatch(/at .*\.js:\d+|self-signed certificate/);
  });

  it('a client id with a query string is refused without a fetch (CIMD draft §3)', async () => {
    const res = await authorize(dev, `${DOCS}/good.json?v=1`);
    expect(res.status).toBe(400);
    expect(errorOf(res.text)).toBe('invalid_client');
    expect(reasonOf(res.text)).toBe('the client id has a query string');
    expect(hits.get('/good.json?v=1')).toBeUndefined();
  });

  it.each([
    ['a fragment', `${DOCS}/good.json#x`],
    ['userinfo', `https://user:pass@127.0.0.1:${DOC_PORT}/good.json`],
    ['dot segments', `${DOCS}/a/../good.json`],
  ])('a client-id URL with %s is refused', async (_what, id) => {
    const res = await authorize(dev, id);
    expect(res.status).toBe(400);
    expect(errorOf(res.text)).toBe('invalid_client');
  });

  it('in production mode a document on a loopback address is never fetched (SSRF guard)', async () => {
    const before = prodLogs.lines().length;
    const served = hits.get('/good.json') ?? 0;
    const res = await authorize(prod, `${DOCS}/good.json`);
    expect(res.status).toBe(400);
    expect(errorOf(res.text)).toBe('invalid_client');
    expect(reasonOf(res.text)).toBe('host not allowed (a private or special-use address)');
    expect(prodLogs.lines().slice(before).join('\n')).toContain('special-use IP address');
    expect(hits.get('/good.json') ?? 0).toBe(served);
  });

  it.each([
    ['127.0.0.1', () => `${plainUrl}/dev.json`],
    ['localhost', () => `${plainUrl.replace('127.0.0.1', 'localhost')}/localhost.json`],
  ])('development mode accepts an http client id on loopback (%s), for trying CIMD locally', async (_host, id) => {
    const res = await authorize(dev, id());
    expect(res.status, res.text).toBe(303);
    expect(res.headers.location).toMatch(/\/interaction\//);
  });

  it('production mode refuses an http client id on loopback, and the page says why', async () => {
    const before = hits.get('plain/dev.json') ?? 0;
    const res = await authorize(prod, `${plainUrl}/dev.json`);
    expect(res.status).toBe(400);
    expect(errorOf(res.text)).toBe('invalid_client');
    expect(reasonOf(res.text)).toBe(
      'the client id must be an https URL (http on a loopback host only with mode: development)',
    );
    expect(hits.get('plain/dev.json') ?? 0).toBe(before);
  });

  it('a loopback http document listing client_credentials is refused like an https one', async () => {
    const res = await authorize(dev, `${plainUrl}/dev-client-credentials.json`);
    expect(res.status).toBe(400);
    expect(errorOf(res.text)).toMatch(/^invalid_client(_metadata)?$/);
  });

  it('an http client id off loopback is refused in development mode too', async () => {
    const res = await authorize(dev, 'http://docs.example.com/agent.json');
    expect(res.status).toBe(400);
    expect(errorOf(res.text)).toBe('invalid_client');
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
      const [action, csrf] = [actionOf(page.text), csrfOf(page.text)];
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

  it('a failed fetch is cached: the same document is not fetched again at once; the page says why and when', async () => {
    await authorize(dev, `${DOCS}/missing-cached.json`).expect(400);
    const before = devLogs.lines().length;
    const again = await authorize(dev, `${DOCS}/missing-cached.json`).expect(400);
    expect(devLogs.lines().slice(before).join('\n')).toMatch(
      /"reason":"recent fetch failure \(cached\)","last_reason":"status 404 \(the document must be served with 200\)","msg":"cimd.fetch_refused"/,
    );
    expect(hits.get('/missing-cached.json')).toBe(1);
    expect(reasonOf(again.text)).toMatch(
      /^status 404 \(the document must be served with 200\); fetched again in \d+ s$/,
    );
    expect(again.text).toContain('After a failed fetch baton fetches the document again after 30 s.');
  });

  it('failures are cached 5 s by default, so a corrected document is soon fetched again', () => {
    expect(makeConfig().clients.registration.cimd.failure_cache_seconds).toBe(5);
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

  it.each([
    ['http off loopback', 'http://app.example.com/cb', 'http is allowed only on loopback (RFC 8252 §7.3)'],
    ['port 0', 'http://127.0.0.1:0/cb', 'port 0 is not a port a client can listen on'],
    ['an empty port', 'http://127.0.0.1:/cb', 'the port is empty'],
    ['an empty https port', 'https://app.example.com:/cb', 'the port is empty'],
  ])('a redirect URI with %s is refused, saying what is wrong with it', async (_what, uri, problem) => {
    const before = await storedClients(dev);
    const res = await register({
      redirect_uris: [uri],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_redirect_uri', error_description: `redirect_uris: ${uri}: ${problem}` });
    expect(await storedClients(dev)).toBe(before);
  });

  it.each([
    [
      'an http post_logout_redirect_uri off loopback (web client)',
      { post_logout_redirect_uris: ['http://app.example.com/out'] },
      'post_logout_redirect_uris: http://app.example.com/out: http is allowed only on loopback (RFC 8252 §7.3)',
    ],
    [
      'a loopback jwks_uri',
      { jwks_uri: 'https://127.0.0.1/jwks', token_endpoint_auth_method: 'private_key_jwt' },
      'jwks_uri: https://127.0.0.1/jwks: must not be a loopback, private or special-use address',
    ],
    [
      'a link-local jwks_uri (cloud metadata)',
      { jwks_uri: 'https://169.254.169.254/jwks', token_endpoint_auth_method: 'private_key_jwt' },
      'jwks_uri: https://169.254.169.254/jwks: must not be a loopback, private or special-use address',
    ],
    [
      'an http jwks_uri',
      { jwks_uri: 'http://keys.example.com/jwks', token_endpoint_auth_method: 'private_key_jwt' },
      'jwks_uri: http://keys.example.com/jwks: must be an https URL',
    ],
    [
      'loopback request_uris',
      { request_uris: ['https://localhost/request.jwt'] },
      'request_uris: https://localhost/request.jwt: must not be a loopback, private or special-use address',
    ],
  ])('production mode refuses %s at registration', async (_what, extra, description) => {
    const res = await request(prod.url)
      .post('/reg')
      .send({ redirect_uris: ['https://app.example.com/cb'], token_endpoint_auth_method: 'none', ...extra });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_client_metadata', error_description: description });
    expect(await storedClients(prod)).toBe(0);
  });

  it('a 10 MB chunked registration body is refused at the limit, as invalid_client_metadata', async () => {
    const url = new URL(prod.url);
    const answer = await new Promise<{ status: number; body: unknown }>((ok, ko) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/reg',
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => ok({ status: res.statusCode!, body: JSON.parse(text) }));
        },
      );
      req.on('error', ko);
      req.write('{"client_name":"');
      const chunk = 'x'.repeat(64 * 1024);
      let sent = 0;
      const pump = (): void => {
        while (sent < 160) {
          sent++;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end('"}');
      };
      pump();
    });
    expect(answer).toEqual({
      status: 400,
      body: { error: 'invalid_client_metadata', error_description: 'client metadata larger than 2048 bytes' },
    });
  });

  it('a request with more header lines than any client sends is refused with 431', async () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 500; i++) headers[`x-h${i}`] = 'v';
    const res = await request(dev.url).get('/.well-known/oauth-authorization-server').set(headers);
    expect(res.status).toBe(431);
    const few: Record<string, string> = {};
    for (let i = 0; i < 40; i++) few[`x-h${i}`] = 'v';
    await request(dev.url).get('/.well-known/oauth-authorization-server').set(few).expect(200);
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
    await dev.reloadPolicy(makeConfig({ clients: { static: base.clients.static, blocked: [id] } }));
    const refused = await token();
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');
    await dev.reloadPolicy(makeConfig());
  });
});

describe('the CIMD failure cache', () => {
  let uncached: RunningServer;
  let quick: RunningServer;
  beforeAll(async () => {
    const server = async (seconds: number) =>
      startOnPostgres({
        logs: devLogs,
        config: {
          mode: 'development',
          clients: {
            static: makeConfig().clients.static,
            registration: { cimd: { allow_private_network: true, extra_ca: cert, failure_cache_seconds: seconds } },
          },
        },
      });
    uncached = await server(0);
    quick = await server(1);
  });

  it('a refused document is fetched once per request (not again by the error handler)', async () => {
    const before = hits.get('/lying-once.json') ?? 0;
    overrides.set('/lying-once.json', ROUTES['/lying.json']!);
    const res = await authorize(uncached, `${DOCS}/lying-once.json`);
    expect(res.status).toBe(400);
    expect(hits.get('/lying-once.json')).toBe(before + 1);
    expect(reasonOf(res.text)).toContain('client_id mismatch');
  });

  it('a corrected document is fetched again once its failure has expired from the cache', async () => {
    const id = `${DOCS}/fixed-later.json`;
    overrides.set('/fixed-later.json', (res) => res.writeHead(200, { 'content-type': 'text/html' }).end(doc(id)));
    expect(reasonOf((await authorize(quick, id).expect(400)).text)).toContain('wrong content type');
    overrides.set('/fixed-later.json', (res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(doc(id)),
    );
    let res = await authorize(quick, id);
    for (let i = 0; i < 100 && res.status !== 303; i++) {
      await new Promise((ok) => setTimeout(ok, 50));
      res = await authorize(quick, id);
    }
    expect(res.status).toBe(303);
  });
});

describe('registration modes and limits', () => {
  let strict: RunningServer;
  const IAT = 'initial-access-token-0123456789abcdefghij';
  beforeAll(async () => {
    strict = await startOnPostgres({
      logs: devLogs,
      config: {
        mode: 'development',
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
      },
    });
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
    for (const path of ['/missing-a.json', '/missing-b.json']) {
      const res = await authorize(strict, `${DOCS}${path}`);
      expect(res.status).toBe(400);
    }
    const limited = await authorize(strict, `${DOCS}/missing-c.json`).expect(400);
    expect(devLogs.lines().slice(before).join('\n')).toMatch(
      /"reason":"rate limit for the host","msg":"cimd.fetch_refused"/,
    );
    expect(reasonOf(limited.text)).toBe('rate limited (too many documents fetched from the host)');
    expect(hits.get('/missing-c.json')).toBeUndefined();
  });
});

describe('registration rate limit (per client address, shared through Redis)', () => {
  const two: RunningServer[] = [];
  const logs = memoryLogger();
  beforeAll(async () => {
    const first = await startTestServer({
      backend: 'postgres+redis',
      logs,
      config: {
        clients: {
          static: makeConfig().clients.static,
          registration: { dcr: { mode: 'open', rate_limit: { per_ip: 3, window_seconds: 600 } } },
        },
      },
    });
    started.push(first);
    // two processes on one store: the count is one count (the second on the first one's store)
    two.push(first.server, await startServer(first.config, logs.log));
  });
  afterAll(async () => {
    await two[1]?.close();
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
    behind = await startOnPostgres({
      config: {
        listen: { host: '127.0.0.1', port: 0, trust_proxy: true },
        clients: {
          static: makeConfig().clients.static,
          registration: { dcr: { mode: 'open', rate_limit: { per_ip: 1, window_seconds: 600 } } },
        },
      },
    });
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
