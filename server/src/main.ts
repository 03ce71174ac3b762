/**
 * startServer, the process wiring: config → bind the listeners (503 until ready) → storage (+ migrations) →
 * keys and shared secrets → accounts, IdPs, policy, client registry → provider → koa app → serve (+ the admin
 * socket on the embedded store). The background loops (key refresh, storage GC) are lifecycle/timers.ts; the
 * close() that drains (stop accepting, let in-flight requests finish, then close the pools; SIGTERM, see
 * cli.ts) is lifecycle/shutdown.ts.
 */
import type { JWK } from 'jose';
import { randomBytes } from 'node:crypto';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import { createApp, type AppDeps } from './app.ts';
import type { Config } from './config/schema.ts';
import { resolveKek, type Kek } from './keys/kek.ts';
import { KeyStore, sharedSecret, type KeySet } from './keys/keystore.ts';
import { AccountStore } from './accounts/store.ts';
import { provisionConfiguredUsers } from './accounts/provision.ts';
import { IdpRegistry } from './idp/registry.ts';
import { Policy } from './policy/policy.ts';
import { accountAccess } from './provider/accounts.ts';
import { clientRegistry } from './provider/client-registry/index.ts';
import { attachEvents } from './provider/events.ts';
import { sharedAuditWriter, type AuditWriter } from './audit/writer.ts';
import { recordNow } from './audit/sink.ts';
import { policyReloaded } from './policy/audit.ts';
import { policyFollower, type PolicyFollower } from './policy/follow.ts';
import { createMetrics, type Metrics } from './http/metrics.ts';
import { hostPort } from './http/address.ts';
import { loginThrottle } from './http/login-throttle.ts';
import { registrationThrottle } from './http/registration-throttle.ts';
import { createProvider, ownTokens } from './provider/index.ts';
import type { TokenState } from './provider/token-state.ts';
import { rateLimiter } from './rate-limit.ts';
import { brokeredGateways, brokering } from './brokering/index.ts';
import { storedSecrets } from './secrets/stored.ts';
import { openStorage, type Storage } from './storage/index.ts';
import { migrationsCurrent } from '../../migrations/index.ts';
import { serveAdminSocket } from './admin/socket.ts';
import { runOperation, type AdminStores } from './admin/operations.ts';
import { ConsoleStore } from './http/admin-console/sessions.ts';
import { revokeBlocked } from './revocation/blocked.ts';
import { BlockedClients, blockedIds } from './revocation/client-blocks.ts';
import { gracefulClose } from './lifecycle/shutdown.ts';
import { startBackground } from './lifecycle/timers.ts';
import { statusIssuer } from './status-list/issue.ts';
import { markRevoked } from './status-list/entry.ts';
import { statusListTokens } from './status-list/serve.ts';

export class StartupError extends Error {
  override name = 'StartupError';
}

export interface RunningServer {
  url: string;
  /** the Prometheus endpoint, when metrics are enabled */
  metricsUrl?: string;
  server: Server;
  storage: Storage;
  keystore: KeyStore;
  provider(): Provider;
  accounts: AccountStore;
  /** Re-read the key table now (normally done every keys.refresh_interval_seconds). */
  refreshKeys(): Promise<void>;
  /**
   * Swap in the roles, role bindings and resources of a newly loaded, already validated config (SIGHUP), at
   * once; resolves once its `policy.reloaded` audit record is written (a failure is logged, never thrown).
   */
  reloadPolicy(next: Config): Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** the configuration file, named in the messages that tell the operator what to change */
  configFile?: string;
}

/** A listener could not bind its address (taken, privileged, not this machine's): one line for the operator. */
export class ListenError extends StartupError {
  override name = 'ListenError';
}

export async function startServer(config: Config, log: Logger, options: StartOptions = {}): Promise<RunningServer> {
  // bind first: a taken port is reported before storage is opened (nothing migrated, no key created). Until
  // the app is ready the listener answers 503.
  const metrics = config.metrics.enabled ? createMetrics(new URL(config.issuer).pathname) : undefined;
  const bound = await bindListeners(config, metrics, options);
  let storage: Storage | undefined;
  try {
    storage = await openStorage(config, log);
    if (config.storage.migrate_on_start) {
      const ran = await storage.migrate('latest');
      if (ran.length) log.info({ migrations: ran }, 'migrations.applied');
    } else if (!(await migrationsCurrent(storage.db))) {
      throw new StartupError(
        'storage: migrations are pending; run `baton migrate latest` (storage.migrate_on_start is false)',
      );
    }
    return await serve(config, log, storage, bound, metrics, await assemble(config, log, storage, metrics, options));
  } catch (err) {
    await bound.close();
    await storage?.close();
    throw err;
  }
}

interface Bound {
  server: Server;
  url: string;
  metricsListener: { url: string; server: Server } | undefined;
  /** hands the listener to the app */
  serve(handler: RequestListener): void;
  close(): Promise<void>;
}

const starting: RequestListener = (_req, res) => {
  res
    .writeHead(503, { 'content-type': 'application/json', 'cache-control': 'no-store', 'retry-after': '1' })
    .end(JSON.stringify({ error: 'temporarily_unavailable', error_description: 'the server is starting' }));
};

async function bindListeners(config: Config, metrics: Metrics | undefined, options: StartOptions): Promise<Bound> {
  let handler: RequestListener = starting;
  const server = createServer((req, res) => handler(req, res));
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.maxHeadersCount = 100; // more header lines than any client sends: 431 (RFC 6585 §5), before koa
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError(err, config.listen, 'listen', options)));
    server.listen(config.listen.port, config.listen.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  // metrics on their own listener, so that the public port never serves them
  let metricsListener: Bound['metricsListener'];
  try {
    metricsListener = metrics
      ? await metrics.listen(config.metrics.host, config.metrics.port).catch((err: Error) => {
          throw listenError(err, config.metrics, 'metrics', options);
        })
      : undefined;
  } catch (err) {
    await new Promise((resolve) => server.close(resolve));
    throw err;
  }
  return {
    server,
    url: `http://${hostPort(config.listen.host, port)}`,
    metricsListener,
    serve: (next) => (handler = next),
    close: async () => {
      server.closeAllConnections();
      metricsListener?.server.closeAllConnections();
      await Promise.all([
        new Promise((resolve) => server.close(resolve)),
        metricsListener && new Promise((resolve) => metricsListener.server.close(resolve)),
      ]);
    },
  };
}

/** EADDRINUSE and kin: which address, and what to change (no stack trace). Others are rethrown as they are. */
function listenError(
  err: NodeJS.ErrnoException,
  at: { host: string; port: number },
  key: 'listen' | 'metrics',
  options: StartOptions,
): Error {
  const address = hostPort(at.host, at.port);
  const where = options.configFile ?? 'the configuration';
  switch (err.code) {
    case 'EADDRINUSE':
      return new ListenError(
        `${address} is already in use (another baton or program is listening there); stop it or set ${key}.port in ${where}`,
      );
    case 'EACCES':
      return new ListenError(
        `${address}: permission denied (a port below 1024 needs privileges); set ${key}.port in ${where}`,
      );
    case 'EADDRNOTAVAIL':
      return new ListenError(`${address}: ${at.host} is not an address of this machine; set ${key}.host in ${where}`);
    default:
      return err;
  }
}

/** The wiring below the listeners: secrets and keys → accounts, IdPs, policy, clients → the provider. */
async function assemble(
  config: Config,
  log: Logger,
  storage: Storage,
  metrics: Metrics | undefined,
  options: StartOptions,
): Promise<Core> {
  const { kek, keystore, cookieKeys, csrfKey } = await loadSecrets(config, storage);
  const accounts = new AccountStore(storage.db, kek);
  // a development configuration's identity_providers[].users: accounts before any sign-in (XAA)
  await provisionConfiguredUsers(config, accounts);
  const base = new URL(config.issuer).pathname.replace(/\/$/, '');
  const idps = new IdpRegistry(config, (id) => `${config.issuer}/interaction/callback/${id}`);
  let policy = new Policy(config);
  // the configuration's blocked clients and the administrators' (client_blocks), one in-memory set
  const blocked = new BlockedClients(() => policy.blocked);
  await blocked.refresh(() => blockedIds(storage.db));
  // the audit trail and the token lineage: one group-commit writer per store (audit/writer.ts)
  const audit = sharedAuditWriter(storage.db, { events: config.audit.enabled });
  // the Token Status List slots: one allocator per process, across key reloads (its blocks are its own)
  const statusLists = statusIssuer(storage.db, config.issuer, {
    size: config.status_list.list_size,
    windowSeconds: config.status_list.window_seconds,
    listsPerWindow: config.status_list.lists_per_window,
  });
  const clients = clientRegistry({
    config,
    policy: () => policy,
    isBlocked: (id) => blocked.has(id),
    redis: storage.redis,
    log,
    kek,
    audit,
    db: storage.db,
  });
  const grants = accountAccess({
    accounts,
    policy: () => policy,
    idps,
    log,
    isFirstParty: clients.isFirstParty,
    audit: config.audit.enabled ? audit : undefined,
  });

  const build = async (keys: KeySet): Promise<Current> => {
    const deps = {
      adapterFor: (model: string) => storage.adapterFor(model),
      jwks: keys.jwks,
      cookieKeys,
      policy: () => policy,
      isBlocked: (id: string) => blocked.has(id),
      grants,
      clients,
      base,
      accounts,
      idps,
      db: storage.db,
      audit,
      statusLists,
    };
    // the token state is shared with baton's own resource endpoints (the audit ingestion)
    const own = ownTokens(config, deps);
    const provider = createProvider(config, deps, own);
    attachEvents(provider, {
      log,
      metrics: metrics?.observe,
      isResource: (uri) => policy.resources.has(uri),
      touchClient: (id) => clients.touch(storage.adapterFor('Client'), id),
      audit: config.audit.enabled ? audit : undefined,
      statuses: audit,
      revokeStatuses: (which) => markRevoked(storage.db, which),
    });
    // static clients are validated lazily by oidc-provider; validate them now so a bad one stops the start
    for (const c of config.clients.static) {
      try {
        await provider.Client.find(c.client_id);
      } catch (err) {
        throw new StartupError(
          `clients.static (${c.client_id}): ${(err as { error_description?: string }).error_description ?? (err as Error).message}`,
        );
      }
    }
    return { provider, state: own.state, signingKey: keys.jwks[0]! };
  };

  let keys = await keystore.load();
  let current = await build(keys);
  log.info({ kid: keys.activeKid, storage: storage.kind }, 'keys.loaded');

  const refreshKeys = async () => {
    const next = await keystore.load();
    if (next.fingerprint === keys.fingerprint) return;
    current = await build(next);
    keys = next;
    log.info({ kid: next.activeKid, keys: next.fingerprint }, 'keys.reloaded');
  };
  const revocationStores = {
    db: storage.db,
    adapterFor: (m: string) => storage.adapterFor(m),
    accounts,
    isStaticClient: (id: string) => policy.staticClients.has(id),
  };
  const sink = config.audit.enabled ? audit : undefined;
  // every blocked client's tokens, at start too: their status bits (revocation/blocked.ts), in the background
  void revokeBlocked(revocationStores, [...config.clients.blocked, ...blocked.runtime()], log, sink, 'start');
  // a block made elsewhere: applied here, and what this process issued before it knew revoked too
  const refreshBlocks = async () => {
    const added = await blocked.refresh(() => blockedIds(storage.db));
    if (added.length) await revokeBlocked(revocationStores, added, log, undefined, 'block_refresh');
  };
  const reloadPolicy = async (next: Config, generation?: number) => {
    const wasBlocked = policy.blocked;
    policy = new Policy(next);
    await revokeBlocked(
      revocationStores,
      next.clients.blocked.filter((id) => !wasBlocked.has(id)),
      log,
      sink,
      'policy_reload',
    );
    const at = generation === undefined ? {} : { generation };
    log.info({ roles: Object.keys(next.roles).length, resources: next.resources.length, ...at }, 'policy.reloaded');
    // the reload is done (it decides from now on): its record follows, a failure is logged (audit.write_failed)
    await recordNow(audit, [policyReloaded(next, generation)], log).catch(() => {});
  };
  // a reload asked of any process (the admin API, `baton policy reload`) reaches this one (policy/follow.ts)
  const follower = policyFollower({
    db: storage.db,
    log,
    file: options.configFile,
    current: () => ({ ...config, ...policy.source }),
    apply: reloadPolicy,
  });
  await follower.start();
  const now = { provider: () => current.provider, tokens: () => current, policy: () => policy };
  return {
    ...now,
    keystore,
    kek,
    accounts,
    idps,
    grants,
    cookieKeys,
    csrfKey,
    base,
    refreshKeys,
    reloadPolicy,
    follower,
    audit,
    blocked,
    refreshBlocks,
  };
}

/** one key set's provider and the state of the tokens it signs */
interface Current {
  provider: Provider;
  state: TokenState;
  /** the active private signing key (the key set's first) */
  signingKey: JWK;
}

/** What the app and the lifecycle need of the assembled server. */
interface Core {
  provider: () => Provider;
  tokens: () => Current;
  audit: AuditWriter;
  policy: () => Policy;
  keystore: KeyStore;
  /** the KEK (the upstream secrets' admin operations seal under it) */
  kek: Kek;
  accounts: AccountStore;
  idps: IdpRegistry;
  grants: ReturnType<typeof accountAccess>;
  cookieKeys: string[];
  csrfKey: string;
  base: string;
  refreshKeys: () => Promise<void>;
  reloadPolicy: (next: Config) => Promise<void>;
  follower: PolicyFollower;
  /** the blocked clients (configuration ∪ runtime) and the re-read of the runtime ones */
  blocked: BlockedClients;
  refreshBlocks: () => Promise<void>;
}

/** The KEK, the signing keys (one active), and the secrets every process shares (cookie and CSRF keys). */
async function loadSecrets(config: Config, storage: Storage) {
  const kek = resolveKek(config);
  const keystore = new KeyStore(storage.db, kek);
  await keystore.ensureActiveKey(config.keys.algorithm);
  const cookieKeys = JSON.parse(
    await sharedSecret(storage.db, kek, 'cookie_keys', () =>
      JSON.stringify([randomBytes(32).toString('base64url'), randomBytes(32).toString('base64url')]),
    ),
  ) as string[];
  const csrfKey = await sharedSecret(storage.db, kek, 'csrf_key', () => randomBytes(32).toString('base64url'));
  return { kek, keystore, cookieKeys, csrfKey };
}

/** The app on the bound listener, the admin socket, the background loops and the graceful close. */
async function serve(
  config: Config,
  log: Logger,
  storage: Storage,
  bound: Bound,
  metrics: Metrics | undefined,
  core: Core,
): Promise<RunningServer> {
  const background = startBackground(config, log, storage, core.refreshKeys, core.follower.follow, core.refreshBlocks);
  let shuttingDown = false;
  const handler = appFor(config, log, storage, metrics, core, () => shuttingDown).callback();
  bound.serve((req, res) => void handler(req, res));
  const { server, url, metricsListener } = bound;
  // the command line's admin operations reach the embedded store through this server (admin/socket.ts)
  const admin = storage.dataDir
    ? await serveAdminSocket(storage.dataDir, adminStores(config, log, storage, core), log).catch((err: Error) => {
        log.warn({ reason: err.message }, 'admin.socket_failed');
        return undefined;
      })
    : undefined;
  log.info(
    { url, issuer: config.issuer, storage: storage.kind, ...(metricsListener ? { metrics: metricsListener.url } : {}) },
    'server.listening',
  );
  const close = gracefulClose({
    server,
    metricsListener,
    admin,
    storage,
    log,
    onStart: () => {
      shuttingDown = true;
      background.stop();
    },
  });
  return {
    url,
    ...(metricsListener ? { metricsUrl: metricsListener.url } : {}),
    server,
    storage,
    keystore: core.keystore,
    accounts: core.accounts,
    provider: core.provider,
    refreshKeys: core.refreshKeys,
    reloadPolicy: core.reloadPolicy,
    close,
  };
}

/** What the admin operations run on in this server (the admin socket, the admin API). */
const adminStores = (config: Config, log: Logger, storage: Storage, core: Core): AdminStores => ({
  config,
  db: storage.db,
  accounts: core.accounts,
  keys: core.keystore,
  kek: core.kek,
  adapterFor: (m: string) => storage.adapterFor(m),
  policy: core.policy,
  reloadPolicy: core.follower.reload,
  check: () => storage.check(),
  log,
  blocked: core.blocked,
  refreshKeys: core.refreshKeys,
});

/**
 * The connect pages of brokered upstreams (issue #20), when a gateway has `oauth`: people connect their
 * accounts there; `baton gateway` uses the grants. A client secret `{ secret: NAME }` is read through a
 * secrets reader of this process (its timer unref'd: safe to leave).
 */
function connectFor(config: Config, storage: Storage, core: Core): Partial<Pick<AppDeps, 'connect'>> {
  const secret = brokeredGateways(config).some((g) => g.oauth.client_secret?.secret !== undefined)
    ? storedSecrets(config, storage.db).lookup
    : undefined;
  const parts = brokering(config, storage.db, core.kek, { secret });
  if (!parts) return {};
  return {
    connect: {
      issuer: config.issuer,
      tokens: core.tokens,
      replay: storage.adapterFor('ReplayDetection'),
      gateways: config.gateways,
      ...parts,
      steps: storage.adapterFor('ConnectLogin'),
      sink: core.audit,
      limiter: rateLimiter(
        storage.redis,
        `${config.storage.redis_key_prefix}connect`,
        config.admin_console.sign_in_rate_per_minute,
        60,
      ),
    },
  };
}

function appFor(
  config: Config,
  log: Logger,
  storage: Storage,
  metrics: Metrics | undefined,
  core: Core,
  isShuttingDown: () => boolean,
) {
  // what an IdP's signal (back-channel logout, global token revocation, SCIM) revokes through revoke()
  const revocation = {
    db: storage.db,
    adapterFor: (m: string) => storage.adapterFor(m),
    accounts: core.accounts,
    isStaticClient: (id: string) => core.policy().staticClients.has(id),
  };
  return createApp({
    issuer: config.issuer,
    log,
    storage,
    providers: { current: core.provider },
    interactions: {
      provider: core.provider,
      policy: core.policy,
      accounts: core.accounts,
      idps: core.idps,
      grants: core.grants,
      upstreamLogins: storage.adapterFor('UpstreamLogin'),
      throttle: loginThrottle(config, storage.redis),
      csrfKey: core.csrfKey,
      base: core.base,
      audit: core.audit,
    },
    trustProxy: config.listen.trust_proxy,
    cookieKeys: core.cookieKeys,
    isShuttingDown,
    ...(metrics ? { metrics: metrics.middleware } : {}),
    adminApi: {
      issuer: config.issuer,
      tokens: core.tokens,
      replay: storage.adapterFor('ReplayDetection'),
      run: (caller, name, args) =>
        runOperation(adminStores(config, log, storage, core), name, args, 'admin_api', caller),
    },
    adminConsole: {
      issuer: config.issuer,
      tokens: core.tokens,
      replay: storage.adapterFor('ReplayDetection'),
      store: new ConsoleStore(storage.adapterFor('AdminConsoleLogin'), storage.adapterFor('AdminConsoleSession')),
      signInLimiter: rateLimiter(
        storage.redis,
        `${config.storage.redis_key_prefix}admin-console-sign-in`,
        config.admin_console.sign_in_rate_per_minute,
        60,
      ),
      accounts: core.accounts,
      run: (caller, name, args) =>
        runOperation(adminStores(config, log, storage, core), name, args, 'admin_console', caller),
    },
    statusLists: {
      ttlSeconds: config.status_list.ttl_seconds,
      tokens: statusListTokens({
        issuer: config.issuer,
        db: storage.db,
        ttlSeconds: config.status_list.ttl_seconds,
        maxAgeSeconds: config.status_list.max_age_seconds,
        signingKey: () => {
          const jwk = core.tokens().signingKey;
          return { jwk, alg: jwk.alg ?? config.keys.algorithm };
        },
      }),
    },
    scim: {
      issuer: config.issuer,
      idps: config.identity_providers,
      config,
      db: storage.db,
      accounts: core.accounts,
      audit: core.audit,
      revocation,
    },
    ...connectFor(config, storage, core),
    auditIngest: {
      issuer: config.issuer,
      policy: core.policy,
      tokens: core.tokens,
      sink: core.audit,
      db: storage.db,
      replay: storage.adapterFor('ReplayDetection'),
      limiter: rateLimiter(
        storage.redis,
        `${config.storage.redis_key_prefix}audit-ingest`,
        config.audit.ingest_rate_per_minute,
        60,
      ),
    },
    globalTokenRevocation: {
      issuer: config.issuer,
      idps: core.idps,
      accounts: core.accounts,
      revocation,
      replay: storage.adapterFor('ReplayDetection'),
      audit: core.audit,
    },
    backChannelLogout: {
      idps: core.idps,
      db: storage.db,
      sessions: storage.adapterFor('Session'),
      replay: storage.adapterFor('ReplayDetection'),
      revocation,
      audit: config.audit.enabled ? core.audit : undefined,
    },
    ...(config.clients.registration.dcr.mode !== 'off'
      ? { registrationThrottle: registrationThrottle(config, storage.redis) }
      : {}),
  });
}
