/**
 * Per-user credential brokering at the gateway (issue #20) with real parts: baton on PostgreSQL, a real
 * upstream authorization server nobody here wrote (Glewlwyd, server/test/upstream/upstream-as.ts: RFC 8707
 * resources, 3-second access tokens, one-use refresh tokens, RFC 7009), the third-party MCP server
 * server-everything behind its own token check (token-front.ts), the gateway in this process, and the MCP
 * SDK client as the agent, for Alice and for Bob. The agent only ever holds a baton token.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import request from 'supertest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { credentialSource, startGateway, type RunningGateway } from '../src/gateway/index.ts';
import { broker, brokering, GrantStore } from '../src/brokering/index.ts';
import { resolveKek } from '../src/keys/kek.ts';
import { localIssuer } from '../src/idp/registry.ts';
import { searchEvents } from '../src/audit/store.ts';
import { sharedAuditWriter } from '../src/audit/writer.ts';
import { freePort, memoryLogger, startTestServer, staticService, type TestServer } from './helpers.ts';
import { followRedirects, postLocalSignIn } from './pages.ts';
import { codeForm, seedCode } from './seed.ts';
import { startEverything } from './everything.ts';
import { startUpstreamAs, type UpstreamAs } from './upstream/upstream-as.ts';
import { fingerprint, startTokenFront, type TokenFront } from './upstream/token-front.ts';

const GATEWAY_SECRET = 'tickets-gateway-secret-0123456789abcdef';
let baton: TestServer;
let upstream: UpstreamAs;
let front: TokenFront;
let everything: ChildProcess;
let gateway: RunningGateway;
let grants: GrantStore;
const logs = memoryLogger();
const ports = { as: 0, gw: 0, front: 0, everything: 0 };
const resource = () => `http://127.0.0.1:${ports.gw}/tickets/mcp`;
/** every upstream token baton held during the test: none may be in a log or an answer to the agent */
const upstreamTokens = new Set<string>();
/** what the agent received from the gateway, every answer body */
const answers: string[] = [];
/** the people's subjects at the upstream, as its token check saw them */
const upstreamSubs: { alice?: string } = {};

beforeAll(async () => {
  for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort();
  const frontUrl = `http://127.0.0.1:${ports.front}/mcp`;
  upstream = await startUpstreamAs({
    redirectUri: `http://127.0.0.1:${ports.as}/connect/callback`,
    resource: frontUrl,
    accessTokenSeconds: 3,
    refreshTokenOneUse: 'always',
  });
  everything = await startEverything(ports.everything);
  front = await startTokenFront({
    issuer: upstream.issuer,
    jwksUri: upstream.jwksUri,
    scope: upstream.scope,
    audience: frontUrl,
    upstream: `http://127.0.0.1:${ports.everything}/mcp`,
    port: ports.front,
  });
  process.env.TICKETS_CLIENT_SECRET = upstream.clientSecret;
  baton = await startTestServer({
    port: ports.as,
    backend: 'postgres',
    logs,
    config: (base) => ({
      resources: [
        ...base.resources,
        { uri: resource(), name: 'Tickets (brokered)', scopes: ['tickets.use'], client_id: 'tickets-gateway' },
      ],
      clients: { static: [...base.clients.static, staticService('tickets-gateway', GATEWAY_SECRET, [], 'mcp_server')] },
      roles: { ...base.roles, ticketer: ['tickets.use'] },
      role_bindings: { local: { developers: ['developer', 'ticketer'], oncall: ['sre', 'ticketer'] } },
      gateway: {
        listen: { host: '127.0.0.1', port: ports.gw },
        client_id: 'tickets-gateway',
        client_secret: GATEWAY_SECRET,
      },
      gateways: [
        {
          id: 'tickets',
          resource: resource(),
          upstream: frontUrl,
          oauth: {
            issuer: upstream.issuer,
            client_id: upstream.clientId,
            client_secret: { env: 'TICKETS_CLIENT_SECRET' },
            client_auth: 'client_secret_post',
            scopes: [upstream.scope],
          },
          scopes: { 'tools/call:echo': 'tickets.use' },
        },
      ],
    }),
  });
  const db = baton.server.storage.db;
  const kek = resolveKek(baton.config);
  grants = new GrantStore(db, kek);
  const parts = brokering(baton.config, db, kek)!;
  const audit = sharedAuditWriter(db);
  gateway = await startGateway(baton.config, {
    credential: credentialSource(baton.config.gateways),
    log: logs.log,
    broker: broker({
      issuer: baton.config.issuer,
      grants: parts.grants,
      auth: parts.upstream,
      tickets: parts.tickets,
      audit: (e) => void audit.write({ audit: [e] }),
    }),
  });
}, 90_000);

afterAll(async () => {
  await gateway?.close(0);
  await front?.close();
  everything?.kill();
  await upstream?.stop();
  await baton?.close();
});

/** A person's baton token for the gateway's resource (what the agent holds: nothing else). */
async function batonToken(who: 'alice' | 'bob'): Promise<string> {
  const account = await baton.server.accounts.recordLogin({
    idpId: 'local',
    idpIssuer: localIssuer('local'),
    idpSubject: who,
    profile: { email: `${who}@example.com` },
    groups: [who === 'alice' ? 'developers' : 'oncall'],
    roles: [who === 'alice' ? 'developer' : 'sre', 'ticketer'],
  });
  const seed = await seedCode(baton.server.provider(), account.id, resource(), ['tickets.use']);
  const res = await request(baton.url).post('/token').type('form').send(codeForm(seed)).expect(200);
  return res.body.access_token as string;
}

/** The agent: the real MCP SDK client with the baton token; it records every answer it gets. */
function agent(token: string): Client & { open(): Promise<void> } {
  const client = new Client({ name: 'brokering-test', version: '1.0.0' });
  const recording: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    answers.push(JSON.stringify([...res.headers]), await res.clone().text());
    return res;
  };
  return Object.assign(client, {
    open: () =>
      client.connect(
        new StreamableHTTPClientTransport(new URL(resource()), {
          requestInit: { headers: { Authorization: `Bearer ${token}` } },
          fetch: recording,
        }),
      ),
  });
}

/** The connect link of a call refused for want of a connected account (MCP URL elicitation, -32042). */
async function connectLink(token: string): Promise<string> {
  const client = agent(token);
  const err = await client.open().then(
    () => undefined,
    (e: unknown) => e,
  );
  await client.close();
  expect(err).toBeInstanceOf(McpError);
  const { code, data } = err as McpError;
  expect(code).toBe(-32042);
  const [elicitation] = (data as { elicitations: { mode: string; url: string; elicitationId: string }[] }).elicitations;
  expect(elicitation).toMatchObject({ mode: 'url', elicitationId: 'connect-tickets' });
  expect(elicitation!.url).toMatch(new RegExp(`^${baton.url}/connect/tickets\\?ticket=[\\w-]+\\.[\\w-]{43}$`));
  return elicitation!.url;
}

/** The person opens the link in a browser: signs in at baton as `who`, then at the upstream; the last page. */
async function connectAs(link: string, who: 'alice' | 'bob') {
  const browser = request.agent(baton.url);
  const first = await followRedirects(browser, link, () => false, 12);
  const html = first.page!.text;
  expect(html).toContain('Sign in to Example Corp');
  const signedIn = await postLocalSignIn(browser, html, who);
  const atUpstream = await followRedirects(browser, signedIn, (l) => l.startsWith(upstream.issuer), 12);
  if (!atUpstream.stoppedAt) return atUpstream.page!;
  const authorization = new URL(atUpstream.stoppedAt);
  expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
  expect(authorization.searchParams.get('resource')).toBe(`http://127.0.0.1:${ports.front}/mcp`);
  const back = await upstream.login(atUpstream.stoppedAt, who, `${who}-password`);
  const { page } = await followRedirects(browser, back, () => false, 4);
  return page!;
}

async function remember(account: string) {
  const g = await grants.get(account, 'tickets');
  if (g?.accessToken) upstreamTokens.add(g.accessToken);
  if (g?.refreshToken) upstreamTokens.add(g.refreshToken);
  return g;
}

const accountOf = async (who: string) =>
  (await baton.server.storage.db('accounts').where({ idp_id: 'local', idp_subject: who }).first<{ id: string }>('id'))
    .id;

describe('per-user credential brokering (issue #20)', () => {
  it('first use: the agent is told to connect; Alice connects; her calls then carry her own upstream token', async () => {
    const token = await batonToken('alice');
    const link = await connectLink(token);
    const page = await connectAs(link, 'alice');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Your tickets account is connected.');
    const alice = await accountOf('alice');
    const grant = await remember(alice);
    expect(grant).toMatchObject({ account: alice, gateway: 'tickets', scope: upstream.scope });
    // sealed at rest: the row holds JWEs, not the tokens
    const row = await baton.server.storage
      .db('upstream_grants')
      .where({ account_id: alice })
      .first<{ refresh_jwe: string }>();
    expect(JSON.stringify(row)).not.toContain(grant!.refreshToken);
    expect(row.refresh_jwe.split('.')).toHaveLength(5);

    const before = front.records.length;
    const client = agent(token);
    await client.open();
    expect(await client.callTool({ name: 'echo', arguments: { message: 'brokered' } })).toMatchObject({
      content: [{ type: 'text', text: 'Echo: brokered' }],
    });
    await client.close();
    const seen = front.records.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    // one person at the upstream (Glewlwyd's public subject for alice), with the token baton holds for her
    expect(new Set(seen.map((r) => r.sub)).size).toBe(1);
    upstreamSubs.alice = seen[0]!.sub!;
    // the last call went with the access token baton holds for her now (it renews it every 3 s)
    const now = await remember(alice);
    expect(seen.at(-1)!.fingerprint).toBe(fingerprint(now!.accessToken!));
    expect(seen.map((r) => r.fingerprint)).not.toContain(fingerprint(token));
    const connected = await searchEvents(baton.server.storage.db, { type: 'upstream.connected', limit: 10 });
    expect(connected.map((e) => [e.account_id, e.event.details?.gateway])).toContainEqual([alice, 'tickets']);
  });

  it("Bob connects his own account: his calls carry his token, not Alice's", async () => {
    const token = await batonToken('bob');
    expect(await connectAs(await connectLink(token), 'bob')).toMatchObject({ status: 200 });
    const before = front.records.length;
    const client = agent(token);
    await client.open();
    await client.callTool({ name: 'echo', arguments: { message: 'bob here' } });
    await client.close();
    const subs = new Set(front.records.slice(before).map((r) => r.sub));
    expect(subs.size).toBe(1);
    expect([...subs][0]).not.toBe(upstreamSubs.alice);
    const [a, b] = [await remember(await accountOf('alice')), await remember(await accountOf('bob'))];
    expect(a!.refreshToken).not.toBe(b!.refreshToken);
  });

  it('a link opened by another person connects nothing: signed in as Bob, Alice’s link is refused', async () => {
    await grants.remove(await accountOf('alice'), 'tickets');
    // the gateway may use the access token it holds until it is half spent (1.5 s here): then it asks again
    const token = await batonToken('alice');
    let link = '';
    await vi.waitFor(async () => (link = await connectLink(token)), { timeout: 10_000, interval: 300 });
    const page = await connectAs(link, 'bob');
    expect(page.status).toBe(403);
    expect(page.text).toContain('This link is not yours');
    expect(await grants.get(await accountOf('alice'), 'tickets')).toBeUndefined();
    // Alice herself then connects with a fresh link
    expect(await connectAs(await connectLink(await batonToken('alice')), 'alice')).toMatchObject({ status: 200 });
    await remember(await accountOf('alice'));
  });

  it('expiry and refresh: calls go on past the 3-second access token, refreshed under the lock, rotated', async () => {
    const token = await batonToken('alice');
    const alice = await accountOf('alice');
    const first = await remember(alice);
    const client = agent(token);
    await client.open();
    await vi.waitFor(
      async () => {
        await client.callTool({ name: 'echo', arguments: { message: 'keep going' } });
        const now = await remember(alice);
        expect(now!.accessToken).not.toBe(first!.accessToken);
        expect(now!.refreshToken).not.toBe(first!.refreshToken); // one-use refresh tokens: rotated
      },
      { timeout: 15_000, interval: 300 },
    );
    await client.close();
    const refreshed = await searchEvents(baton.server.storage.db, { type: 'upstream.refreshed', limit: 50 });
    expect(refreshed.some((e) => e.account_id === alice)).toBe(true);
  });

  it('a grant revoked at the upstream: the refresh is refused, the grant removed, and the agent asked to connect again', async () => {
    const alice = await accountOf('alice');
    const token = await batonToken('alice');
    await vi.waitFor(
      async () => {
        // the refresh token baton holds now, revoked by RFC 7009 at the upstream (a refresh by a call still
        // in flight may have just replaced it: then the next round revokes that one)
        const grant = await remember(alice);
        if (grant?.refreshToken) expect((await upstream.revoke(grant.refreshToken, 'refresh_token')).status).toBe(200);
        const client = agent(token);
        const err = await client.open().then(
          async () =>
            client.callTool({ name: 'echo', arguments: { message: 'after revocation' } }).then(() => undefined),
          (e: unknown) => e,
        );
        await client.close();
        expect((err as McpError | undefined)?.code).toBe(-32042);
      },
      { timeout: 20_000, interval: 500 },
    );
    expect(await grants.get(alice, 'tickets')).toBeUndefined();
    const gone = await searchEvents(baton.server.storage.db, { type: 'upstream.disconnected', limit: 10 });
    expect(gone.map((e) => [e.account_id, e.event.reason])).toContainEqual([alice, 'refresh_refused']);
  });

  it('never an upstream token in a log line or in any answer to the agent', () => {
    expect(upstreamTokens.size).toBeGreaterThanOrEqual(6);
    const all = [...logs.lines(), ...answers].join('\n');
    for (const t of upstreamTokens) expect(all).not.toContain(t);
  });

  it('the upstream authorization server down: 503 with Retry-After when a refresh is due, the grant kept', async () => {
    const bob = await accountOf('bob');
    await upstream.stop();
    const token = await batonToken('bob');
    await vi.waitFor(
      async () => {
        const res = await fetch(resource(), {
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 1,
            method: 'initialize',
            params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
          }),
        });
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('5');
        expect(await res.json()).toEqual({
          jsonrpc: '2.0',
          id: 1,
          error: {
            code: -32000,
            message: "Service Unavailable: the upstream's authorization server cannot be reached now",
          },
        });
      },
      { timeout: 15_000, interval: 500 },
    );
    expect(await grants.get(bob, 'tickets')).toBeDefined();
  });
});
