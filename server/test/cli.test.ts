/**
 * The command line and the process lifecycle: configuration errors as one message (exit 78), migrations
 * up and down, the embedded store's persistence and single-process lock, a taken port reported before
 * storage is touched, the admin commands (on the store, and through the running server's admin socket on
 * the embedded store), and graceful shutdown on SIGTERM (stop accepting, finish in-flight requests, exit 0).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountStore, accountIdFor } from '../src/accounts/store.ts';
import { resolveKek } from '../src/keys/kek.ts';
import { createLogger } from '../src/logger.ts';
import { localIssuer } from '../src/idp/registry.ts';
import { openStorage } from '../src/storage/index.ts';
import { freshDatabase, freshDataDir, LOCAL_IDP, makeConfig, SERVICE_SECRET, withEmptyCluster } from './helpers.ts';
import { actionOf, csrfOf, followRedirects } from './pages.ts';
import { runCli, startServerProcess, writeConfig, type ServerProcess } from './processes.ts';
import { tempDir } from './temp.ts';

/** a config file for a fresh embedded store (an empty cluster copied in: see withEmptyCluster) */
const embeddedConfig = async () =>
  writeConfig({ ...makeConfig({ storage: { data_dir: await freshDataDir('cli') } }), logging: { level: 'info' } });

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
    const file = await embeddedConfig();
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
    const server = await startServerProcess(await embeddedConfig());
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

const LOGS = 'https://logs.mcp.example.com/mcp';
const COST = 'https://cost.internal.example.com';
const CORP_ISSUER = 'https://idp.corp.example.com';
const ALICE = accountIdFor(localIssuer('local'), 'alice');
const BOB = accountIdFor(localIssuer('local'), 'bob');
const CORP_BOB = accountIdFor(CORP_ISSUER, '00u-bob');

/** Writes accounts (alice, bob, and a second "bob" from another IdP) and alice's consents on a store. */
async function seedStore(storageConfig: Record<string, unknown>, consents: [string, string][]): Promise<void> {
  const config = makeConfig({ storage: storageConfig });
  const storage = await openStorage(config, createLogger('silent'));
  try {
    await storage.migrate('latest');
    const accounts = new AccountStore(storage.db, resolveKek(config));
    const local = { idpId: 'local', idpIssuer: localIssuer('local') };
    await accounts.recordLogin({
      ...local,
      idpSubject: 'alice',
      profile: { preferred_username: 'alice', email: 'alice@example.com' },
      groups: ['developers'],
      roles: ['developer'],
    });
    await accounts.recordLogin({
      ...local,
      idpSubject: 'bob',
      profile: { preferred_username: 'bob', email: 'bob@example.com' },
      groups: ['oncall'],
      roles: ['sre'],
    });
    await accounts.recordLogin({
      idpId: 'corp',
      idpIssuer: CORP_ISSUER,
      idpSubject: '00u-bob',
      profile: { preferred_username: 'bob', email: 'Bob@Corp.example.com' },
      groups: [],
      roles: [],
    });
    for (const [client, resource] of consents) await accounts.saveConsent(ALICE, client, resource, ['logs.read']);
  } finally {
    await storage.close();
  }
}

const UNKNOWN = (name: string) =>
  `baton: no account matches "${name}" (name one by its id, IDP:SUBJECT, an IdP subject, a username or an email; see baton accounts list)\n`;
const AMBIGUOUS_BOB = `baton: "bob" matches 2 accounts: ${BOB} (local:bob), ${CORP_BOB} (corp:00u-bob); name one by its id or as IDP:SUBJECT\n`;

describe('consents revoke counts what it deleted', () => {
  const consents: [string, string][] = [
    ['partner-app', LOGS],
    ['partner-app', COST],
    ['third-party-agent', LOGS],
  ];
  const revokes = async (file: string) => {
    expect(await runCli(['consents', 'revoke', 'alice', '--client', 'third-party-agent', '--config', file])).toEqual({
      code: 0,
      stdout: 'revoked 1 consent\n',
      stderr: '',
    });
    expect(await runCli(['consents', 'revoke', 'alice@example.com', '--config', file])).toEqual({
      code: 0,
      stdout: 'revoked 2 consents\n',
      stderr: '',
    });
    expect(await runCli(['consents', 'revoke', ALICE, '--config', file])).toEqual({
      code: 0,
      stdout: 'revoked 0 consents\n',
      stderr: '',
    });
    expect(await runCli(['consents', 'revoke', 'nobody', '--config', file])).toEqual({
      code: 1,
      stdout: '',
      stderr: UNKNOWN('nobody'),
    });
  };

  it('on the embedded store', async () => {
    const storage = { data_dir: await freshDataDir('cli') };
    await seedStore(storage, consents);
    await revokes(writeConfig(makeConfig({ storage })));
  }, 120_000);

  it('on PostgreSQL', async () => {
    const db = await freshDatabase();
    try {
      await seedStore({ postgres: db.url }, consents);
      await revokes(writeConfig(makeConfig({ storage: { postgres: db.url } })));
    } finally {
      await db.drop();
    }
  }, 120_000);
});

describe('a port already in use', () => {
  let taken: ReturnType<typeof createServer>;
  let port: number;
  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((ok) => taken.listen(0, '127.0.0.1', ok));
    port = (taken.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((ok) => taken.close(() => ok())));
  const inUse = (file: string) =>
    `baton: 127.0.0.1:${port} is already in use (another baton or program is listening there); stop it or set listen.port in ${file}\n`;

  it('is one line naming the address, exit 1, before the embedded data directory is created', async () => {
    const dataDir = join(tempDir('cli'), 'data');
    const file = writeConfig(makeConfig({ listen: { host: '127.0.0.1', port }, storage: { data_dir: dataDir } }));
    expect(await runCli(['start', '--config', file])).toEqual({ code: 1, stdout: '', stderr: inUse(file) });
    expect(existsSync(dataDir)).toBe(false);
  });

  it('on PostgreSQL: nothing is migrated, no key created', async () => {
    const db = await freshDatabase();
    try {
      const file = writeConfig(makeConfig({ listen: { host: '127.0.0.1', port }, storage: { postgres: db.url } }));
      expect(await runCli(['start', '--config', file])).toEqual({ code: 1, stdout: '', stderr: inUse(file) });
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const tables = await client.query(
          `select table_name from information_schema.tables where table_schema = 'public'`,
        );
        expect(tables.rows).toEqual([]);
      } finally {
        await client.end();
      }
    } finally {
      await db.drop();
    }
  });
});

/** Alice signs in to the first-party agent over HTTP (local directory); returns her tokens. */
async function signInAlice(url: string): Promise<{ refresh_token: string }> {
  const redirect = 'http://127.0.0.1/callback';
  const agent = request.agent(url);
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({
    client_id: 'ide-agent',
    redirect_uri: redirect,
    response_type: 'code',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    resource: LOGS,
    scope: 'logs.read',
  });
  const follow = async (location: string): Promise<{ code?: string; page?: request.Response }> => {
    const { stoppedAt, page } = await followRedirects(agent, location, (l) => l.startsWith(redirect));
    return stoppedAt ? { code: new URL(stoppedAt).searchParams.get('code')! } : { page };
  };
  const { page } = await follow(`/auth?${query.toString()}`);
  const html = page!.text;
  const form = await agent
    .post(actionOf(html))
    .type('form')
    .send({ csrf: csrfOf(html), username: 'alice', password: 'alice-password' })
    .expect(303);
  const { code } = await follow(form.headers.location!);
  const tokens = await request(url)
    .post('/token')
    .type('form')
    .send({
      grant_type: 'authorization_code',
      code: code!,
      code_verifier: verifier,
      redirect_uri: redirect,
      client_id: 'ide-agent',
      resource: LOGS,
    })
    .expect(200);
  return tokens.body as { refresh_token: string };
}

describe('admin commands while the server runs on the embedded store', () => {
  const dataDir = join(tempDir('cli'), 'data');
  const file = writeConfig({
    ...makeConfig({
      storage: { data_dir: dataDir },
      identity_providers: [
        LOCAL_IDP,
        // the corp accounts' IdP, trusted for ID-JAGs only (accounts add/import provision its users)
        {
          id: 'corp',
          type: 'oidc',
          issuer: CORP_ISSUER,
          sign_in: false,
          jwks_uri: `${CORP_ISSUER}/jwks`,
          accept_id_jag: true,
        },
      ],
      role_bindings: { local: { developers: ['developer'], oncall: ['sre'] }, corp: { oncall: ['sre'] } },
    }),
    logging: { level: 'info' },
  });
  const cli = (...args: string[]) => runCli([...args, '--config', file]);
  let server: ServerProcess;
  beforeAll(async () => {
    await seedStore({ data_dir: await withEmptyCluster(dataDir) }, [['partner-app', LOGS]]);
    server = await startServerProcess(file);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('serves them on a socket only its user can open', () => {
    expect(statSync(join(dataDir, 'admin.sock')).mode & 0o777).toBe(0o600);
  });

  it('accounts list and keys list print what they print on the store', async () => {
    expect(await cli('accounts', 'list')).toEqual({
      code: 0,
      stdout: `${ALICE}  local  alice  [developer]  enabled\n${BOB}  local  bob  [sre]  enabled\n${CORP_BOB}  corp  00u-bob  []  enabled\n`,
      stderr: '',
    });
    const kid = (await request(server.url).get('/jwks')).body.keys[0].kid as string;
    const keys = await cli('keys', 'list');
    expect(keys.code).toBe(0);
    expect(keys.stdout).toMatch(
      new RegExp(`^${kid}  ES256  active     created \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\n$`),
    );
  });

  it('consents revoke and accounts disable take an email or a username, and take effect', async () => {
    const tokens = await signInAlice(server.url);
    expect(await cli('consents', 'revoke', 'alice@example.com')).toEqual({
      code: 0,
      stdout: 'revoked 1 consent\n',
      stderr: '',
    });
    expect(await cli('accounts', 'disable', 'alice')).toEqual({
      code: 0,
      stdout: `disabled ${ALICE} (local:alice)\n`,
      stderr: '',
    });
    const refresh = await request(server.url).post('/token').type('form').send({
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id: 'ide-agent',
      resource: LOGS,
    });
    expect(refresh.status).toBe(400);
    expect(refresh.body.error).toBe('invalid_grant');
    expect(await cli('accounts', 'enable', 'local:alice')).toEqual({
      code: 0,
      stdout: `enabled ${ALICE} (local:alice)\n`,
      stderr: '',
    });
    expect(server.output.join('\n')).toMatch(/"operation":"accounts\.disable","msg":"admin\.operation"/);
  });

  it('accounts add and accounts import run through the server too (XAA onboarding)', async () => {
    const carol = accountIdFor(CORP_ISSUER, '00u-carol');
    expect(await cli('accounts', 'add', '--idp', 'corp', '--subject', '00u-carol', '--groups', 'oncall')).toEqual({
      code: 0,
      stdout: `${carol}  corp  00u-carol  groups [oncall]  roles [sre]\n`,
      stderr: '',
    });
    const list = join(tempDir('cli'), 'people.jsonl');
    writeFileSync(
      list,
      '{"idp":"corp","subject":"00u-dave","groups":["oncall"]}\n{"idp":"corp","subject":"00u-erin"}\n',
    );
    expect(await cli('accounts', 'import', list)).toEqual({ code: 0, stdout: 'imported 2 accounts\n', stderr: '' });
    writeFileSync(list, '{"idp":"nowhere","subject":"00u-frank"}\n');
    expect(await cli('accounts', 'import', list)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'baton: nothing imported:\n  line 1: idp nowhere is not in identity_providers\n',
    });
    expect(server.output.join('\n')).toMatch(/"operation":"accounts\.import","msg":"admin\.operation"/);
  });

  it('an ambiguous or unknown account is refused, exit 1', async () => {
    expect(await cli('accounts', 'disable', 'bob')).toEqual({ code: 1, stdout: '', stderr: AMBIGUOUS_BOB });
    expect(await cli('accounts', 'disable', 'nobody')).toEqual({ code: 1, stdout: '', stderr: UNKNOWN('nobody') });
    // IDP:SUBJECT and an email (any case) name one of the two bobs
    expect((await cli('accounts', 'disable', 'corp:00u-bob')).stdout).toBe(`disabled ${CORP_BOB} (corp:00u-bob)\n`);
    expect((await cli('accounts', 'enable', 'bob@corp.example.com')).stdout).toBe(
      `enabled ${CORP_BOB} (corp:00u-bob)\n`,
    );
  });

  it('the socket answers bad requests with a 4xx and a message, never a crash', async () => {
    const ask = (method: string, path: string, body?: string) =>
      new Promise<{ status: number; body: unknown }>((ok, fail) => {
        const req = httpRequest({ socketPath: join(dataDir, 'admin.sock'), method, path }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => ok({ status: res.statusCode!, body: JSON.parse(text) }));
        });
        req.on('error', fail);
        req.end(body);
      });
    expect(await ask('POST', '/operations/accounts.disable', '{"account":5}')).toEqual({
      status: 400,
      body: {
        error: 'invalid_request',
        message: 'accounts.disable: account: Invalid input: expected string, received number',
      },
    });
    expect(await ask('POST', '/operations/accounts.disable', 'not json')).toEqual({
      status: 400,
      body: { error: 'invalid_request', message: 'the body is not JSON' },
    });
    expect(await ask('POST', '/operations/migrate.rollback', '{}')).toEqual({
      status: 404,
      body: { error: 'unknown_operation', message: 'no admin operation migrate.rollback' },
    });
    expect(await ask('POST', '/operations/__proto__', '{}')).toMatchObject({ status: 404 });
    expect(await ask('GET', '/operations/accounts.list')).toMatchObject({ status: 404 });
    expect((await cli('accounts', 'list')).code).toBe(0); // still serving
  });

  it('a command that needs the store to itself says to stop the server first', async () => {
    expect(await cli('migrate', 'rollback')).toEqual({
      code: 1,
      stdout: '',
      stderr: `baton: storage.data_dir: ${dataDir} is in use by process ${server.child.pid} (a running baton?); stop it first: \`baton migrate rollback\` needs the embedded store to itself\n`,
    });
  });

  it('a holder that does not answer on the socket is named, exit 1', async () => {
    const sock = join(dataDir, 'admin.sock');
    renameSync(sock, `${sock}.away`);
    try {
      expect(await cli('accounts', 'list')).toEqual({
        code: 1,
        stdout: '',
        stderr: `baton: storage.data_dir: ${dataDir} is in use by process ${server.child.pid}, which does not answer on ${sock} (still starting? not a baton server? a server that could not open it logged admin.socket_failed); try again, or stop it to run \`baton accounts list\`\n`,
      });
    } finally {
      renameSync(`${sock}.away`, sock);
    }
  });

  it('the socket is removed when the server stops', async () => {
    expect(existsSync(join(dataDir, 'admin.sock'))).toBe(true);
    expect(await server.stop()).toBe(0);
    expect(existsSync(join(dataDir, 'admin.sock'))).toBe(false);
  });
});
