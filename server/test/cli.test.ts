/**
 * The command line and the process lifecycle: configuration errors as one message (exit 78), migrations
 * up and down, the embedded store's persistence and single-process lock, and graceful shutdown on SIGTERM
 * (stop accepting, finish in-flight requests, exit 0).
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { freshDatabase, makeConfig, SERVICE_SECRET } from './helpers.ts';
import { runCli, startServerProcess, writeConfig } from './processes.ts';
import { tempDir } from './temp.ts';

const embeddedConfig = () => {
  const dir = tempDir('cli');
  return writeConfig({ ...makeConfig({ storage: { data_dir: join(dir, 'data') } }), logging: { level: 'info' } });
};

describe('baton CLI', () => {
  it('an invalid config stops the start with one message naming the key, exit 78', async () => {
    const file = writeConfig({ issuer: 'https://auth.example.com/', listen: { port: 'eighty' } });
    const res = await runCli(['start', '--config', file]);
    expect(res.code).toBe(78);
    expect(res.stderr).toBe(
      `baton: invalid configuration in ${file}:\n  issuer: must not end with a slash\n  listen.port: Invalid input: expected number, received string\n`,
    );
    expect(res.stdout).toBe('');
  });

  it('an unset secret reference is named, exit 78', async () => {
    const file = writeConfig({ issuer: 'https://auth.example.com', storage: { postgres: 'env:BATON_TEST_UNSET' } });
    const res = await runCli(['config', 'check', '--config', file]);
    expect(res).toMatchObject({
      code: 78,
      stderr: `baton: ${file}: environment variable not set: BATON_TEST_UNSET (storage.postgres)\n`,
    });
  });

  it('config check accepts the shipped development default and the example', async () => {
    const dev = await runCli(['config', 'check']);
    expect(dev.code).toBe(0);
    expect(dev.stdout).toMatch(/config\/development\.yaml: ok \(issuer http:\/\/127\.0\.0\.1:9400/);
    const example = await runCli(['config', 'check', '--config', 'baton.example.yaml'], {
      DATABASE_URL: 'postgresql://u:p@127.0.0.1/baton',
      REDIS_URL: 'redis://127.0.0.1:6379',
      BATON_KEK: 'n9pD4dc8S0bqgS8lHsvCq0l3b3B0e1m3uWJm3tO0lQ4',
      COST_REPORTER_SECRET: 'x'.repeat(40),
      CORP_CLIENT_ID: 'baton',
      CORP_CLIENT_SECRET: 'corp-secret',
    });
    expect(example.stderr).toBe('');
    expect(example.code).toBe(0);
  });

  it('usage errors exit 64', async () => {
    expect((await runCli(['frobnicate'])).code).toBe(64);
    expect((await runCli([])).code).toBe(64);
    expect((await runCli(['start', '--bogus'])).code).toBe(64);
  });

  it('generate-kek prints a fresh 32-byte base64url key', async () => {
    const [x, y] = await Promise.all([runCli(['keys', 'generate-kek']), runCli(['keys', 'generate-kek'])]);
    expect(x.stdout).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect(x.stdout).not.toBe(y.stdout);
  });

  it('migrate latest, status and rollback work on PostgreSQL', async () => {
    const db = await freshDatabase();
    try {
      const file = writeConfig(makeConfig({ storage: { postgres: db.url } }));
      expect((await runCli(['migrate', 'status', '--config', file])).code).toBe(1); // pending
      const up = await runCli(['migrate', 'latest', '--config', file]);
      expect(up.stdout).toMatch(/^latest: 20261125000001_create_oidc_payloads, /);
      const status = await runCli(['migrate', 'status', '--config', file]);
      expect(status.code).toBe(0);
      expect(status.stdout).toContain('applied  20261125000003_create_accounts');
      const down = await runCli(['migrate', 'rollback', '--config', file]);
      expect(down.stdout).toMatch(/^rollback: /);
      expect((await runCli(['migrate', 'status', '--config', file])).stdout).toContain('pending');
    } finally {
      await db.drop();
    }
  });

  it('a server with migrate_on_start off refuses to start on a stale schema', async () => {
    const db = await freshDatabase();
    try {
      const file = writeConfig(makeConfig({ storage: { postgres: db.url, migrate_on_start: false } }));
      const res = await runCli(['start', '--config', file]);
      expect(res.code).toBe(1);
      expect(res.stderr).toBe(
        'baton: storage: migrations are pending; run `baton migrate latest` (storage.migrate_on_start is false)\n',
      );
    } finally {
      await db.drop();
    }
  });
});

describe('embedded store', () => {
  it('keeps keys across restarts and refuses a second process on the same data directory', async () => {
    const file = embeddedConfig();
    const first = await startServerProcess(file);
    const kid = (await request(first.url).get('/jwks')).body.keys[0].kid as string;
    const second = await runCli(['start', '--config', file]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      /storage\.data_dir: .* is in use by process \d+; the embedded store serves one process/,
    );
    expect(await first.stop()).toBe(0);

    const again = await startServerProcess(file);
    expect((await request(again.url).get('/jwks')).body.keys[0].kid).toBe(kid);
    expect(await again.stop()).toBe(0);
  });
});

describe('graceful shutdown', () => {
  it('on SIGTERM: finishes the request in flight, refuses new connections, exits 0', async () => {
    const server = await startServerProcess(embeddedConfig());
    const { port, hostname } = new URL(server.url);
    const body = `grant_type=client_credentials&resource=${encodeURIComponent('https://cost.internal.example.com')}`;
    const auth = Buffer.from(`cost-reporter:${SERVICE_SECRET}`).toString('base64');
    const socket = connect(Number(port), hostname);
    await new Promise((ok) => socket.once('connect', ok));
    let response = '';
    socket.on('data', (d: Buffer) => (response += d.toString()));
    const closed = new Promise((ok) => socket.once('close', ok));
    // headers and half the body: the request is in flight when SIGTERM arrives
    socket.write(
      `POST /token HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Basic ${auth}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 20)}`,
    );
    await new Promise((ok) => setTimeout(ok, 200));
    const exited = server.stop('SIGTERM');
    // the listener closes on SIGTERM: new connections are refused (polled: the signal takes a moment to land)
    const refused = async (): Promise<boolean> =>
      request(server.url)
        .get('/healthz')
        .then(
          () => false,
          (err: Error) => /ECONNREFUSED/.test(err.message),
        );
    for (let waited = 0; !(await refused()) && waited < 10_000; waited += 100)
      await new Promise((ok) => setTimeout(ok, 100));
    await expect(request(server.url).get('/healthz')).rejects.toThrow(/ECONNREFUSED/);
    socket.write(body.slice(20));
    await closed;
    expect(response).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(response).toContain('"access_token":"ey');
    expect(await exited).toBe(0);
    expect(server.output.join('\n')).toContain('"msg":"server.closed"');
  });
});
