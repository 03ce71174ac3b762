/**
 * Test support: real PostgreSQL and Redis from the environment (scripts/test.sh starts them), a fresh
 * database per test file, configs built through the real schema, and the three storage backends.
 */
import { resolveKek } from '../src/keys/kek.ts';
import request from 'supertest';
import { afterAll, beforeAll, inject } from 'vitest';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { decodeJwt } from 'jose';
import type { Knex } from 'knex';
import pg from 'pg';
import type { Logger } from 'pino';
import { configSchema, type Config } from '../src/config/schema.ts';
import { startServer, type RunningServer } from '../src/main.ts';
import { createLogger } from '../src/logger.ts';
import type { AdminStores } from '../src/admin/operations.ts';
import { tempDir } from './temp.ts';

/** Integration tests need the real servers: a missing variable fails the test, it never skips it. */
export function requireEnv(name: 'TEST_DATABASE_URL' | 'TEST_REDIS_URL'): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite with \`npm test\`, which starts PostgreSQL and Redis`);
  return value;
}

/** A new, empty database on the test PostgreSQL server, dropped by the returned cleanup. */
export async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const base = new URL(requireEnv('TEST_DATABASE_URL'));
  const name = `baton_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base.toString() });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: base.toString() });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export function redisPrefix(): string {
  return `t${randomBytes(4).toString('hex')}:`;
}

export const KEK = 'n9pD4dc8S0bqgS8lHsvCq0l3b3B0e1m3uWJm3tO0lQ4';
/** The local directory of the scenario (scrypt with log2 N = 10: fast for tests). Passwords: <name>-password. */
export const LOCAL_IDP = {
  id: 'local',
  type: 'local',
  display_name: 'Example Corp',
  email_domains: ['example.com'],
  users: [
    {
      username: 'alice',
      password_hash: 'scrypt$10$8$1$pZrFuOrhiSquu3_NU6jJ_g$89UT67qr-qPFn0lnmYKokqt2QKnfkz6VLZmdv0bOpI4',
      groups: ['developers'],
      email: 'alice@example.com',
    },
    {
      username: 'bob',
      password_hash: 'scrypt$10$8$1$uW-TdZG4-Zks1H6cNTTduw$giQq5ZdIgpvC1bVaDAzZUSEO9cw5CDVPXRZjxfy5tl4',
      groups: ['oncall'],
      email: 'bob@example.com',
    },
    {
      username: 'carol',
      password_hash: 'scrypt$10$8$1$5SJkX8KXTrwIGWl5mUYiUA$UteliPRmz_4yC5acpCeNCYD-Aj8m6gRwEO6OrBhZwDo',
      groups: ['finance'],
      email: 'carol@example.com',
    },
  ],
};

export const ROLES = {
  developer: ['logs.read', 'analytics.query'],
  sre: ['logs.read', 'logs.debug.write', 'incidents.trigger'],
};
export const PARTNER_SECRET = 'partner-app-secret-0123456789abcdefghij';
export const SERVICE_SECRET = 'test-service-secret-0123456789abcdef';

export const RESOURCES = [
  {
    uri: 'https://logs.mcp.example.com/mcp',
    name: 'Production logs (MCP)',
    scopes: ['logs.read', 'logs.debug.write', 'incidents.trigger'],
    scope_descriptions: { 'logs.read': 'Read production logs', 'incidents.trigger': 'Declare an incident' },
  },
  { uri: 'https://cost.internal.example.com', name: 'Cost dashboard API', scopes: ['cost.read', 'cost.write'] },
];

/** A config through the real schema (so defaults and checks apply), with the scenario's resources and clients. */
/** A free local port (for a server that must listen where its issuer says: browsers, the kit's fetches). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
  const { port } = probe.address() as AddressInfo;
  await new Promise((ok) => probe.close(ok));
  return port;
}

/** What the admin operations run on, for a test server (as main.ts gives them to the admin socket). */
export const adminStoresOf = (t: TestServer): AdminStores => ({
  config: t.config,
  db: t.server.storage.db,
  accounts: t.server.accounts,
  keys: t.server.keystore,
  kek: resolveKek(t.config),
  adapterFor: (m) => t.server.storage.adapterFor(m),
});

/**
 * A static client that authenticates with `secret` (client_secret_basic) and uses client_credentials only
 * (RFC 6749 §4.4): a service, an MCP server's own client, an automation of the admin API (its `scopes`).
 */
export const staticService = (client_id: string, secret: string, scopes: string[] = [], kind = 'service') => ({
  client_id,
  kind,
  client_secret: secret,
  grant_types: ['client_credentials'],
  ...(scopes.length ? { scopes } : {}),
});

/** RFC 6749 §4.4: a client_credentials token request (client_secret_basic) for `resource` (RFC 8707). */
export const clientCredentialsRequest = (
  url: string,
  client: string,
  secret: string,
  resource: string,
  scope?: string,
) =>
  request(url)
    .post('/token')
    .auth(client, secret)
    .type('form')
    .send({ grant_type: 'client_credentials', resource, ...(scope ? { scope } : {}) });

/** RFC 8693 §2.1: `actor` (client_secret_basic) exchanges an access token; resolves to the issued token. */
/**
 * A JWT access token's status as its Token Status List entry holds it (draft-ietf-oauth-status-list-20 §7.1:
 * 0 VALID, 1 INVALID), read from the store, no cache in between.
 */
export async function storedStatus(db: Knex, token: string): Promise<number> {
  const row = await db('status_list_entries')
    .where('jti', String(decodeJwt(token).jti))
    .first<{ status: number } | undefined>('status');
  if (!row) throw new Error('baton keeps no status list entry for this token');
  return Number(row.status);
}

export const exchangeToken = (url: string, actor: string, secret: string, form: Record<string, string>) =>
  request(url)
    .post('/token')
    .auth(actor, secret)
    .type('form')
    .send({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      ...form,
    })
    .expect(200)
    .then((r) => r.body.access_token as string);

export function makeConfig(overrides: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    issuer: 'http://127.0.0.1:9400',
    mode: 'production',
    listen: { host: '127.0.0.1', port: 0 },
    keys: { encryption_key: KEK, refresh_interval_seconds: 1 },
    logging: { level: 'silent' },
    resources: RESOURCES,
    identity_providers: [LOCAL_IDP],
    roles: ROLES,
    role_bindings: { local: { developers: ['developer'], oncall: ['sre'] } },
    clients: {
      static: [
        {
          client_id: 'cost-reporter',
          kind: 'service',
          auth: 'client_secret_basic',
          client_secret: SERVICE_SECRET,
          grant_types: ['client_credentials'],
          resources: ['https://cost.internal.example.com'],
          scopes: ['cost.read'],
        },
        {
          client_id: 'ide-agent',
          kind: 'agent',
          public: true,
          first_party: true,
          redirect_uris: ['http://127.0.0.1/callback'],
        },
        {
          client_id: 'third-party-agent',
          name: 'Third-party agent',
          kind: 'agent',
          public: true,
          redirect_uris: ['http://127.0.0.1/tp-callback'],
        },
        {
          client_id: 'partner-app',
          name: 'Partner dashboard',
          kind: 'app',
          client_secret: PARTNER_SECRET,
          redirect_uris: ['https://partner.example.com/cb'],
        },
      ],
    },
    ...overrides,
  });
}

export interface Backend {
  name: 'embedded' | 'postgres' | 'postgres+redis';
  /** storage config for a fresh, isolated store, and its cleanup */
  create(): Promise<{ storage: Record<string, unknown>; cleanup: () => Promise<void> }>;
}

/**
 * The empty embedded cluster that server/test/global-setup.ts makes once per run, once it is made; undefined
 * outside a vitest run of the integration project or when it could not be made (the store then creates its
 * cluster itself). Polled: it is made in the background.
 */
async function embeddedTemplate(): Promise<string | undefined> {
  let dir: string | undefined;
  try {
    dir = inject('embeddedTemplate');
  } catch {
    return undefined; // not in a vitest worker (bench/run.ts imports this module)
  }
  if (!dir) return undefined;
  const deadline = Date.now() + 120_000;
  while (!existsSync(join(dir, 'ready'))) {
    if (existsSync(join(dir, 'failed')) || !existsSync(dir) || Date.now() > deadline) return undefined;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  return join(dir, 'pg');
}

/**
 * Puts an empty embedded cluster in `dataDir` (a `storage.data_dir`, e.g. of a `baton` process), copied from
 * the run's template, so that the store does not create one itself; without a template, nothing.
 */
export async function withEmptyCluster(dataDir: string): Promise<string> {
  const template = await embeddedTemplate();
  if (template) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    cpSync(template, join(dataDir, 'pg'), { recursive: true });
  }
  return dataDir;
}

/** A fresh `storage.data_dir` with an empty embedded cluster in it (withEmptyCluster). */
export const freshDataDir = (name = 'embedded'): Promise<string> => withEmptyCluster(join(tempDir(name), 'data'));

export const BACKENDS: Backend[] = [
  {
    name: 'embedded',
    async create() {
      const dir = await withEmptyCluster(tempDir('embedded'));
      return { storage: { data_dir: dir }, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    async create() {
      const db = await freshDatabase();
      return { storage: { postgres: db.url }, cleanup: db.drop };
    },
  },
  {
    name: 'postgres+redis',
    async create() {
      const db = await freshDatabase();
      return {
        storage: { postgres: db.url, redis: requireEnv('TEST_REDIS_URL'), redis_key_prefix: redisPrefix() },
        cleanup: db.drop,
      };
    },
  },
];

/** A logger whose lines are kept in memory (to assert on what was, and was not, logged). */
export function memoryLogger(): { log: Logger; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const log = createLogger('debug', stream);
  return { log, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

/** A throwaway self-signed certificate for 127.0.0.1 (openssl from the system), e.g. for a CIMD host. */
export function selfSignedCertificate(): { key: string; cert: string } {
  const dir = tempDir('cert');
  const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
    ].concat(['-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']),
    { stdio: 'ignore' },
  );
  const pair = { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
  rmSync(dir, { recursive: true, force: true });
  return pair;
}

export type MemoryLogger = ReturnType<typeof memoryLogger>;

export interface TestServerOptions {
  /** the store, fresh and isolated (BACKENDS): embedded unless the test is about PostgreSQL or Redis */
  backend?: Backend['name'];
  /** config keys over the scenario's (makeConfig); a function gets the scenario config to extend */
  config?: Record<string, unknown> | ((scenario: Config) => Record<string, unknown>);
  /**
   * listen at 127.0.0.1:<port> with the issuer at that address (for browsers and SDK clients that follow
   * its URLs); otherwise an ephemeral port behind the scenario's issuer
   */
  port?: number;
  /** where the server logs: a memory logger (returned as `logs`) unless given */
  log?: Logger;
  logs?: MemoryLogger;
}

export interface TestServer {
  server: RunningServer;
  url: string;
  /** the configuration the server runs (its storage included, e.g. for a CLI on the same store) */
  config: Config;
  logs: MemoryLogger;
  /** stops the server, then drops its store */
  close: () => Promise<void>;
}

/**
 * The one way to start a baton in this process for a test: a fresh store of `backend`, the scenario config
 * with `config` over it. Child processes (`baton start`, the CLI) are in processes.ts.
 */
export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const backend = BACKENDS.find((b) => b.name === (opts.backend ?? 'embedded'))!;
  const store = await backend.create();
  const overrides = typeof opts.config === 'function' ? opts.config(makeConfig()) : (opts.config ?? {});
  const at =
    opts.port === undefined
      ? {}
      : { issuer: `http://127.0.0.1:${opts.port}`, listen: { host: '127.0.0.1', port: opts.port } };
  const logs = opts.logs ?? memoryLogger();
  let server: RunningServer;
  let config: Config;
  try {
    config = makeConfig({ ...at, storage: store.storage, ...overrides });
    server = await startServer(config, opts.log ?? logs.log);
  } catch (err) {
    await store.cleanup();
    throw err;
  }
  return {
    server,
    url: server.url,
    config,
    logs,
    close: async () => {
      await server.close();
      await store.cleanup();
    },
  };
}

/**
 * A baton on PostgreSQL + Redis listening at 127.0.0.1:<port>, whose issuer is that address (so browsers
 * and SDK clients can follow its URLs). `overrides` gets the scenario config to extend. (startTestServer,
 * in the shape the kit's and the conformance tests use.)
 */
export async function startBatonAt(
  port: number,
  overrides: (base: Config) => Record<string, unknown>,
  log: Logger = memoryLogger().log,
): Promise<{ server: RunningServer; cleanup: () => Promise<void> }> {
  const baton = await startTestServer({ backend: 'postgres+redis', port, config: overrides, log });
  return { server: baton.server, cleanup: () => baton.close() };
}

/**
 * Registers a confidential client by DCR (RFC 7591: client_secret_basic, the authorization code grant; a
 * registered client may not register client_credentials).
 */
export async function registerConfidentialClient(
  url: string,
): Promise<{ client_id: string; client_secret: string; registration_access_token: string }> {
  const res = await request(url)
    .post('/reg')
    .send({
      redirect_uris: ['https://agent.example.com/cb'],
      token_endpoint_auth_method: 'client_secret_basic',
    })
    .expect(201);
  return res.body as { client_id: string; client_secret: string; registration_access_token: string };
}

/**
 * startTestServer for the enclosing describe block (or file): started before its tests and closed (store
 * dropped) after them. `server` is the running server once started.
 */
export function batonOn(
  backend: Backend,
  overrides: TestServerOptions['config'] = {},
  logs = memoryLogger(),
): { readonly server: RunningServer; logs: MemoryLogger } {
  let baton: TestServer | undefined;
  beforeAll(async () => {
    baton = await startTestServer({ backend: backend.name, config: overrides, logs });
  });
  afterAll(async () => {
    await baton?.close();
  });
  return {
    get server() {
      if (!baton) throw new Error('batonOn: the server is not started yet (use it inside a test)');
      return baton.server;
    },
    logs,
  };
}
