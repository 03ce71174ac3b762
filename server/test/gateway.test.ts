/**
 * `baton gateway` with real parts: baton (issuer at its listen address, on PostgreSQL for the secrets store),
 * a third-party MCP server nobody here wrote (@modelcontextprotocol/server-everything, Streamable HTTP,
 * sessions) behind a small front that stands for the SaaS key check (401 unless `X-API-Key` is a key it
 * takes; it records what reached it), a stateless MCP server (the SDK's transport without sessions) behind the
 * same front, the gateway started in this process, and the real MCP SDK client calling through it as Alice
 * and as Bob.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import request from 'supertest';
import { request as undiciRequest } from 'undici';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { runOperation } from '../src/admin/operations.ts';
import { credentialSource, startGateway, type RunningGateway } from '../src/gateway/index.ts';
import { storedSecrets, type StoredSecrets } from '../src/secrets/stored.ts';
import { localIssuer } from '../src/idp/registry.ts';
import { searchEvents } from '../src/audit/store.ts';
import { adminStoresOf, freePort, memoryLogger, startTestServer, staticService, type TestServer } from './helpers.ts';
import { codeForm, seedCode } from './seed.ts';
import { startEverything } from './everything.ts';

const KEY = 'sk-live-shared-upstream-key-0123456789';
const WRONG_KEY = 'sk-live-revoked-upstream-key-987654321';
const GATEWAY_SECRET = 'search-gateway-secret-0123456789abcdef';
const NEW_KEY = 'sk-live-rotated-upstream-key-555555555';
const env: Record<string, string | undefined> = { SEARCH_KEY: KEY, OLD_SEARCH_KEY: WRONG_KEY };
/** the keys the front (the SaaS) takes: two during a rotation's overlap */
const validKeys = new Set([KEY]);

let baton: TestServer;
let gateway: RunningGateway;
let everything: ChildProcess;
let front: Server;
let secrets: StoredSecrets;
const logs = memoryLogger();
const ports = { as: 0, gw: 0, everything: 0, front: 0, closed: 0 };
const resource = (name: string) => `http://127.0.0.1:${ports.gw}/${name}/mcp`;

/** what reached the front (the stand-in for the SaaS), request by request */
const received: { method: string; path: string; headers: IncomingHttpHeaders; body: string }[] = [];
/** whether the upstream's answer to the long-running tool call has been sent whole (for the streaming test) */
let longRunningAnswered: boolean | undefined;

/**
 * A stateless MCP server (the real SDK's Streamable HTTP transport without sessions, a server per request,
 * as the SDK's stateless example): no Mcp-Session-Id is ever handed out, and each request stands alone.
 */
function statelessMcp(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const server = new McpServer({ name: 'stateless-search', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { message: z.string() } }, ({ message }) => ({
    content: [{ type: 'text', text: `Stateless echo: ${message}` }],
  }));
  server.registerTool('get-sum', { inputSchema: { a: z.number(), b: z.number() } }, ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => void transport.close());
  server
    .connect(transport)
    .then(() => transport.handleRequest(req, res, body.length ? JSON.parse(body.toString('utf8')) : undefined))
    .catch(() => res.headersSent || res.writeHead(500).end());
}

function startFront(): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: body.toString('utf8'),
      });
      if (!validKeys.has(String(req.headers['x-api-key']))) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'ApiKey' });
        res.end(JSON.stringify({ error: 'invalid api key' }));
        return;
      }
      if (req.url === '/stateless') return void statelessMcp(req, res, body);
      if (req.url === '/slow') return; // never answers
      if (req.url === '/idle') {
        // answers, sends one event, then nothing more
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{}}\n\n');
        return;
      }
      if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const line = `data: ${'x'.repeat(1000)}\n\n`;
        let sent = 0;
        const more = () => {
          while (sent < 500) {
            sent++;
            if (!res.write(line)) return void res.once('drain', more);
          }
          res.end();
        };
        res.on('error', () => {});
        more();
        return;
      }
      const headers = Object.fromEntries(
        ['accept', 'content-type', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id']
          .filter((h) => req.headers[h] !== undefined)
          .map((h) => [h, String(req.headers[h])]),
      );
      undiciRequest(`http://127.0.0.1:${ports.everything}/mcp`, {
        method: req.method as 'POST',
        headers,
        ...(body.length ? { body } : {}),
      }).then(
        (up) => {
          const longRunning = body.includes('"trigger-long-running-operation"');
          if (longRunning) longRunningAnswered = false;
          res.writeHead(up.statusCode, up.headers as Record<string, string>);
          up.body.once('end', () => longRunning && (longRunningAnswered = true));
          pipeline(up.body, res).catch(() => {}); // the gateway's caller may go away
        },
        () => res.writeHead(502).end(),
      );
    });
  });
  return new Promise((ok) => server.listen(ports.front, '127.0.0.1', () => ok(server)));
}

const SEARCH_SCOPES = {
  'tools/call:echo': 'search.query',
  'tools/call:trigger-long-running-operation': 'search.query',
  'tools/call:get-sum': 'search.admin',
};

function gatewaysConfig() {
  const upstream = (path: string) => `http://127.0.0.1:${ports.front}${path}`;
  const credential = { header: 'X-API-Key', env: 'SEARCH_KEY' };
  return [
    { id: 'search', resource: resource('search'), upstream: upstream('/mcp'), credential, scopes: SEARCH_SCOPES },
    {
      id: 'old-key',
      resource: resource('old-key'),
      upstream: upstream('/mcp'),
      credential: { header: 'X-API-Key', env: 'OLD_SEARCH_KEY' },
    },
    { id: 'slow', resource: resource('slow'), upstream: upstream('/slow'), credential, timeout_seconds: 1 },
    { id: 'idle', resource: resource('idle'), upstream: upstream('/idle'), credential, timeout_seconds: 1 },
    { id: 'huge', resource: resource('huge'), upstream: upstream('/huge'), credential, max_response_bytes: 65536 },
    { id: 'down', resource: resource('down'), upstream: `http://127.0.0.1:${ports.closed}/mcp`, credential },
    {
      id: 'stateless',
      resource: resource('stateless'),
      upstream: upstream('/stateless'),
      credential,
      scopes: SEARCH_SCOPES,
    },
    {
      id: 'stored',
      resource: resource('stored'),
      upstream: upstream('/mcp'),
      credential: { header: 'X-API-Key', secret: 'search-key' },
      scopes: SEARCH_SCOPES,
    },
    {
      id: 'nokey',
      resource: resource('nokey'),
      upstream: upstream('/mcp'),
      credential: { header: 'X-API-Key', env: 'UNSET' },
    },
  ];
}

beforeAll(async () => {
  for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort();
  everything = await startEverything(ports.everything);
  front = await startFront();
  baton = await startTestServer({
    port: ports.as,
    backend: 'postgres',
    config: (base) => ({
      resources: [
        ...base.resources,
        ...['search', 'old-key', 'slow', 'idle', 'huge', 'down', 'nokey', 'stateless', 'stored'].map((name) => ({
          uri: resource(name),
          name: `Search (${name})`,
          scopes: ['search.query', 'search.admin'],
          client_id: 'search-gateway',
        })),
      ],
      clients: { static: [...base.clients.static, staticService('search-gateway', GATEWAY_SECRET, [], 'mcp_server')] },
      roles: { ...base.roles, searcher: ['search.query'], search_admin: ['search.admin'] },
      role_bindings: { local: { developers: ['developer', 'searcher'], oncall: ['sre', 'search_admin'] } },
      status_list: { ttl_seconds: 1 },
      gateway: {
        listen: { host: '127.0.0.1', port: ports.gw },
        client_id: 'search-gateway',
        client_secret: GATEWAY_SECRET,
      },
      gateways: gatewaysConfig(),
    }),
  });
  secrets = storedSecrets(baton.config, baton.server.storage.db, logs.log);
  gateway = await startGateway(baton.config, {
    credential: credentialSource(baton.config.gateways, { env, secret: secrets.lookup }),
    log: logs.log,
  });
}, 60_000);

afterAll(async () => {
  await gateway?.close(0);
  secrets?.close();
  await new Promise((ok) => front?.close(ok));
  front?.closeAllConnections();
  everything?.kill();
  await baton?.close();
});

/** Whether a log line matching `match` is written, polled for a while (the gateway logs after the caller sees the cut). */
async function logged(match: (line: string) => boolean): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (logs.lines().some(match)) return true;
    await new Promise((ok) => setTimeout(ok, 20));
  }
  return false;
}

const PEOPLE = {
  alice: { groups: ['developers'], roles: ['developer', 'searcher'], scopes: ['search.query'] },
  bob: { groups: ['oncall'], roles: ['sre', 'search_admin'], scopes: ['search.admin'] },
};

type DpopKey = Awaited<ReturnType<typeof generateKeyPair>>;

/** RFC 9449 §4.2: a DPoP proof for `htu` (with `ath` for a token) */
async function dpopProof(key: DpopKey, htm: string, htu: string, token?: string): Promise<string> {
  return new SignJWT({
    htm,
    htu,
    jti: randomUUID(),
    ...(token ? { ath: createHash('sha256').update(token).digest('base64url') } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(key.publicKey) })
    .setIssuedAt()
    .sign(key.privateKey);
}

/** A person's access token for a gateway's resource: a seeded code redeemed at baton's token endpoint. */
async function tokenOf(who: keyof typeof PEOPLE, name = 'search', dpop?: DpopKey): Promise<string> {
  const person = PEOPLE[who];
  const account = await baton.server.accounts.recordLogin({
    idpId: 'local',
    idpIssuer: localIssuer('local'),
    idpSubject: who,
    profile: { email: `${who}@example.com` },
    groups: person.groups,
    roles: person.roles,
  });
  const seed = await seedCode(baton.server.provider(), account.id, resource(name), person.scopes);
  const req = request(baton.url).post('/token').type('form');
  if (dpop) void req.set('DPoP', await dpopProof(dpop, 'POST', `${baton.url}/token`));
  const res = await req.send(codeForm(seed)).expect(200);
  expect(res.body.token_type).toBe(dpop ? 'DPoP' : 'Bearer');
  return res.body.access_token as string;
}

/** The real MCP SDK client, connected through the gateway (a forged key and a cookie in its headers). */
async function connect(token: string, name = 'search'): Promise<Client> {
  const client = new Client({ name: 'gateway-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(resource(name)), {
    requestInit: {
      headers: { Authorization: `Bearer ${token}`, 'X-API-Key': 'forged-by-the-agent', Cookie: 'sid=agent-cookie' },
    },
  });
  await client.connect(transport);
  return client;
}

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

function post(name: string, token: string, body: unknown) {
  return undiciRequest(resource(name), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('baton gateway: a shared-key MCP server behind baton', () => {
  it('serves RFC 9728 metadata naming baton for each gateway', async () => {
    const res = await fetch(`http://127.0.0.1:${ports.gw}/.well-known/oauth-protected-resource/search/mcp`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      resource: resource('search'),
      authorization_servers: [baton.config.issuer],
      scopes_supported: ['search.query', 'search.admin'],
    });
  });

  it('answers a call without a token with the 401 challenge, and forwards nothing', async () => {
    const before = received.length;
    const res = await undiciRequest(resource('search'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(initialize),
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      `Bearer scope="search.query search.admin", resource_metadata="http://127.0.0.1:${ports.gw}/.well-known/oauth-protected-resource/search/mcp"`,
    );
    await res.body.dump();
    expect(received.length).toBe(before);
  });

  it("Alice calls echo through the gateway; the upstream gets the shared key, never her token, the agent's key or cookie", async () => {
    const token = await tokenOf('alice');
    const before = received.length;
    const client = await connect(token);
    const result = await client.callTool({ name: 'echo', arguments: { message: 'hello through baton' } });
    expect(result.content).toEqual([{ type: 'text', text: 'Echo: hello through baton' }]);
    // the session's end goes through too (DELETE with its Mcp-Session-Id; 405 would be taken silently)
    const transport = client.transport as StreamableHTTPClientTransport;
    const session = transport.sessionId;
    await transport.terminateSession();
    await client.close();
    const seen = received.slice(before);
    const toolCall = seen.find((r) => r.body.includes('"tools/call"') && r.body.includes('hello through baton'));
    // the caller's session id is the upstream's bound to the caller (sessions.ts); the upstream gets its own
    const upstreamSession = toolCall?.headers['mcp-session-id'] as string;
    expect(session).toMatch(new RegExp(`^${upstreamSession}\\.[A-Za-z0-9_-]{43}$`));
    expect(toolCall?.headers['mcp-protocol-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(seen.filter((r) => r.method === 'DELETE').map((r) => r.headers['mcp-session-id'])).toEqual([
      upstreamSession,
    ]);
    // and the GET stream the SDK opens for the server's own messages
    expect(seen.filter((r) => r.method === 'GET').map((r) => r.headers['mcp-session-id'])).toEqual([upstreamSession]);
    for (const r of seen) {
      expect(r.headers['x-api-key']).toBe(KEY);
      expect(r.headers.authorization).toBeUndefined();
      expect(r.headers.cookie).toBeUndefined();
      expect(r.headers.dpop).toBeUndefined();
      expect(JSON.stringify(r.headers)).not.toContain(token);
    }
  });

  it('lists only the tools the caller may call (Alice: search.query; Bob: search.admin)', async () => {
    const direct = new Client({ name: 'direct', version: '1.0.0' });
    await direct.connect(
      new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${ports.front}/mcp`), {
        requestInit: { headers: { 'X-API-Key': KEY } },
      }),
    );
    const all = (await direct.listTools()).tools.map((t) => t.name);
    await direct.close();
    expect(all).toEqual(expect.arrayContaining(['echo', 'get-sum', 'trigger-long-running-operation', 'get-env']));

    const alice = await connect(await tokenOf('alice'));
    expect((await alice.listTools()).tools.map((t) => t.name).sort()).toEqual([
      'echo',
      'trigger-long-running-operation',
    ]);
    await alice.close();
    const bob = await connect(await tokenOf('bob'));
    expect((await bob.listTools()).tools.map((t) => t.name)).toEqual(['get-sum']);
    expect(await bob.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } })).toMatchObject({
      content: [{ type: 'text', text: expect.stringContaining('5') }],
    });
    await bob.close();
  });

  it("a session is the caller's own: Bob presenting Alice's session id gets 404, and the upstream sees nothing", async () => {
    const alice = await connect(await tokenOf('alice'));
    const session = (alice.transport as StreamableHTTPClientTransport).sessionId!;
    const bob = await tokenOf('bob');
    const before = received.length;
    const tamper = `${session.slice(0, session.lastIndexOf('.'))}.${'A'.repeat(43)}`;
    for (const id of [session, tamper, session.slice(0, session.lastIndexOf('.'))]) {
      const res = await undiciRequest(resource('search'), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${id === session ? bob : await tokenOf('alice')}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': id,
          'mcp-protocol-version': '2025-06-18',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/list' }),
      });
      expect(res.statusCode).toBe(404);
      expect(await res.body.json()).toEqual({
        jsonrpc: '2.0',
        id: 4,
        error: { code: -32001, message: 'Session not found' },
      });
    }
    expect(received.length).toBe(before);
    // while Alice's own calls in it go on
    expect((await alice.listTools()).tools.length).toBe(2);
    await alice.close();
  });

  it('takes a DPoP-bound token with a proof for the resource URL, refuses a replayed proof, forwards no DPoP header', async () => {
    const key = await generateKeyPair('ES256');
    const token = await tokenOf('alice', 'search', key);
    const send = (proof: string) =>
      undiciRequest(resource('search'), {
        method: 'POST',
        headers: {
          authorization: `DPoP ${token}`,
          dpop: proof,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify(initialize),
      });
    const before = received.length;
    const proof = await dpopProof(key, 'POST', resource('search'), token);
    const ok = await send(proof);
    expect(ok.statusCode).toBe(200);
    await ok.body.dump();
    expect(received.slice(before).map((r) => [r.headers.dpop, r.headers.authorization])).toEqual([
      [undefined, undefined],
    ]);
    const replayed = await send(proof);
    expect(replayed.statusCode).toBe(401);
    expect(replayed.headers['www-authenticate']).toMatch(/^DPoP error="invalid_dpop_proof"/);
    await replayed.body.dump();
    // a bound token without its proof is refused too
    const bare = await undiciRequest(resource('search'), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(initialize),
    });
    expect(bare.statusCode).toBe(401);
    await bare.body.dump();
    expect(received.length).toBe(before + 1);
  });

  it("a revoked token is refused through the Token Status List (the kit's check), the upstream no longer called", async () => {
    const token = await tokenOf('alice');
    const ok = await post('search', token, initialize);
    expect(ok.statusCode).toBe(200);
    await ok.body.dump();
    // RFC 7009 §2.1: the resource's own server (the gateway's client) revokes it
    await request(baton.url)
      .post('/token/revocation')
      .auth('search-gateway', GATEWAY_SECRET)
      .type('form')
      .send({ token })
      .expect(200);
    let status = 200;
    let challenge: string | undefined;
    // the kit's cached list lives status_list.ttl_seconds (1 s here): poll until the new one is read
    for (let i = 0; i < 150 && status !== 401; i++) {
      const before = received.length;
      const res = await post('search', token, initialize);
      status = res.statusCode;
      challenge = res.headers['www-authenticate'] as string | undefined;
      await res.body.dump();
      if (status === 401) expect(received.length).toBe(before);
      else await new Promise((done) => setTimeout(done, 50));
    }
    expect(status).toBe(401);
    expect(challenge).toMatch(/^Bearer error="invalid_token"/);
  });

  it('refuses a tool outside the caller’s scopes with 403 insufficient_scope; the upstream never sees the call', async () => {
    const token = await tokenOf('alice');
    const before = received.length;
    const res = await post('search', token, {
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'get-sum', arguments: { a: 1, b: 2 } },
    });
    expect(res.statusCode).toBe(403);
    expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(res.headers['www-authenticate']).toContain('scope="search.query search.admin"');
    await res.body.dump();
    expect(received.length).toBe(before);
  });

  it('refuses a batch holding one forbidden call as a whole', async () => {
    const token = await tokenOf('alice');
    const before = received.length;
    const res = await post('search', token, [
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { message: 'a' } } },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get-sum', arguments: { a: 1, b: 2 } } },
    ]);
    expect(res.statusCode).toBe(403);
    await res.body.dump();
    expect(received.length).toBe(before);
  });

  it('streams a long-running tool: progress arrives while the upstream is still answering', async () => {
    const client = await connect(await tokenOf('alice'));
    const progress: { progress: number; upstreamAnswered: boolean | undefined }[] = [];
    const result = await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 3 } },
      undefined,
      { onprogress: (p) => progress.push({ progress: p.progress, upstreamAnswered: longRunningAnswered }) },
    );
    expect(result.content).toEqual([
      { type: 'text', text: 'Long running operation completed. Duration: 1 seconds, Steps: 3.' },
    ]);
    expect(progress.map((p) => p.progress)).toEqual([1, 2, 3]);
    // not buffered: the first notification reached the client before the upstream's answer was complete
    expect(progress[0]!.upstreamAnswered).toBe(false);
    expect(longRunningAnswered).toBe(true);
    await client.close();
  });

  it('a rotated key is used from the next call on, without a restart; a call in flight finishes on the old one', async () => {
    const client = await connect(await tokenOf('alice'));
    const before = received.length;
    let rotated = false;
    const inFlight = client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } },
      undefined,
      {
        onprogress: () => {
          if (rotated) return;
          rotated = true;
          validKeys.add(NEW_KEY); // the upstream takes both during the overlap
          env.SEARCH_KEY = NEW_KEY;
        },
      },
    );
    // poll until the rotation happened during the call, then call again
    for (let i = 0; i < 200 && !rotated; i++) await new Promise((ok) => setTimeout(ok, 20));
    expect(await client.callTool({ name: 'echo', arguments: { message: 'after rotation' } })).toMatchObject({
      content: [{ text: 'Echo: after rotation' }],
    });
    expect(await inFlight).toMatchObject({ content: [{ text: expect.stringContaining('completed') }] });
    const keyOf = (text: string) => received.slice(before).find((r) => r.body.includes(text))?.headers['x-api-key'];
    expect(keyOf('trigger-long-running-operation')).toBe(KEY);
    expect(keyOf('after rotation')).toBe(NEW_KEY);
    await client.close();
    env.SEARCH_KEY = KEY;
    validKeys.delete(NEW_KEY);
  });

  it('rotation under load, whichever side goes first: not one call fails, and every call ends on the new key', async () => {
    const [one, two, three] = ['sk-stored-one-1111111111', 'sk-stored-two-2222222222', 'sk-stored-three-333333333'];
    const stores = adminStoresOf(baton);
    validKeys.add(one);
    await runOperation(stores, 'secrets.set', { name: 'search-key', value: one });
    const alice = await connect(await tokenOf('alice', 'stored'), 'stored');
    const bob = await connect(await tokenOf('bob', 'stored'), 'stored');
    const failures: string[] = [];
    let answered = 0;
    let stop = false;
    let phase = 'before';
    // four callers, back to back, for the whole rotation (Alice's echo and Bob's get-sum, two each)
    const loop = async (client: Client, who: string) => {
      for (let i = 0; !stop; i++) {
        const call =
          who === 'alice'
            ? { name: 'echo', arguments: { message: `rotation ${i}` } }
            : { name: 'get-sum', arguments: { a: i, b: 1 } };
        try {
          const result = await client.callTool(call);
          if (result.isError) failures.push(`${phase} ${who}: ${JSON.stringify(result.content)}`);
          else answered++;
        } catch (err) {
          failures.push(`${phase} ${who}: ${(err as Error).message}`);
        }
      }
    };
    const before = received.length;
    const keysSeen = () => received.slice(before).map((r) => String(r.headers['x-api-key']));
    const loops = [loop(alice, 'alice'), loop(alice, 'alice'), loop(bob, 'bob'), loop(bob, 'bob')];
    const callsWith = async (key: string, n: number) =>
      vi.waitFor(() => expect(keysSeen().filter((k) => k === key).length).toBeGreaterThanOrEqual(n), {
        timeout: 10_000,
        interval: 50,
      });
    try {
      await callsWith(one, 20);
      // 1. baton first: rotated with an overlap while the upstream takes only the old key; the gateway's
      //    calls with the new one are refused, and each is sent once more with the previous value
      phase = 'baton-first';
      await runOperation(stores, 'secrets.rotate', { name: 'search-key', value: two, overlap_seconds: 60 });
      await callsWith(two, 5);
      const sinceTwo = keysSeen().length;
      await callsWith(one, keysSeen().filter((k) => k === one).length + 10); // served on the previous key
      phase = 'saas-takes-both';
      validKeys.add(two); // the SaaS takes the new key beside the old one (an upstream that holds two keys)
      const both = keysSeen().length;
      await vi.waitFor(() => expect(keysSeen().length).toBeGreaterThan(both + 20), { timeout: 10_000 });
      phase = 'saas-switched';
      validKeys.delete(one); // and then drops the old one
      const switched = keysSeen().length;
      await vi.waitFor(() => expect(keysSeen().length).toBeGreaterThan(switched + 20), { timeout: 10_000 });
      // 2. the upstream first: it takes the next key beside the current one, then baton rotates (no overlap),
      //    then the upstream drops the old one once the gateway is on the new
      phase = 'saas-first';
      validKeys.add(three);
      await runOperation(stores, 'secrets.rotate', { name: 'search-key', value: three });
      await callsWith(three, 20);
      phase = 'saas-dropped';
      validKeys.delete(two);
      const dropped = keysSeen().length;
      await vi.waitFor(() => expect(keysSeen().length).toBeGreaterThan(dropped + 20), { timeout: 10_000 });
      stop = true;
      await Promise.all(loops);
      expect(failures).toEqual([]);
      expect(answered).toBeGreaterThan(80);
      // the end state: every call on the new key, and the retries of phase 1 were said to the operator
      expect(new Set(keysSeen().slice(dropped + 8))).toEqual(new Set([three]));
      expect(keysSeen().slice(sinceTwo)).toContain(one);
      const told = logs.lines().filter((l) => l.includes('"gateway.upstream_refused_current"'));
      expect(told.length).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(told[0]!)).toMatchObject({ gateway: 'stored', status: 401, level: 40 });
      expect(logs.lines().some((l) => l.includes('"gateway.upstream_refused"') && l.includes('"stored"'))).toBe(false);
    } finally {
      stop = true;
      await Promise.all(loops);
      await alice.close();
      await bob.close();
      validKeys.delete(one);
      validKeys.delete(two);
      validKeys.delete(three);
    }
  });

  it('forwards the stateless transport: no session handed out or made up, each request on its own', async () => {
    const token = await tokenOf('alice', 'stateless');
    const before = received.length;
    const client = await connect(token, 'stateless');
    expect(await client.callTool({ name: 'echo', arguments: { message: 'no session' } })).toMatchObject({
      content: [{ type: 'text', text: 'Stateless echo: no session' }],
    });
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['echo']);
    expect((client.transport as StreamableHTTPClientTransport).sessionId).toBeUndefined();
    await client.close();
    const posts = received.slice(before).filter((r) => r.method === 'POST');
    expect(posts.map((r) => (JSON.parse(r.body) as { method: string }).method)).toEqual([
      'initialize',
      'notifications/initialized',
      'tools/call',
      'tools/list',
    ]);
    for (const r of posts) expect(r.headers['mcp-session-id']).toBeUndefined();
    // MCP 2026-07-28: a request on its own (no initialize before it) routed by Mcp-Method / Mcp-Name (SEP-2243)
    const alone = (name: string, header: string, args: Record<string, unknown>) =>
      undiciRequest(resource('stateless'), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-method': 'tools/call',
          'mcp-name': header,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name, arguments: args } }),
      });
    const sent = received.length;
    const ok = await alone('echo', 'echo', { message: 'alone' });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['mcp-session-id']).toBeUndefined();
    expect(await ok.body.text()).toContain('Stateless echo: alone');
    expect(received.slice(sent).map((r) => [r.headers['mcp-method'], r.headers['mcp-name']])).toEqual([
      ['tools/call', 'echo'],
    ]);
    // the routing headers must say what the body does (the kit's check), and the scope is the tool's
    const lying = await alone('get-sum', 'echo', { a: 1, b: 2 });
    expect(lying.statusCode).toBe(400);
    await lying.body.dump();
    const forbidden = await alone('get-sum', 'get-sum', { a: 1, b: 2 });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.headers['www-authenticate']).toContain('error="insufficient_scope"');
    await forbidden.body.dump();
    expect(received.length).toBe(sent + 1);
  });

  it('an upstream refusing the key is a 502 for the agent and gateway.upstream_refused for the operator', async () => {
    const res = await post('old-key', await tokenOf('alice', 'old-key'), initialize);
    expect(res.statusCode).toBe(502);
    expect(res.headers['www-authenticate']).toBeUndefined();
    expect(await res.body.json()).toEqual({
      jsonrpc: '2.0',
      id: 1,
      error: { code: -32000, message: 'Bad Gateway: the upstream MCP server refused the gateway' },
    });
    const line = logs.lines().find((l) => l.includes('"gateway.upstream_refused"'));
    expect(JSON.parse(line!)).toMatchObject({ gateway: 'old-key', status: 401, level: 50 });
  });

  it('an upstream that cannot be reached is a 502 with a clear JSON-RPC error', async () => {
    const res = await post('down', await tokenOf('alice', 'down'), initialize);
    expect(res.statusCode).toBe(502);
    expect(await res.body.json()).toEqual({
      jsonrpc: '2.0',
      id: 1,
      error: { code: -32000, message: 'Bad Gateway: the upstream MCP server cannot be reached' },
    });
    expect(logs.lines().some((l) => l.includes('"gateway.upstream_unreachable"') && l.includes('ECONNREFUSED'))).toBe(
      true,
    );
  });

  it('an upstream that does not answer within timeout_seconds is a 504', async () => {
    const res = await post('slow', await tokenOf('alice', 'slow'), initialize);
    expect(res.statusCode).toBe(504);
    expect(await res.body.json()).toEqual({
      jsonrpc: '2.0',
      id: 1,
      error: { code: -32000, message: 'Gateway Timeout: the upstream MCP server did not answer in time' },
    });
  });

  it('ends a stream idle for timeout_seconds, after passing on what came', async () => {
    const res = await post('idle', await tokenOf('alice', 'idle'), initialize);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    let text = '';
    const outcome = await new Promise<string>((resolve) => {
      res.body.on('data', (c: Buffer) => (text += c.toString()));
      res.body.once('end', () => resolve('end'));
      res.body.once('error', () => resolve('cut'));
    });
    expect(outcome).toBe('cut');
    expect(text).toContain('notifications/message');
    expect(await logged((l) => l.includes('"gateway.response_cut"') && l.includes('"idle"'))).toBe(true);
  });

  it('cuts an answer at max_response_bytes', async () => {
    const res = await post('huge', await tokenOf('alice', 'huge'), initialize);
    expect(res.statusCode).toBe(200);
    let bytes = 0;
    const outcome = await new Promise<string>((resolve) => {
      res.body.on('data', (c: Buffer) => (bytes += c.length));
      res.body.once('end', () => resolve('end'));
      res.body.once('error', () => resolve('cut'));
    });
    expect(outcome).toBe('cut');
    expect(bytes).toBeLessThanOrEqual(65536);
    expect(bytes).toBeGreaterThan(0);
    expect(await logged((l) => l.includes('"gateway.response_cut"') && l.includes('"size"'))).toBe(true);
  });

  it('hostile requests get a precise 4xx, nothing reaches the upstream, and the gateway keeps serving', async () => {
    const token = await tokenOf('alice');
    const before = received.length;
    const parse = await post('search', token, '{"jsonrpc":"2.0","id":1,');
    expect(parse.statusCode).toBe(400);
    expect(await parse.body.json()).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32700, message: 'Parse error' },
    });
    const put = await undiciRequest(resource('search'), {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}` },
    });
    expect([put.statusCode, put.headers.allow]).toEqual([405, 'GET, POST, DELETE']);
    await put.body.dump();
    // request smuggling and header injection never get past the HTTP parser (RFC 9112 §6.3: Content-Length
    // with Transfer-Encoding; §5: a CR or LF inside a field value, an obs-fold): 400, the connection closed
    const body = JSON.stringify(initialize);
    const head = `POST /search/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n`;
    for (const raw of [
      `${head}Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
      `${head}X-API-Key: a\rX-Injected: 1\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      `${head}Mcp-Session-Id: abc\r\n X-API-Key: folded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ]) {
      const answer = await new Promise<string>((done, fail) => {
        const socket = tcpConnect(ports.gw, '127.0.0.1', () => socket.end(raw));
        let text = '';
        socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
        socket.on('close', () => done(text));
        socket.on('error', fail);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    }
    expect(received.length).toBe(before);
    const after = await post('search', token, initialize);
    expect(after.statusCode).toBe(200);
    await after.body.dump();
  });

  it('refuses a body over max_request_bytes with 413, before asking anything of the upstream', async () => {
    const before = received.length;
    const res = await post('search', await tokenOf('alice'), JSON.stringify({ x: 'y'.repeat(1024 * 1024 + 1) }));
    expect(res.statusCode).toBe(413);
    expect(((await res.body.json()) as { error: { code: number } }).error.code).toBe(-32600);
    expect(received.length).toBe(before);
  });

  it('a credential that cannot be had is a 503 with Retry-After; nothing goes upstream', async () => {
    const before = received.length;
    const res = await post('nokey', await tokenOf('alice', 'nokey'), initialize);
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(await res.body.json()).toEqual({
      jsonrpc: '2.0',
      id: 1,
      error: { code: -32000, message: 'Service Unavailable: the gateway cannot reach its upstream now' },
    });
    expect(received.length).toBe(before);
    const line = logs.lines().find((l) => l.includes('"gateway.credential_unavailable"'));
    expect(JSON.parse(line!)).toMatchObject({ gateway: 'nokey', reason: 'environment variable UNSET is not set' });
  });

  it("goes to the configured upstream URL only: the caller's query and other paths never reach it", async () => {
    const token = await tokenOf('alice');
    const before = received.length;
    const url = `${resource('search')}?api_key=evil&next=../admin`;
    const res = await undiciRequest(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify(initialize),
    });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(received.slice(before).map((r) => r.path)).toEqual(['/mcp']);
    const elsewhere = await undiciRequest(`${resource('search')}/../../admin`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: '{}',
    });
    expect(elsewhere.statusCode).toBe(404);
    await elsewhere.body.dump();
    expect(received.length).toBe(before + 1);
  });

  it("every call is in baton's audit trail: the person, the tool, the outcome, the status and the duration", async () => {
    const token = await tokenOf('alice');
    const client = await connect(token);
    await client.callTool({ name: 'echo', arguments: { message: 'audited' } });
    await client.close();
    await (
      await post('search', token, { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'get-sum' } })
    ).body.dump();
    await (await post('old-key', await tokenOf('alice', 'old-key'), initialize)).body.dump();
    type Row = Awaited<ReturnType<typeof searchEvents>>[number];
    let rows: Row[] = [];
    const found = (r: Row[]) => ({
      echo: r.find(
        (e) => e.event.details?.name === 'echo' && e.event.resource === resource('search') && e.event.jti !== undefined,
      ),
      sum: r.find((e) => e.event.details?.name === 'get-sum' && e.event.outcome === 'refused'),
      refused: r.find((e) => e.event.resource === resource('old-key') && e.event.details?.status === 502),
    });
    for (let i = 0; i < 200 && Object.values(found(rows)).some((v) => !v); i++) {
      await new Promise((ok) => setTimeout(ok, 50));
      rows = await searchEvents(baton.server.storage.db, { type: 'tool.called', limit: 500, newest: true });
    }
    const { echo, sum, refused } = found(rows);
    expect(echo?.event).toMatchObject({
      outcome: 'success',
      idp: { sub: 'alice' },
      client: 'ide-agent',
      resource: resource('search'),
      details: {
        method: 'tools/call',
        name: 'echo',
        status: 200,
        reporter: 'search-gateway',
        duration_ms: expect.any(Number),
      },
    });
    expect(sum?.event).toMatchObject({
      idp: { sub: 'alice' },
      details: { status: 403, reason: 'missing scope search.admin' },
    });
    expect(refused?.event).toMatchObject({
      outcome: 'success',
      idp: { sub: 'alice' },
      details: { method: 'initialize', status: 502, reason: 'upstream_refused 401', duration_ms: expect.any(Number) },
    });
  });

  it('never writes the upstream key or a caller token to the log', () => {
    const all = logs.lines().join('\n');
    expect(all).not.toContain(KEY);
    expect(all).not.toContain(WRONG_KEY);
    expect(all).not.toContain(NEW_KEY);
    expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\./);
  });
});
