#!/usr/bin/env node
/**
 * baton's command line. `baton start` runs the server; the rest are operations on its storage.
 *   baton start [--config FILE]
 *   baton gateway [--config FILE]
 *   baton config check [--config FILE]
 *   baton migrate latest|rollback|status [--config FILE]
 *   baton keys list|publish|activate KID|retire KID [--force] [--config FILE]
 *   baton clients list|show ID|block ID [--reason TEXT]|unblock ID [--config FILE]
 *   baton keys generate-kek
 *   baton keys rewrap [--config FILE]
 *   baton audit search|trace JTI|export|verify|checkpoints|key [--config FILE]
 *   baton secrets set NAME | rotate NAME [--overlap SECONDS] | list | delete NAME [--config FILE]  (values on stdin)
 * The config file comes from --config, else BATON_CONFIG, else config/development.yaml (embedded default).
 * Admin operations (accounts, clients, consents, keys but rewrap, audit, secrets: admin/operations.ts) run on the store, or, while a server
 * holds the embedded store, through that server's admin socket (admin/socket.ts), with the same output.
 * Exit codes: 0 ok, 1 runtime failure, 64 usage, 78 configuration error (one message, no stack trace).
 */
import { parseArgs } from 'node:util';
import { ConfigError, configPathFrom, loadConfigFile } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { KekError, generateKekValue, resolveKek } from './keys/kek.ts';
import { KeyStore, KeyStoreError } from './keys/keystore.ts';
import { rewrapSecrets } from './keys/rewrap.ts';
import { MAX_SECRET_BYTES } from './secrets/store.ts';
import { createLogger } from './logger.ts';
import { AccountStore } from './accounts/store.ts';
import { AdminError } from './admin/errors.ts';
import { adminEvent, AuditRecordError, failureOf, writeAdminRecords } from './admin/audit-record.ts';
import { printResult, resultStatus, runOperation } from './admin/operations.ts';
import { AdminUnavailableError, adminSocketPath, callAdminSocket } from './admin/socket.ts';
import { hashPassword } from './idp/password.ts';
import { StartupError, startServer } from './main.ts';
import { DataDirInUseError, openStorage, StorageError, type Storage } from './storage/index.ts';
import { migrationConfig } from '../../migrations/index.ts';
import { readFileSync } from 'node:fs';
import { ProvisionError } from './accounts/provision.ts';
import { RevocationIncomplete } from './revocation/revoke.ts';
import { DevIssuerError, mintDevIdJag } from './idp/dev-issuer.ts';

const USAGE = `usage: baton <command> [--config FILE]
  start                         run the server
  gateway                       run the gateway: each of gateways[] at its resource, forwarded to its
                                upstream MCP server with the upstream's credential (README "Gateway")
  config check                  validate the configuration file
  migrate latest|rollback|status
  keys list                     signing keys and their states
  keys publish                  add a new key to the JWKS (not signing yet)
  keys activate [--force] -- KID
                                make a published key the signing key
  keys retire [--force] -- KID  remove a retiring key from the JWKS
                                (a key id is a 43-character base64url RFC 7638 thumbprint and may begin with '-':
                                put it after '--' so it is not read as an option)
  keys generate-kek             print a new key-encryption key for keys.encryption_key
  keys rewrap                   re-encrypt every stored secret under the current KEK (after a KEK rotation)
  secrets set NAME              store a new upstream secret of the gateway, version 1; the value is read from
                                stdin (one line: a trailing newline is dropped), never an argument
                                (e.g. baton secrets set search-api < key.txt); refused when NAME exists
  secrets rotate NAME [--overlap SECONDS]
                                store the next version (value on stdin); every gateway process uses it within
                                its refresh; the previous version is handed out SECONDS more (default 0: none)
  secrets list                  names, current version, when stored, the previous version in its overlap
                                (never a value)
  secrets delete NAME           drop every version of NAME
                                (NAME: 1–64 of A-Z a-z 0-9 . _ -, the first a letter or a digit)
  users hash-password           read a password on stdin, print its scrypt hash (local directory)
  accounts list [--search TEXT] accounts: id, IdP, subject, roles, state (TEXT: part of a subject, email or name)
  accounts show ACCOUNT [--limit N] [--grants-after GID] [--tokens-after JTI]
                                one account, its live grants and access tokens (ids only; N ≤ 100 per page)
  accounts disable|enable ACCOUNT
                                a disabled account gets no token and no refresh
  accounts add --idp ID --subject SUB [--groups a,b] [--email E] [--name N]
                                create (or update) an account before its first sign-in (XAA)
  accounts import FILE          the same for every record of FILE (JSON lines or a YAML list of
                                {idp, subject, groups, email, name}): all or nothing
  clients list [--limit N] [--after ID]
                                static clients, then registered ones (N ≤ 100 a page): registration, grant
                                types, redirect hosts, live grants and tokens, blocked or not (never a secret)
  clients show ID               one client, the same, and what blocks it (the configuration, or an
                                administrator: who, when, why)
  clients tokens ID [--limit N] [--grants-after GID] [--tokens-after JTI]
                                its live grants and access tokens, each with its account (N ≤ 100 a page)
  clients block ID [--reason TEXT]
                                block a client now, as clients.blocked does: unknown at its next request,
                                its tokens and those exchanged through it revoked (every process within
                                clients.block_refresh_interval_seconds)
  clients unblock ID            let a client blocked this way in again (new tokens only)
  health                        storage health: PostgreSQL answers, migrations current, Redis answers
  overview                      resources, clients, accounts; tokens issued and requests refused in the last hour
                                (when configured); exit 1 when not
  policy show                   the policy in force (roles, bindings, resources, clients without secrets,
                                delegation, identity chaining) and its SHA-256 (as policy.reloaded records it)
  policy reload                 every running server re-reads its configuration file and swaps the policy as
                                SIGHUP does (an invalid file is refused, the old policy stays): on the embedded
                                store through the running server, on PostgreSQL every server within
                                keys.refresh_interval_seconds (their files must say the same)
  dev mint-id-jag --subject SUB --client ID --resource URL [--scope S]
                                development mode: print an ID-JAG of the development XAA issuer
  consents revoke ACCOUNT [--client ID]
                                forget remembered consents (the user is asked again)
  audit search [--account A] [--client ID] [--agent ID] [--resource URL] [--tool NAME] [--type T]
               [--outcome O] [--jti J] [--since TIME] [--until TIME] [--after SEQ] [--limit N] [--json]
                                the audit trail (A: baton's id or the IdP subject; --agent: the client
                                or any actor of the chain; --tool: a tool an MCP server reported; TIME:
                                ISO 8601)
  audit trace JTI [--json]      the token tree JTI belongs to, and every event naming one of its tokens
  audit export [--since TIME] [--after SEQ] [--limit N]
                                JSON lines, oldest first (up to 100,000: continue with --after SEQ)
  audit verify [--checkpoints FILE] [--key FILE]   (--key: a JWK or a JWKS)
                                check the hash chain and the signed checkpoints, against exported ones
                                (FILE: JSON lines, e.g. the audit.checkpoint log lines); exit 1 when not intact
  audit checkpoints             the signed checkpoints, as JSON lines (to keep off the database)
  audit key [--all]             the audit key's public JWK (verifies the checkpoints); --all: a JWKS
                                of it and every retired one (pin it: verify --key FILE)
  audit rotate-key              the current key seals the head and retires; a new key signs from now on
  revoke user ACCOUNT | client ID | grant GID | token JTI
                                cut off every token the target reaches, on every hop of its exchanges
                                (introspection and the Token Status List), with its grants, refresh
                                tokens and, for a user, consents; prints what it revoked
  access matrix                 who can reach which resource, with which scopes, and why: each scope, the
                                roles granting it, the IdP groups bound to them, the known accounts in them
  access person ACCOUNT         one person's resources and scopes (by which group and role), and the
                                token exchanges (delegation) their tokens may take
  (ACCOUNT: baton's id u_..., IDP:SUBJECT, or an IdP subject, username or email that names one account.
   accounts, clients, policy, health, overview, consents, keys (but rewrap), audit, revoke, access and secrets also work
   while the server runs on the embedded store.)`;

class UsageError extends Error {}

/**
 * parseArgs reads an id that begins with '-' (a key id, a jti: base64url, 43 characters) as options: say so
 * instead of a bare "unknown option", with the command as it should be written.
 */
function usageMessage(err: Error, argv: string[]): string {
  if (!(err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) return err.message;
  const at = argv.findIndex((a) => /^-[A-Za-z0-9_-]{42}$/.test(a));
  if (at < 0) return err.message;
  const id = argv[at]!;
  const command: string[] = [];
  for (const a of argv.slice(0, at)) {
    if (a.startsWith('-')) break;
    command.push(a);
  }
  if (command[0] === 'keys' || command.length === 0)
    return `${id} looks like a key id: put it after '--', as in: baton keys activate -- ${id}`;
  return `${id} begins with '-': put it after '--', as in: baton ${command.join(' ')} -- ${id}`;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      force: { type: 'boolean' },
      client: { type: 'string' },
      reason: { type: 'string' },
      search: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      // accounts add, dev mint-id-jag
      idp: { type: 'string' },
      subject: { type: 'string' },
      groups: { type: 'string' },
      email: { type: 'string' },
      name: { type: 'string' },
      resource: { type: 'string' },
      scope: { type: 'string' },
      // audit
      account: { type: 'string' },
      agent: { type: 'string' },
      tool: { type: 'string' },
      type: { type: 'string' },
      outcome: { type: 'string' },
      jti: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      after: { type: 'string' },
      limit: { type: 'string' },
      'grants-after': { type: 'string' },
      'tokens-after': { type: 'string' },
      json: { type: 'boolean' },
      all: { type: 'boolean' },
      checkpoints: { type: 'string' },
      key: { type: 'string' },
      // secrets rotate
      overlap: { type: 'string' },
    },
  });
  const [command, sub, arg] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 64;
  }
  if (command === 'keys' && sub === 'generate-kek') {
    process.stdout.write(`${generateKekValue()}\n`);
    return 0;
  }
  if (command === 'users' && sub === 'hash-password') {
    const password = (await readStdin()).replace(/\r?\n$/, '');
    if (!password) throw new UsageError('users hash-password reads the password on stdin');
    process.stdout.write(`${await hashPassword(password)}\n`);
    return 0;
  }
  const path = configPathFrom(values.config, process.env);
  const config = loadConfigFile(path);
  const request =
    command === 'secrets' ? await secretsRequest(sub, arg, values) : adminRequest(command, sub, arg, values);
  if (request) return admin(config, request);

  switch (command) {
    case 'start':
      return start(config, path);
    case 'gateway':
      return gateway(config);
    case 'config':
      if (sub !== 'check') throw new UsageError(`unknown: config ${sub ?? ''}`);
      process.stdout.write(
        `${path}: ok (issuer ${config.issuer}, ${config.resources.length} resources, ${config.clients.static.length} static clients)\n`,
      );
      return 0;
    case 'migrate':
      return migrate(config, sub);
    case 'keys':
      return keys(config, sub);
    case 'accounts':
      throw new UsageError('accounts list|show ACCOUNT|disable ACCOUNT|enable ACCOUNT|add|import FILE');
    case 'dev':
      if (sub === 'mint-id-jag') return devMintIdJag(config, values);
      throw new UsageError(`unknown: dev ${sub ?? ''}`);
    case 'consents':
      throw new UsageError('consents revoke ACCOUNT [--client ID]');
    case 'policy':
      throw new UsageError('policy show|reload');
    case 'clients':
      throw new UsageError('clients list [--limit N] [--after ID] | show ID | block ID [--reason TEXT] | unblock ID');
    case 'revoke':
      throw new UsageError('revoke user ACCOUNT | client ID | grant GID | token JTI');
    case 'access':
      throw new UsageError('access matrix | person ACCOUNT');
    case 'audit':
      throw new UsageError('audit search|trace JTI|export|verify|checkpoints|key|rotate-key');
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

async function start(config: Config, path: string): Promise<number> {
  const log = createLogger(config.logging.level, undefined, config.logging.format);
  const running = await startServer(config, log, { configFile: path });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'server.draining');
      running.close().then(resolve, (err: Error) => {
        log.error({ err }, 'server.close_failed');
        resolve();
      });
    };
    // SIGHUP: reload the policy (roles, bindings, resources, static and blocked clients, delegation and
    // identity_chaining rules); an invalid file is refused and the old policy kept
    process.on('SIGHUP', () => {
      try {
        void running.reloadPolicy(loadConfigFile(path));
      } catch (err) {
        log.error({ reason: (err as Error).message }, 'policy.reload_refused');
      }
    });
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

/**
 * `baton gateway` until SIGTERM or SIGINT (calls in flight get 10 s to finish). Its module is loaded here
 * only: the other commands do not need what it imports.
 */
/**
 * What the gateways keep in PostgreSQL (the gateway runs beside the servers; the embedded store belongs to
 * the one server that holds it): the stored secrets of those that name one (a lookup of the current value),
 * and the people's grants at brokered upstreams (issue #20: the broker, with its audit records); their close.
 */
async function gatewayStore(config: Config, log: ReturnType<typeof createLogger>) {
  const { storedSecrets, usesStoredSecrets } = await import('./secrets/stored.ts');
  const { brokering, broker } = await import('./brokering/index.ts');
  const brokered = config.gateways.some((g) => g.oauth);
  if (!usesStoredSecrets(config) && !brokered) return undefined;
  if (!config.storage.postgres)
    throw new UsageError(
      'gateway: a credential { secret: NAME } and an oauth upstream keep their state in PostgreSQL (storage.postgres); on the embedded store use { env: VAR } or { file: PATH }',
    );
  const storage = await openStorage(config, log);
  const secrets = usesStoredSecrets(config) ? storedSecrets(config, storage.db, log) : undefined;
  const parts = brokering(config, storage.db, resolveKek(config), { secret: secrets?.lookup });
  const { sharedAuditWriter } = await import('./audit/writer.ts');
  const audit = sharedAuditWriter(storage.db, { events: config.audit.enabled });
  return {
    lookup: secrets?.lookup,
    broker: parts
      ? broker({
          issuer: config.issuer,
          grants: parts.grants,
          auth: parts.upstream,
          tickets: parts.tickets,
          audit: (event) =>
            void audit
              .write({ audit: [event] })
              .catch((err: Error) => log.error({ reason: err.message }, 'audit.write_failed')),
        })
      : undefined,
    close: async () => {
      secrets?.close();
      await storage.close();
    },
  };
}

async function gateway(config: Config): Promise<number> {
  const log = createLogger(config.logging.level, undefined, config.logging.format);
  if (config.gateways.length === 0) throw new UsageError('gateway: the configuration has no gateways');
  const { startGateway, credentialSource, sessionKey, gatewayReplayStore } = await import('./gateway/index.ts');
  const replay = await gatewayReplayStore(config, log);
  // `credential: { secret: NAME }`: the upstream secrets store (secrets/stored.ts); `oauth`: the broker
  const secrets = await gatewayStore(config, log);
  const running = await startGateway(config, {
    credential: credentialSource(config.gateways, secrets?.lookup ? { secret: secrets.lookup } : {}),
    ...(secrets?.broker ? { broker: secrets.broker } : {}),
    log,
    // one key for every gateway process: MCP session ids handed out by one are honoured by the others
    sessionKey: sessionKey(config.keys.encryption_key),
    dpopReplay: replay.store,
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'gateway.draining');
      running
        .close()
        .then(() => replay.close())
        .then(() => secrets?.close())
        .then(resolve, (err: Error) => {
          log.error({ err }, 'gateway.close_failed');
          resolve();
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

/** Runs fn on the store; `what` names the command when a running server holds the embedded store. */
async function withStorage<T>(config: Config, what: string, fn: (s: Storage) => Promise<T>): Promise<T> {
  let storage: Storage;
  try {
    storage = await openStorage(config, createLogger('warn'));
  } catch (err) {
    if (!(err instanceof DataDirInUseError)) throw err;
    throw new StorageError(
      `storage.data_dir: ${err.dir} is in use by process ${err.pid} (a running baton?); stop it first: \`baton ${what}\` needs the embedded store to itself`,
    );
  }
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

async function migrate(config: Config, sub: string | undefined): Promise<number> {
  return withStorage(config, `migrate ${sub ?? ''}`.trim(), async (storage) => {
    if (sub === 'latest' || sub === 'rollback') {
      const names = await storage.migrate(sub);
      process.stdout.write(names.length ? `${sub}: ${names.join(', ')}\n` : `${sub}: nothing to do\n`);
      return 0;
    }
    if (sub === 'status') {
      const [done, pending] = (await storage.db.migrate.list(migrationConfig)) as [
        { name: string }[],
        { file: string }[],
      ];
      for (const m of done) process.stdout.write(`applied  ${m.name}\n`);
      for (const m of pending) process.stdout.write(`pending  ${m.file}\n`);
      return pending.length ? 1 : 0;
    }
    throw new UsageError('migrate latest|rollback|status');
  });
}

/**
 * `keys rewrap`: re-encrypts every stored secret under the current KEK (it needs the store itself: not an
 * admin operation the server runs). Refused or failed, it has its admin.operation record too. The other
 * `keys` commands are admin operations (admin/key-operations.ts).
 */
async function keys(config: Config, sub: string | undefined): Promise<number> {
  if (sub !== 'rewrap') throw new UsageError('keys list|publish|activate KID|retire KID|rewrap|generate-kek');
  return withStorage(config, 'keys rewrap', async (storage) => {
    try {
      return await rewrap(storage, config);
    } catch (err) {
      if (!(err instanceof AuditRecordError))
        await writeAdminRecords(storage.db, 'keys.rewrap', [
          adminEvent(
            'keys.rewrap',
            err instanceof KeyStoreError ? { outcome: 'refused', reason: 'keystore_refused' } : failureOf(err),
            'store',
          ),
        ]).catch(() => {});
      throw err;
    }
  });
}

/**
 * The rewrap and its audit records once it is done (issue #13): `keys.changed` and its `admin.operation`, in
 * one write; AuditRecordError (exit 1) when they could not be written.
 */
async function rewrap(storage: Storage, config: Config): Promise<number> {
  const kek = resolveKek(config);
  const counts = await rewrapSecrets(storage.db, kek);
  await writeAdminRecords(storage.db, 'keys.rewrap', [
    {
      type: 'keys.changed',
      outcome: 'success',
      details: { action: 'rewrapped', kid: kek.id, operation: 'keys.rewrap', via: 'store' },
    },
    adminEvent('keys.rewrap', { outcome: 'success' }, 'store'),
  ]);
  process.stdout.write(
    `re-encrypted under KEK ${kek.id}: ${counts.signing_keys} signing key(s), ${counts.server_secrets} server secret(s), ${counts.accounts} upstream refresh token(s), ${counts.client_secrets} client secret(s), ${counts.upstream_secrets} gateway secret version(s), ${counts.upstream_grants} brokered token(s); keys.previous_encryption_keys can now be emptied\n`,
  );
  return 0;
}

interface AdminRequest {
  /** an operation of admin/operations.ts */
  name: string;
  args: Record<string, unknown>;
  /** the command, for messages */
  command: string;
}

/** The commands that are admin operations, as an operation name and its arguments. */
/** `revoke TARGET X`: the operation's argument and how the usage names it */
const REVOKE_ARGS = {
  user: ['account', 'ACCOUNT'],
  client: ['client', 'ID'],
  grant: ['grant', 'GID'],
  token: ['jti', 'JTI'],
} as const;

/** `--limit N` as the operation's number (its range is the operation's to check) */
function limitArg(values: Record<string, string | boolean | undefined>): { limit?: number } {
  if (values.limit === undefined) return {};
  if (!/^\d{1,15}$/.test(String(values.limit))) throw new UsageError('--limit takes a number');
  return { limit: Number(values.limit) };
}

/** The read commands of the admin API's console (accounts show, clients, policy, health), and policy reload. */
function readRequest(
  what: string,
  arg: string | undefined,
  values: Record<string, string | boolean | undefined>,
): AdminRequest | undefined {
  const account = (usage: string) => {
    if (!arg) throw new UsageError(usage);
    return arg;
  };
  switch (what) {
    case 'accounts show': {
      return {
        name: 'accounts.show',
        args: {
          account: account('accounts show ACCOUNT [--limit N] [--grants-after GID] [--tokens-after JTI]'),
          ...limitArg(values),
          ...(values['grants-after'] !== undefined ? { grants_after: values['grants-after'] } : {}),
          ...(values['tokens-after'] !== undefined ? { tokens_after: values['tokens-after'] } : {}),
        },
        command: what,
      };
    }
    case 'health':
      return { name: 'health', args: {}, command: what };
    case 'overview':
      return { name: 'overview', args: {}, command: what };
    case 'policy show':
      return { name: 'policy.show', args: {}, command: what };
    case 'policy reload':
      return { name: 'policy.reload', args: {}, command: what };
    case 'clients list':
      return {
        name: 'clients.list',
        args: { ...limitArg(values), ...(values.after ? { after: values.after } : {}) },
        command: what,
      };
    case 'clients tokens':
      if (!arg) throw new UsageError('clients tokens ID [--limit N] [--grants-after GID] [--tokens-after JTI]');
      return {
        name: 'clients.tokens',
        args: {
          client: arg,
          ...limitArg(values),
          ...(values['grants-after'] !== undefined ? { grants_after: values['grants-after'] } : {}),
          ...(values['tokens-after'] !== undefined ? { tokens_after: values['tokens-after'] } : {}),
        },
        command: what,
      };
    case 'clients show':
      if (!arg) throw new UsageError('clients show ID');
      return { name: 'clients.show', args: { client: arg }, command: what };
    case 'clients block':
      if (!arg) throw new UsageError('clients block ID [--reason TEXT]');
      return {
        name: 'clients.block',
        args: { client: arg, ...(values.reason !== undefined ? { reason: values.reason } : {}) },
        command: what,
      };
    case 'clients unblock':
      if (!arg) throw new UsageError('clients unblock ID');
      return { name: 'clients.unblock', args: { client: arg }, command: what };
    default:
      return undefined;
  }
}

function adminRequest(
  command: string,
  sub: string | undefined,
  arg: string | undefined,
  values: Record<string, string | boolean | undefined>,
): AdminRequest | undefined {
  const what = `${command} ${sub ?? ''}`.trim();
  const account = (usage: string) => {
    if (!arg) throw new UsageError(usage);
    return arg;
  };
  switch (what) {
    case 'accounts list':
      return {
        name: 'accounts.list',
        args: values.search !== undefined ? { search: values.search } : {},
        command: what,
      };
    case 'accounts disable':
    case 'accounts enable':
      return { name: `accounts.${sub}`, args: { account: account(`${what} ACCOUNT`) }, command: what };
    case 'consents revoke':
      return {
        name: 'consents.revoke',
        args: {
          account: account('consents revoke ACCOUNT [--client ID]'),
          ...(values.client ? { client: values.client } : {}),
        },
        command: what,
      };
    case 'keys list':
      return { name: 'keys.list', args: {}, command: what };
    case 'keys publish':
      return { name: 'keys.publish', args: {}, command: what };
    case 'keys activate':
    case 'keys retire': {
      if (!arg) throw new UsageError(`${what} [--force] -- KID`);
      return { name: `keys.${sub}`, args: { kid: arg, ...(values.force ? { force: true } : {}) }, command: what };
    }
    case 'accounts add': {
      if (!values.idp || !values.subject)
        throw new UsageError('accounts add --idp ID --subject SUB [--groups a,b] [--email E] [--name N]');
      const groups = String(values.groups ?? '')
        .split(',')
        .map((g) => g.trim())
        .filter(Boolean);
      const record = {
        idp: values.idp,
        subject: values.subject,
        groups,
        ...(values.email !== undefined ? { email: values.email } : {}),
        ...(values.name !== undefined ? { name: values.name } : {}),
      };
      return { name: 'accounts.add', args: record, command: what };
    }
    case 'accounts import': {
      if (!arg) throw new UsageError('accounts import FILE');
      let content: string;
      try {
        content = readFileSync(arg, 'utf8');
      } catch (err) {
        throw new ProvisionError(`cannot read ${arg}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      return { name: 'accounts.import', args: { content }, command: what };
    }
    case 'access matrix':
      return { name: 'access.matrix', args: {}, command: what };
    case 'access person':
      return { name: 'access.person', args: { account: account('access person ACCOUNT') }, command: what };
    case 'revoke user':
    case 'revoke client':
    case 'revoke grant':
    case 'revoke token': {
      const [name, shown] = REVOKE_ARGS[sub as keyof typeof REVOKE_ARGS];
      if (!arg) throw new UsageError(`${what} ${shown}`);
      return { name: `revoke.${sub}`, args: { [name]: arg }, command: what };
    }
    default:
      return what.startsWith('audit ') ? auditRequest(what, arg, values) : readRequest(what, arg, values);
  }
}

/** `baton audit …`: the options as the operation's arguments (checked by the operation). */
function auditRequest(
  what: string,
  arg: string | undefined,
  v: Record<string, string | boolean | undefined>,
): AdminRequest | undefined {
  const pick = (...names: string[]) =>
    Object.fromEntries(names.filter((n) => v[n] !== undefined).map((n) => [n, v[n]]));
  const numbers = (...names: string[]) =>
    Object.fromEntries(
      names
        .filter((n) => v[n] !== undefined)
        .map((n) => {
          if (!/^\d{1,15}$/.test(String(v[n]))) throw new UsageError(`--${n} takes a number`);
          return [n, Number(v[n])];
        }),
    );
  const readArg = (option: 'checkpoints' | 'key') => {
    const file = v[option];
    if (typeof file !== 'string') return {};
    try {
      return { [option]: readFileSync(file, 'utf8') };
    } catch (err) {
      throw new UsageError(`--${option}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  const request = (name: string, args: Record<string, unknown>) => ({ name, args, command: what });
  switch (what) {
    case 'audit search':
      return request('audit.search', {
        ...pick('account', 'client', 'agent', 'resource', 'tool', 'type', 'outcome', 'jti', 'since', 'until', 'json'),
        ...numbers('after', 'limit'),
      });
    case 'audit trace':
      if (!arg) throw new UsageError('audit trace JTI [--json]');
      return request('audit.trace', { jti: arg, ...pick('json') });
    case 'audit export':
      return request('audit.export', { ...pick('since'), ...numbers('after', 'limit') });
    case 'audit verify':
      return request('audit.verify', { ...readArg('checkpoints'), ...readArg('key') });
    case 'audit checkpoints':
      return request('audit.checkpoints', {});
    case 'audit key':
      return request('audit.key', { ...pick('all') });
    case 'audit rotate-key':
      return request('audit.rotate_key', {});
    default:
      return undefined;
  }
}

/**
 * Runs an admin operation on the store; when a live process holds the embedded store, asks it through its
 * admin socket instead (the server serves one; the output is the same).
 */
async function admin(config: Config, request: AdminRequest): Promise<number> {
  let result: unknown;
  try {
    const storage = await openStorage(config, createLogger('warn'));
    try {
      const kek = resolveKek(config);
      const stores = {
        config,
        db: storage.db,
        accounts: new AccountStore(storage.db, kek),
        keys: new KeyStore(storage.db, kek),
        kek,
        adapterFor: (model: string) => storage.adapterFor(model),
        check: () => storage.check(),
        // a read of the audit trail still answers when its own record failed: the operator is told here
        log: { error: (o: { reason?: string }, msg: string) => process.stderr.write(`baton: ${msg}: ${o.reason}\n`) },
      };
      result = await runOperation(stores, request.name, request.args);
    } finally {
      await storage.close();
    }
  } catch (err) {
    if (!(err instanceof DataDirInUseError)) throw err;
    result = await callAdminSocket(err.dir, request.name, request.args).catch((cause: unknown) => {
      if (!(cause instanceof AdminUnavailableError)) throw cause;
      throw new StorageError(
        `storage.data_dir: ${err.dir} is in use by process ${err.pid}, which does not answer on ${adminSocketPath(err.dir)} (still starting? not a baton server? a server that could not open it logged admin.socket_failed); try again, or stop it to run \`baton ${request.command}\``,
      );
    });
  }
  process.stdout.write(printResult(request.name, result));
  return resultStatus(request.name, result);
}

/**
 * `baton secrets …` as an operation (admin/secret-operations.ts). `set` and `rotate` read the value from stdin
 * (never an argument: it would sit in the shell's history and the process list), one trailing newline
 * dropped; the operation refuses an empty value, a line break inside, more than 8 KiB.
 */
async function secretsRequest(
  sub: string | undefined,
  arg: string | undefined,
  values: Record<string, string | boolean | undefined>,
): Promise<AdminRequest> {
  const what = `secrets ${sub ?? ''}`.trim();
  if (sub === 'list') return { name: 'secrets.list', args: {}, command: what };
  const usage = { set: 'NAME', rotate: 'NAME [--overlap SECONDS]', delete: 'NAME' }[String(sub)];
  if (!usage) throw new UsageError('secrets set NAME | rotate NAME [--overlap SECONDS] | list | delete NAME');
  if (!arg) throw new UsageError(`${what} ${usage}  (the value on stdin)`);
  if (values.overlap !== undefined && sub !== 'rotate') throw new UsageError('--overlap is for secrets rotate');
  if (sub === 'delete') return { name: 'secrets.delete', args: { name: arg }, command: what };
  let overlap = {};
  if (values.overlap !== undefined) {
    if (!/^\d{1,15}$/.test(String(values.overlap))) throw new UsageError('--overlap takes a number of seconds');
    overlap = { overlap_seconds: Number(values.overlap) };
  }
  if (process.stdin.isTTY) process.stderr.write(`baton: the value of ${arg}, then Ctrl-D (it is not an argument):\n`);
  // a little more than the largest value: enough to tell that it is too long without reading on forever
  const value = (await readStdin(MAX_SECRET_BYTES + 3)).replace(/\r?\n$/, '');
  return { name: `secrets.${sub}`, args: { name: arg, value, ...overlap }, command: what };
}

/** `dev mint-id-jag`: an ID-JAG signed with the development XAA issuer's shipped key (development mode only). */
async function devMintIdJag(
  config: Config,
  o: { subject?: string; client?: string; resource?: string; scope?: string },
): Promise<number> {
  if (!o.subject || !o.client || !o.resource)
    throw new UsageError('dev mint-id-jag --subject SUB --client ID --resource URL [--scope S]');
  process.stdout.write(
    `${await mintDevIdJag(config, { subject: o.subject, clientId: o.client, resource: o.resource, ...(o.scope ? { scope: o.scope } : {}) })}\n`,
  );
  return 0;
}

/** stdin as text; with `limit`, its first `limit` bytes and what follows is not read */
async function readStdin(limit = Infinity): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= limit) break;
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError || err instanceof KekError) {
      process.stderr.write(`baton: ${err.message}\n`);
      process.exitCode = 78;
    } else if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`baton: ${usageMessage(err as Error, process.argv.slice(2))}\n${USAGE}\n`);
      process.exitCode = 64;
    } else if (
      err instanceof StorageError ||
      err instanceof StartupError ||
      err instanceof KeyStoreError ||
      err instanceof AdminError ||
      err instanceof AuditRecordError ||
      err instanceof RevocationIncomplete ||
      err instanceof ProvisionError ||
      err instanceof DevIssuerError
    ) {
      process.stderr.write(`baton: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`baton: unexpected failure: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
