/**
 * A policy reload asked of one process reaches every process (issue #15): `POST /admin/api/policy/reload`
 * (scope admin.write) and `baton policy reload`. Three servers on one PostgreSQL: A (in this process, started
 * with the config file), B (`baton start` on the same file) and the seeder T (in this process, started without
 * a file). The process asked re-reads its file (an invalid one is a 400 naming the problem, and nothing
 * moves); every other one follows the reload generation (policy_generation) and re-reads its own; T, with no
 * file, refuses and keeps its policy. A server started later adopts the generation without a reload.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../src/config/load.ts';
import type { Config } from '../src/config/schema.ts';
import { startServer, type RunningServer } from '../src/main.ts';
import { policySha256 } from '../src/policy/audit.ts';
import {
  clientCredentialsRequest,
  memoryLogger,
  SERVICE_SECRET,
  startTestServer,
  type MemoryLogger,
  type TestServer,
  staticService,
} from './helpers.ts';
import { runCli, startServerProcess, writeConfig, type ServerProcess } from './processes.ts';
import { tempDir } from './temp.ts';

const ISSUER = 'http://127.0.0.1:9400';
const ADMIN = `${ISSUER}/admin/api`;
const SECRET = 'policy-reload-secret-0123456789abcdefghij';
const BILLING = 'https://billing.internal.example.com';

let t: TestServer;
/** A's file, and B's own copy (the processes' files must say the same: this one is made not to, once) */
let file: string;
let fileB: string;
let config: Config;
let a: RunningServer;
let aLogs: MemoryLogger;
let b: ServerProcess;

const client = (client_id: string, scopes: string[]) => staticService(client_id, SECRET, scopes);

beforeAll(async () => {
  t = await startTestServer({
    backend: 'postgres',
    config: (base) => ({
      clients: {
        static: [
          ...base.clients.static,
          client('reload-reader', ['admin.read']),
          client('reload-writer', ['admin.write']),
        ],
      },
    }),
  });
  file = writeConfig({ ...t.config, logging: { level: 'info' } });
  fileB = writeConfig({ ...t.config, logging: { level: 'info' } });
  config = loadConfigFile(file);
  aLogs = memoryLogger();
  a = await startServer(config, aLogs.log, { configFile: file });
  b = await startServerProcess(fileB);
}, 60_000);
afterAll(async () => {
  await Promise.all([b?.stop(), a?.close()]);
  await t?.close();
});

const adminToken = async (url: string, c: string) =>
  (await clientCredentialsRequest(url, c, SECRET, ADMIN).expect(200)).body.access_token as string;
const reload = (url: string, token?: string) => {
  const req = request(url).post('/admin/api/policy/reload');
  return token === undefined ? req : req.set('Authorization', `Bearer ${token}`);
};
/** the sha256 of the policy a server has in force, as it answers GET /admin/api/policy */
const shaOn = async (url: string) =>
  (
    await request(url)
      .get('/admin/api/policy')
      .set('Authorization', `Bearer ${await adminToken(url, 'reload-reader')}`)
  ).body.sha256 as string;
const billingToken = (url: string) => clientCredentialsRequest(url, 'cost-reporter', SERVICE_SECRET, BILLING);
const generation = async () =>
  Number((await t.server.storage.db('policy_generation').where({ id: 1 }).first()).generation);
const recorded = async (operation: string) =>
  t.server.storage
    .db('audit_events')
    .where({ type: 'admin.operation' })
    .whereRaw(`event->'details'->>'operation' = ?`, [operation])
    .orderBy('seq', 'desc')
    .first<{ outcome: string; client_id: string; event: { reason?: string; details: Record<string, unknown> } }>(
      'outcome',
      'client_id',
      'event',
    );
/** the policy.reloaded records of one generation (one per process that applied it) */
const reloadedRecords = (g: number) =>
  t.server.storage
    .db('audit_events')
    .where({ type: 'policy.reloaded' })
    .whereRaw(`event->'details'->>'generation' = ?`, [String(g)])
    .select<{ event: { details: { sha256: string } } }[]>('event');

/** the scenario with a billing resource, an auditor role and cost-reporter allowed billing.read */
function withBilling(c: Config): Record<string, unknown> {
  return {
    ...c,
    logging: { level: 'info' },
    resources: [...c.resources, { uri: BILLING, name: 'Billing API', scopes: ['billing.read'] }],
    roles: { ...c.roles, auditor: ['billing.read'] },
    clients: {
      ...c.clients,
      static: c.clients.static.map((s) =>
        s.client_id === 'cost-reporter'
          ? { ...s, resources: [...(s.resources ?? []), BILLING], scopes: [...(s.scopes ?? []), 'billing.read'] }
          : s,
      ),
    },
  };
}

async function until(check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error('timed out');
}

describe('POST /admin/api/policy/reload', () => {
  it('no token: 401 with the challenge; admin.read: 403 insufficient_scope; a body other than {}: 400', async () => {
    const none = await reload(a.url);
    expect([none.status, none.body.error]).toEqual([401, 'invalid_token']);
    expect(none.headers['www-authenticate']).toMatch(new RegExp(`^Bearer realm="${ADMIN}"`));
    const read = await reload(a.url, await adminToken(a.url, 'reload-reader'));
    expect([read.status, read.body.error]).toEqual([403, 'insufficient_scope']);
    expect(read.headers['www-authenticate']).toMatch(/error="insufficient_scope".*scope="admin.write"/);
    const writer = await adminToken(a.url, 'reload-writer');
    for (const body of [{ file: '/etc/passwd' }, [], 'x']) {
      const res = await reload(a.url, writer).send(body as object);
      expect([res.status, res.body.error], JSON.stringify(body)).toEqual([400, 'invalid_request']);
    }
    expect(await generation()).toBe(0);
  });

  it('an invalid file: 400 invalid_request naming the problem, the old policy stays everywhere', async () => {
    const before = readFileSync(file, 'utf8');
    const sha = await shaOn(a.url);
    writeFileSync(file, before.replace('"roles": {', '"roles": "nope", "x": {'));
    try {
      const res = await reload(a.url, await adminToken(a.url, 'reload-writer')).send({});
      expect([res.status, res.body.error]).toEqual([400, 'invalid_request']);
      expect(res.body.error_description).toContain(`invalid configuration in ${file}`);
      expect(res.body.error_description).toContain('roles: Invalid input');
    } finally {
      writeFileSync(file, before);
    }
    expect(await generation()).toBe(0);
    expect(await shaOn(a.url)).toBe(sha);
    expect(aLogs.lines().some((l) => l.includes('"msg":"policy.reload_refused"'))).toBe(true);
    const record = await recorded('policy.reload');
    expect([record?.outcome, record?.client_id, record?.event.reason]).toEqual([
      'refused',
      'reload-writer',
      'invalid_request',
    ]);
  });

  it('a valid changed file: in force on the process asked and, by the generation, on every other', async () => {
    const previous = await shaOn(a.url);
    expect((await billingToken(a.url)).status).toBe(400);
    expect((await billingToken(b.url)).status).toBe(400);
    const next = withBilling(config);
    writeFileSync(file, JSON.stringify(next, null, 2));
    writeFileSync(fileB, JSON.stringify(next, null, 2));
    const nextSha = policySha256(loadConfigFile(file));

    const res = await reload(a.url, await adminToken(a.url, 'reload-writer'));
    expect(res.status).toBe(200);
    const statics = config.clients.static.length;
    expect(res.body).toEqual({
      generation: 1,
      sha256: nextSha,
      previous_sha256: previous,
      changed: true,
      before: { roles: 2, resources: 2, clients: statics },
      after: { roles: 3, resources: 3, clients: statics },
      within_seconds: 1,
    });
    expect(await generation()).toBe(1);
    // the process asked: at once
    expect(await shaOn(a.url)).toBe(nextSha);
    const onA = await billingToken(a.url).expect(200);
    expect(onA.body.scope).toBe('billing.read');
    // the other process: once it saw the generation move
    await until(async () => (await shaOn(b.url)) === nextSha);
    expect((await billingToken(b.url).expect(200)).body.scope).toBe('billing.read');
    // one policy.reloaded per process that applied it (A, B); T has no file: refused, its policy stays
    await until(async () => (await reloadedRecords(1)).length === 2);
    expect((await reloadedRecords(1)).map((r) => r.event.details.sha256)).toEqual([nextSha, nextSha]);
    await until(() =>
      t.logs.lines().some((l) => l.includes('"msg":"policy.reload_refused"') && l.includes('"generation":1')),
    );
    expect(await shaOn(t.url)).toBe(previous);
    const record = await recorded('policy.reload');
    expect([record?.outcome, record?.client_id, record?.event.details.via]).toEqual([
      'success',
      'reload-writer',
      'admin_api',
    ]);
  });

  it('a process whose file is invalid then keeps its policy and logs why; the one asked answers', async () => {
    const sha = await shaOn(b.url);
    writeFileSync(fileB, readFileSync(fileB, 'utf8').replace('"roles": {', '"roles": "nope", "x": {'));
    const res = await reload(a.url, await adminToken(a.url, 'reload-writer'))
      .set('content-type', 'application/json')
      .send('{}');
    expect(res.status).toBe(200);
    // A's file did not change: applied again, and said so
    expect([res.body.generation, res.body.changed, res.body.sha256]).toEqual([2, false, sha]);
    await until(() =>
      b.output.some(
        (l) =>
          l.includes('"msg":"policy.reload_refused"') &&
          l.includes('"generation":2') &&
          l.includes('roles: Invalid input'),
      ),
    );
    expect(b.child.exitCode).toBeNull();
    expect(await shaOn(b.url)).toBe(sha);
    expect((await billingToken(b.url).expect(200)).body.scope).toBe('billing.read');
    expect(await reloadedRecords(2)).toHaveLength(1); // A's only
  });
});

describe('baton policy reload', () => {
  it('on PostgreSQL: moves the generation, and every running server re-reads its file', async () => {
    const back = { ...config, logging: { level: 'info' } };
    writeFileSync(file, JSON.stringify(back, null, 2));
    writeFileSync(fileB, JSON.stringify(back, null, 2));
    const res = await runCli(['policy', 'reload', '--config', file]);
    expect([res.code, res.stderr]).toEqual([0, '']);
    expect(res.stdout).toContain('generation 3: every running server re-reads its configuration file within 1 s');
    expect(res.stdout).toContain(`this file's policy: sha256 ${policySha256(config)}`);
    await until(
      async () => (await shaOn(a.url)) === policySha256(config) && (await shaOn(b.url)) === policySha256(config),
    );
    expect((await billingToken(b.url)).status).toBe(400);
    await until(async () => (await reloadedRecords(3)).length === 2);
    const record = await recorded('policy.reload');
    expect([record?.outcome, record?.event.details.via]).toEqual(['success', 'store']);
  });

  it('a server started later adopts the generation, and follows the next one only', async () => {
    const logs = memoryLogger();
    const c = await startServer(config, logs.log, { configFile: file });
    try {
      const res = await reload(a.url, await adminToken(a.url, 'reload-writer'));
      expect(res.body.generation).toBe(4);
      await until(() => logs.lines().some((l) => l.includes('"msg":"policy.reloaded"')));
      const reloaded = logs.lines().filter((l) => l.includes('"msg":"policy.reloaded"'));
      expect(reloaded).toHaveLength(1);
      expect(reloaded[0]).toContain('"generation":4');
    } finally {
      await c.close();
    }
  });

  it('on the embedded store: through the running server, or refused plainly when none runs', async () => {
    const dir = tempDir('policy-reload');
    const embedded = writeConfig({ ...config, storage: { data_dir: join(dir, 'data') }, logging: { level: 'info' } });
    const alone = await runCli(['policy', 'reload', '--config', embedded]);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain('policy reload needs a running server, and none holds storage.data_dir');
    const server = await startServerProcess(embedded);
    try {
      const res = await runCli(['policy', 'reload', '--config', embedded]);
      expect([res.code, res.stderr]).toEqual([0, '']);
      expect(res.stdout).toMatch(/^reloaded: sha256 [0-9a-f]{64} \(unchanged\)\n/);
      expect(res.stdout).toContain(`after:  ${Object.keys(config.roles).length} roles`);
      await until(() => server.output.some((l) => l.includes('"msg":"policy.reloaded"')));
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
