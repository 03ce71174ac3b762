/**
 * Faults: PostgreSQL or Redis goes down under a running server, then comes back. While down, /readyz is
 * 503 and token requests that need the store answer 503 `server_error` (never a 4xx that blames the
 * client, never a crash); nothing is half-written; the server recovers by itself. Uses its own
 * throwaway Redis and PostgreSQL servers, since it stops them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/main.ts';
import { makeConfig, memoryLogger, SERVICE_SECRET } from './helpers.ts';
import { codeForm, LOGS, seedAccount, seedCode } from './seed.ts';

const SCRIPT = resolve(import.meta.dirname, '../../scripts/services.sh');
const dir = mkdtempSync(join(tmpdir(), 'baton-outage-'));
const env = { ...process.env, SERVICES_DIR: dir, REDIS_PORT: '6397', PG_PORT: '5447' };
const services = (...args: string[]) => execFileSync('bash', [SCRIPT, ...args], { env, encoding: 'utf8' });

let server: RunningServer;
const logs = memoryLogger();

beforeAll(async () => {
  const urls = Object.fromEntries(
    services('start')
      .trim()
      .split('\n')
      .map((l) => l.split(/=(.*)/s).slice(0, 2)),
  ) as { REDIS_URL: string; DATABASE_URL: string };
  server = await startServer(
    makeConfig({
      storage: { postgres: urls.DATABASE_URL, redis: urls.REDIS_URL },
      metrics: { enabled: true, port: 0 },
    }),
    logs.log,
  );
}, 120_000);
afterAll(async () => {
  await server?.close();
  services('stop');
  rmSync(dir, { recursive: true, force: true });
});

async function untilReady(): Promise<void> {
  const end = Date.now() + 20_000;
  while (Date.now() < end) {
    if ((await request(server.url).get('/readyz')).status === 200) return;
    await sleep(200);
  }
  throw new Error('not ready after 20 s');
}

const clientCredentials = () =>
  request(server.url)
    .post('/token')
    .auth('cost-reporter', SERVICE_SECRET)
    .type('form')
    .send({ grant_type: 'client_credentials', resource: 'https://cost.internal.example.com' });

describe('Redis down, then back', () => {
  it('answers 503, writes nothing, and recovers', async () => {
    const account = await seedAccount(server.accounts);
    const seed = await seedCode(server.provider(), account);
    services('stop', 'redis');

    const ready = await request(server.url).get('/readyz').expect(503);
    expect(ready.body).toEqual({ status: 'unavailable', checks: { postgres: true, redis: false, migrations: true } });
    expect(ready.headers['retry-after']).toBe('5');

    const res = await request(server.url).post('/token').type('form').send(codeForm(seed)).expect(503);
    expect(res.body).toEqual({ error: 'server_error', error_description: 'oops! something went wrong' });
    expect(res.headers['retry-after']).toBe('5');
    // the grant behind the code is untouched (PostgreSQL is up): nothing was revoked or half-issued
    expect(await server.provider().Grant.find(seed.grantId)).toBeDefined();
    // what needs no store keeps working: static client + JWT access token
    await clientCredentials().expect(200);
    // the registration limit counts in Redis: without it, registration is 503, never unlimited
    const registration = await request(server.url)
      .post('/reg')
      .send({ redirect_uris: ['http://127.0.0.1:9468/cb'], token_endpoint_auth_method: 'none' })
      .expect(503);
    expect(registration.body).toEqual({
      error: 'server_error',
      error_description: 'the server could not complete the request',
    });
    expect(registration.headers['retry-after']).toBe('5');
    // the operator sees why, without secrets
    const lines = logs.lines().join('\n');
    const failure = logs
      .lines()
      .map((l) => JSON.parse(l) as { msg: string; err?: { model?: string; op?: string; cause?: string } })
      .find((l) => l.msg === 'server_error');
    expect(failure?.err).toMatchObject({ model: 'AuthorizationCode', op: 'find' });
    expect(lines).not.toContain(seed.code);
    // and so does monitoring
    const metrics = await (await fetch(server.metricsUrl!)).text();
    expect(metrics).toMatch(/^baton_store_errors_total\{model="AuthorizationCode",op="find"\} [1-9]/m);

    services('start', 'redis');
    await untilReady();
    const again = await seedCode(server.provider(), account);
    await request(server.url).post('/token').type('form').send(codeForm(again)).expect(200);
  });
});

describe('PostgreSQL down, then back', () => {
  it('answers 503, consumes nothing, and recovers', async () => {
    const account = await seedAccount(server.accounts);
    const seed = await seedCode(server.provider(), account);
    const tokens = await request(server.url).post('/token').type('form').send(codeForm(seed)).expect(200);
    const refresh = {
      grant_type: 'refresh_token',
      refresh_token: tokens.body.refresh_token,
      client_id: 'ide-agent',
      resource: LOGS,
    };
    services('stop', 'postgres');

    const ready = await request(server.url).get('/readyz').expect(503);
    expect(ready.body.checks).toMatchObject({ postgres: false, redis: true, migrations: false });
    const res = await request(server.url).post('/token').type('form').send(refresh).expect(503);
    expect(res.body.error).toBe('server_error');

    services('start', 'postgres');
    await untilReady();
    // the refresh token was not consumed during the outage: it rotates exactly once now
    const rotated = await request(server.url).post('/token').type('form').send(refresh).expect(200);
    expect(rotated.body.refresh_token).not.toBe(tokens.body.refresh_token);
    await request(server.url).post('/token').type('form').send(refresh).expect(400);
  });
});
