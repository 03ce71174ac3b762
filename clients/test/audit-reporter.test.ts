/**
 * The kit's audit reporter against a real baton (PostgreSQL + Redis): batching, an outage and restart of
 * baton (the buffer keeps the events until it is back), the buffer's bound (drops counted and recorded as
 * `audit.dropped`), `report` never throwing while baton is down, token renewal on a 401 (the token revoked),
 * and an MCP server protected by the kit reporting its calls, tied to the user's token.
 */
import { createServer, type Server } from 'node:http';
import { decodeJwt } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../../server/src/audit/store.ts';
import type { Config } from '../../server/src/config/schema.ts';
import { startServer, type RunningServer } from '../../server/src/main.ts';
import {
  freePort,
  freshDatabase,
  makeConfig,
  memoryLogger,
  redisPrefix,
  requireEnv,
  RESOURCES,
  SERVICE_SECRET,
} from '../../server/test/helpers.ts';
import { codeForm, seedAccount, seedCode } from '../../server/test/seed.ts';
import { createAuditReporter, createMcpAuth, withMcpAuth, type ReportedCall } from '../src/index.ts';

/** ports nothing else listens on (the test restarts baton on its port, so they are fixed for the file) */
const PORT = await freePort();
const ISSUER = `http://127.0.0.1:${PORT}`;
const MCP_PORT = await freePort();
const MCP = `http://127.0.0.1:${MCP_PORT}/mcp`;
const SECRET = 'reporter-logs-mcp-secret-0123456789abcdef';

let config: Config;
let baton: RunningServer;
let drop: () => Promise<void>;
let userJti: string;
let userToken: string;
let account: string;

beforeAll(async () => {
  const db = await freshDatabase();
  drop = db.drop;
  config = makeConfig({
    issuer: ISSUER,
    listen: { host: '127.0.0.1', port: PORT },
    storage: { postgres: db.url, redis: requireEnv('TEST_REDIS_URL'), redis_key_prefix: redisPrefix() },
    resources: [{ ...RESOURCES[0], uri: MCP, client_id: 'logs-mcp' }, RESOURCES[1]],
    clients: {
      static: [
        ...makeConfig().clients.static,
        { client_id: 'logs-mcp', kind: 'mcp_server', client_secret: SECRET, grant_types: ['client_credentials'] },
      ],
    },
  });
  baton = await startServer(config, memoryLogger().log);
  account = await seedAccount(baton.accounts);
  const seed = await seedCode(baton.provider(), account, MCP);
  const res = await request(ISSUER).post('/token').type('form').send(codeForm(seed)).expect(200);
  userToken = res.body.access_token as string;
  userJti = String(decodeJwt(userToken).jti);
}, 60_000);
afterAll(async () => {
  await baton?.close();
  await drop?.();
});

/** a fetch that counts the requests to each path */
function countingFetch() {
  const calls: string[] = [];
  const wrapped: typeof fetch = (input, init) => {
    calls.push(new URL(input instanceof Request ? input.url : String(input)).pathname);
    return fetch(input, init);
  };
  return { fetch: wrapped, count: (path: string) => calls.filter((c) => c === path).length };
}

const reporterWith = (extra: Partial<Parameters<typeof createAuditReporter>[0]> = {}) =>
  createAuditReporter({
    issuer: ISSUER,
    clientId: 'logs-mcp',
    clientSecret: SECRET,
    flushIntervalMs: 60_000,
    ...extra,
  });

let n = 0;
/** a call with a name no other test uses, to find its rows */
const call = (tag: string, over: Partial<ReportedCall> = {}): ReportedCall => ({
  kind: 'tool_call',
  method: 'tools/call',
  name: `${tag}-${n++}`,
  outcome: 'allowed',
  status: 200,
  at: new Date().toISOString(),
  ...over,
});

async function rowsNamed(prefix: string) {
  const rows = await searchEvents(baton.storage.db, { type: 'tool.called', limit: 10_000 });
  return rows.filter((r) => String(r.event.details?.name).startsWith(`${prefix}-`));
}

/** polls until `check` holds (no fixed sleeps), failing after 20 s */
async function until<T>(read: () => Promise<T>, check: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await read();
    if (check(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met; last value ${JSON.stringify(v)}`);
    await new Promise((ok) => setTimeout(ok, 25));
  }
}

describe('the audit reporter', () => {
  it('batches: 250 reports are 3 requests (batchSize 100), all stored with the person from the token', async () => {
    const counted = countingFetch();
    const reporter = reporterWith({ fetch: counted.fetch });
    for (let i = 0; i < 250; i++) reporter.report(call('batch', { jti: userJti }));
    await reporter.flush();
    expect(counted.count('/audit/events')).toBe(3);
    expect(counted.count('/token')).toBe(1);
    expect(reporter.stats()).toEqual({ sent: 250, dropped: 0, buffered: 0, retries: 0 });
    const rows = await rowsNamed('batch');
    expect(rows).toHaveLength(250);
    expect(new Set(rows.map((r) => r.account_id))).toEqual(new Set([account]));
    await reporter.close();
  });

  it('sends on its own when a batch is full, without flush()', async () => {
    const reporter = reporterWith({ batchSize: 10 });
    for (let i = 0; i < 10; i++) reporter.report(call('full'));
    await until(
      () => rowsNamed('full'),
      (r) => r.length === 10,
    );
    await reporter.close();
  });

  it('under a steady stream, only full batches go between flushes; the rest waits for the next flush', async () => {
    const sizes: number[] = [];
    const sizing: typeof fetch = async (input, init) => {
      if ((input instanceof Request ? input.url : input.toString()).endsWith('/audit/events'))
        sizes.push((JSON.parse(init?.body as string) as { events: unknown[] }).events.length);
      return fetch(input, init);
    };
    const reporter = reporterWith({ batchSize: 10, fetch: sizing });
    // reports keep coming while each send is in flight: what arrives meanwhile is not sent as a small batch
    for (let i = 0; i < 35; i++) {
      reporter.report(call('steady'));
      await new Promise((ok) => setImmediate(ok));
    }
    await until(
      () => rowsNamed('steady'),
      (r) => r.length === 30,
    );
    expect(sizes).toEqual([10, 10, 10]);
    expect(reporter.stats().buffered).toBe(5);
    await reporter.flush();
    expect(sizes).toEqual([10, 10, 10, 5]);
    expect(await rowsNamed('steady')).toHaveLength(35);
    await reporter.close();
  });

  it('bounds its buffer: the oldest are dropped, counted, and recorded by baton as audit.dropped', async () => {
    const reporter = reporterWith({ maxBuffer: 5 });
    for (let i = 0; i < 12; i++) reporter.report(call('bound'));
    expect(reporter.stats()).toMatchObject({ dropped: 7, buffered: 5 });
    await reporter.flush();
    expect((await rowsNamed('bound')).map((r) => r.event.details?.name)).toEqual(
      Array.from({ length: 5 }, (_, i) => `bound-${n - 5 + i}`),
    );
    const dropped = await searchEvents(baton.storage.db, { type: 'audit.dropped', limit: 100 });
    expect(dropped.map((r) => r.event.details)).toContainEqual({ count: 7, reporter: 'logs-mcp' });
    await reporter.close();
  });

  it('renews its token on a 401 (the token revoked) and sends the batch once more', async () => {
    const counted = countingFetch();
    let issued: string | undefined;
    const reporter = reporterWith({
      fetch: async (input, init) => {
        const res = await counted.fetch(input, init);
        if (new URL(input instanceof Request ? input.url : String(input)).pathname === '/token' && !issued)
          issued = ((await res.clone().json()) as { access_token: string }).access_token;
        return res;
      },
    });
    reporter.report(call('renew'));
    await reporter.flush();
    // RFC 7009: the client revokes its own audit token; baton refuses it from then on (401 invalid_token)
    await request(ISSUER)
      .post('/token/revocation')
      .auth('logs-mcp', SECRET)
      .type('form')
      .send({ token: issued })
      .expect(200);
    await request(ISSUER)
      .post('/audit/events')
      .set('Authorization', `Bearer ${issued}`)
      .send({ events: [] })
      .expect(401);
    reporter.report(call('renew'));
    await reporter.flush();
    expect(counted.count('/token')).toBe(2);
    expect(reporter.stats()).toMatchObject({ sent: 2, dropped: 0, buffered: 0, retries: 0 });
    expect(await rowsNamed('renew')).toHaveLength(2);
    await reporter.close();
  });

  it('an event baton refuses is dropped and counted; the rest of the batch is stored', async () => {
    const reporter = reporterWith();
    reporter.report(call('partial'));
    reporter.report(call('partial', { jti: 'never-issued' }));
    reporter.report(call('partial'));
    await reporter.flush();
    expect(reporter.stats()).toMatchObject({ sent: 2, dropped: 1, buffered: 0 });
    expect(await rowsNamed('partial')).toHaveLength(2);
    await reporter.close();
  });

  it('baton down: report never throws, events stay buffered, and arrive once baton is back', async () => {
    const errors: Error[] = [];
    const reporter = reporterWith({ flushIntervalMs: 50, maxBackoffMs: 200, onError: (e) => errors.push(e) });
    reporter.report(call('outage')); // gets its token while baton is up
    await reporter.flush();
    await baton.close();
    try {
      for (let i = 0; i < 20; i++) expect(() => reporter.report(call('outage', { jti: userJti }))).not.toThrow();
      await reporter.flush(); // resolves, never rejects: the events stay
      expect(reporter.stats().buffered).toBe(20);
      await until(
        async () => reporter.stats().retries,
        (r) => r >= 2,
      );
    } finally {
      baton = await startServer(config, memoryLogger().log);
    }
    await until(
      () => rowsNamed('outage'),
      (r) => r.length === 21,
    );
    // the rows are committed before baton's 202 reaches the reporter: its count follows
    await until(
      async () => reporter.stats(),
      (s) => s.sent === 21,
    );
    expect(reporter.stats()).toMatchObject({ sent: 21, dropped: 0, buffered: 0 });
    expect(errors.length).toBeGreaterThan(0);
    await reporter.close();
  });

  it('a client that serves no resource: its token is refused, report never throws, and it says why', async () => {
    const errors: Error[] = [];
    const reporter = createAuditReporter({
      issuer: ISSUER,
      clientId: 'cost-reporter',
      clientSecret: SERVICE_SECRET,
      flushIntervalMs: 60_000,
      onError: (e) => errors.push(e),
    });
    expect(() => reporter.report(call('unserved'))).not.toThrow();
    await reporter.flush();
    expect(reporter.stats()).toMatchObject({ sent: 0, buffered: 1, retries: 1 });
    expect(errors.map((e) => e.message)).toEqual(['audit token: HTTP 400 invalid_target']);
    await reporter.close();
  });

  it('close() gives up within its bound when baton cannot be reached, counting what is lost', async () => {
    const reporter = createAuditReporter({
      issuer: 'http://127.0.0.1:9', // nothing listens there
      clientId: 'logs-mcp',
      clientSecret: SECRET,
      closeTimeoutMs: 300,
      maxBackoffMs: 50,
    });
    for (let i = 0; i < 3; i++) reporter.report(call('nowhere'));
    await reporter.flush();
    expect(reporter.stats()).toMatchObject({ sent: 0, buffered: 3 });
    await reporter.close();
    expect(reporter.stats()).toMatchObject({ sent: 0, dropped: 3, buffered: 0 });
    reporter.report(call('nowhere'));
    expect(reporter.stats().dropped).toBe(4);
  });
});

describe('an MCP server protected by the kit reports its calls', () => {
  let mcp: Server;
  const reporter = createAuditReporter({
    issuer: ISSUER,
    clientId: 'logs-mcp',
    clientSecret: SECRET,
    flushIntervalMs: 60_000,
  });
  const seen: unknown[] = [];
  beforeAll(async () => {
    const kit = createMcpAuth({
      issuer: ISSUER,
      resource: MCP,
      scopes: { 'tools/call:read_logs': 'logs.read', 'tools/call:trigger_incident': 'incidents.trigger' },
      audit: (e) => seen.push(e),
      reporter,
    });
    mcp = createServer(
      withMcpAuth(
        kit,
        '/mcp',
        (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{}'),
      ),
    );
    await new Promise<void>((ok) => mcp.listen(MCP_PORT, '127.0.0.1', ok));
  });
  afterAll(async () => {
    await reporter.close();
    await new Promise((ok) => mcp.close(ok));
  });

  const callTool = (name: string, token?: string) =>
    fetch(MCP, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: { q: 1 } } }),
    });

  it('allowed, refused for scope and refused without a token: in the trail, tied to the user and the jti', async () => {
    expect((await callTool('read_logs', userToken)).status).toBe(200);
    expect((await callTool('trigger_incident', userToken)).status).toBe(403);
    expect((await callTool('read_logs')).status).toBe(401);
    expect(seen).toHaveLength(3); // the user's own callback still gets every event
    await reporter.flush();
    const rows = (await searchEvents(baton.storage.db, { type: 'tool.called', resource: MCP, limit: 10_000 })).filter(
      (r) =>
        r.event.details?.reporter === 'logs-mcp' &&
        r.event.details?.method === 'tools/call' &&
        !String(r.event.details?.name).includes('-'),
    );
    expect(rows.map((r) => [r.event.details?.name, r.outcome, r.event.details?.status, r.jti, r.account_id])).toEqual([
      ['read_logs', 'success', 200, userJti, account],
      ['trigger_incident', 'refused', 403, userJti, account],
      ['read_logs', 'refused', 401, null, null],
    ]);
    expect(rows[0]!.event).toMatchObject({ client: 'ide-agent', idp: { sub: 'alice' } });
    expect(rows[0]!.event.details?.arguments_sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});
