/**
 * npm run bench: token exchange and ID-JAG redemption on real Redis and PostgreSQL, side by side in the same
 * run with bare oidc-provider client_credentials on the same key type (ES256), as is and with the one write
 * per token each baton grant makes (a lineage row, a replay record). Each baton row (client_credentials,
 * exchange, ID-JAG redemption) is followed by its twin on a second baton process with the audit trail off
 * (`audit.enabled: false`), so the cost of the audit write reads off one run. Reports req/s, p50/p99, the
 * ratio to the baseline, and the CPU time per request of the server and of PostgreSQL + Redis (from
 * /proc). Then bench/revocation.ts: the verifier's rate with status checking on and off, and the time from
 * `baton revoke user` to the first refusal at an MCP server and at a downstream service (issue #14). Then
 * bench/gateway.ts: MCP tool calls through `baton gateway` against straight to the upstream (issue #16).
 * A benchmark, not a test: it asserts nothing, it reports figures.
 *   BENCH_SECONDS (default 10) per scenario (the warm-up before each is 2 s, or BENCH_SECONDS if shorter),
 *   BENCH_CONNECTIONS (default 10), BENCH_ONLY=<regex> (the baseline and the matching rows), BENCH_ID_JAGS
 *   (single-use assertions per ID-JAG row), BENCH_NODE_ARGS (e.g. --cpu-prof, for every measured server
 *   process).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { startServer } from '../server/src/main.ts';
import { createLogger } from '../server/src/logger.ts';
import { makeConfig, freshDatabase, redisPrefix, requireEnv, RESOURCES } from '../server/test/helpers.ts';
import { codeForm, seedAccount, seedCode } from '../server/test/seed.ts';
import { startHostileIdp } from '../server/test/idp/hostile-idp.ts';
import { CLI, writeConfig } from '../server/test/processes.ts';
import { removeTempDirs } from '../server/test/temp.ts';
import { revocationBench } from './revocation.ts';
import { gatewayBench } from './gateway.ts';
import { cpuMicros, nodeArgs } from './cpu.ts';

const rows: Row[] = [];
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
/** the warm-up before each row (never longer than the row itself) */
const WARM_UP = Math.min(2, SECONDS);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const SECRET = 'bench-secret-0123456789abcdef0123';
const COST = 'https://cost.internal.example.com';
const LOGS = 'https://logs.mcp.example.com/mcp';
const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

interface Row {
  name: string;
  rps: number;
  /** CPU time of the server process, and of every PostgreSQL and Redis process, per request (µs) */
  serverCpu: number;
  storageCpu: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

const STORAGE_COMMANDS = ['postgres', 'redis-server'];
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY, 'i') : undefined;

async function run(
  name: string,
  target: { url: string; pid: number },
  opts: { body?: string; bodies?: string[]; auth: string },
): Promise<Row> {
  const url = target.url;
  if (ONLY && !ONLY.test(name) && rows.length)
    return { name, rps: NaN, serverCpu: NaN, storageCpu: NaN, p50: NaN, p99: NaN, non2xx: 0, errors: 0 };
  let i = 0;
  const request = {
    method: 'POST' as const,
    path: '/token',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(opts.auth).toString('base64')}`,
    },
    ...(opts.bodies
      ? { setupRequest: (req: autocannon.Request) => ({ ...req, body: opts.bodies![i++ % opts.bodies!.length] }) }
      : { body: opts.body }),
  } as autocannon.Request;
  await autocannon({ url, connections: CONNECTIONS, duration: WARM_UP, requests: [request] }); // warm-up (never reuses a body)
  const [server0, storage0] = [cpuMicros([target.pid]), cpuMicros([], STORAGE_COMMANDS)];
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, requests: [request] });
  const served = r.requests.total;
  return {
    name,
    rps: r.requests.average,
    serverCpu: (cpuMicros([target.pid]) - server0) / served,
    storageCpu: (cpuMicros([], STORAGE_COMMANDS) - storage0) / served,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

const services = { db: await freshDatabase(), redis: requireEnv('TEST_REDIS_URL') };
const idp = await startHostileIdp();
const base = makeConfig();
const config = makeConfig({
  storage: { postgres: services.db.url, redis: services.redis, redis_key_prefix: redisPrefix(), postgres_pool_max: 30 },
  logging: { level: 'warn' },
  resources: [{ ...RESOURCES[0]!, client_id: 'logs-mcp' }, RESOURCES[1]!],
  identity_providers: [
    ...base.identity_providers,
    { id: 'corp', type: 'oidc', issuer: idp.issuer, client_id: 'baton', accept_id_jag: true },
  ],
  role_bindings: { ...base.role_bindings, corp: { developers: ['developer'] } },
  clients: {
    static: [
      ...base.clients.static,
      {
        client_id: 'bench',
        kind: 'service',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        scopes: ['cost.read'],
      },
      { client_id: 'logs-mcp', kind: 'mcp_server', client_secret: SECRET, grant_types: ['client_credentials'] },
      { client_id: 'xaa-app', kind: 'agent', client_secret: SECRET, grant_types: [JWT_BEARER] },
    ],
  },
  delegation: [{ actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'] }],
});

// the measured processes: bare oidc-provider (twice: as is, and with one durable write per token) and baton,
// each its own process, on the same 2 cores as the load
function startBare(env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [...nodeArgs(), new URL('./bare-provider.ts', import.meta.url).pathname], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const url = new Promise<string>((ok) =>
    createInterface({ input: child.stdout }).once('line', (l) => ok((JSON.parse(l) as { url: string }).url)),
  );
  return { child, url };
}
const bare = startBare();
const bareUrl = await bare.url;
// baton logs warnings only here, as a production deployment might; the request log is measured separately.
// Two baton processes on the one store: the audit trail on (the default), and off (`audit.enabled: false`:
// the token lineage is still written), so that each baton row has its audit-off twin in the same run.
function startBaton(port: number, overrides: Record<string, unknown> = {}) {
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs(),
      CLI,
      'start',
      '--config',
      writeConfig({ ...config, ...overrides, listen: { host: '127.0.0.1', port } }),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const url = `http://127.0.0.1:${port}`;
  return {
    target: { url, pid: child.pid! },
    stop: () => new Promise((ok) => child.once('exit', ok).kill('SIGTERM')),
    ready: async () => {
      for (let ready = false; !ready;) {
        ready = await fetch(`${url}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
        if (!ready) await new Promise((ok) => setTimeout(ok, 100));
      }
    },
  };
}
const baton = startBaton(9470);
const batonTarget = baton.target;
await baton.ready(); // it migrates the database: the second one starts after
const batonAuditOff = startBaton(9471, { audit: { ...config.audit, enabled: false } });
await batonAuditOff.ready();

// after baton has migrated the database: the bare baseline plus the lineage write
const bareWriting = startBare({ BARE_LINEAGE_DB: services.db.url });
const bareWritingUrl = await bareWriting.url;
const bareClaiming = startBare({ BARE_REPLAY_REDIS: services.redis });
const bareClaimingUrl = await bareClaiming.url;

// a subject token (Alice, through the authorization code flow) and a pool of single-use ID-JAGs
const seeder = await startServer(config, createLogger('silent'));
const account = await seedAccount(seeder.accounts);
await seeder.accounts.recordLogin({
  idpId: 'corp',
  idpIssuer: idp.issuer,
  idpSubject: 'alice',
  profile: {},
  groups: ['developers'],
  roles: ['developer'],
});
const code = await seedCode(seeder.provider(), account);
const subject = (await (
  await fetch(`${batonTarget.url}/token`, { method: 'POST', body: new URLSearchParams(codeForm(code)) })
).json()) as { access_token: string };
const now = Math.floor(Date.now() / 1000);
const pool = await Promise.all(
  // single-use assertions: enough for the warm-up and the run at up to 7,000 req/s, for each of the two rows
  Array.from({ length: 2 * Number(process.env.BENCH_ID_JAGS ?? (SECONDS + WARM_UP) * 7000) }, () =>
    idp.sign({
      iss: idp.issuer,
      sub: 'alice',
      aud: config.issuer,
      client_id: 'xaa-app',
      jti: randomUUID(),
      iat: now,
      exp: now + 280,
      resource: LOGS,
      scope: 'logs.read',
    }),
  ),
);
const jagBodies = pool.map((a) => new URLSearchParams({ grant_type: JWT_BEARER, assertion: a }).toString());
const jagHalves = [jagBodies.slice(0, jagBodies.length / 2), jagBodies.slice(jagBodies.length / 2)];

rows.push(
  await run(
    'bare oidc-provider client_credentials (ES256, memory)',
    { url: bareUrl, pid: bare.child.pid! },
    {
      auth: `bench:${SECRET}`,
      body: `grant_type=client_credentials&resource=${encodeURIComponent(COST)}`,
    },
  ),
);
rows.push(
  await run(
    'bare + one lineage row per token (PostgreSQL)',
    { url: bareWritingUrl, pid: bareWriting.child.pid! },
    {
      auth: `bench:${SECRET}`,
      body: `grant_type=client_credentials&resource=${encodeURIComponent(COST)}`,
    },
  ),
);
rows.push(
  await run(
    'bare + one replay record per token (Redis SET NX)',
    { url: bareClaimingUrl, pid: bareClaiming.child.pid! },
    {
      auth: `bench:${SECRET}`,
      body: `grant_type=client_credentials&resource=${encodeURIComponent(COST)}`,
    },
  ),
);
const exchangeBody = new URLSearchParams({
  grant_type: TE,
  subject_token: subject.access_token,
  subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
  resource: COST,
}).toString();
type RunOptions = Parameters<typeof run>[2];
// each baton row, then its twin with the audit trail off: the same requests, on the second process (the
// ID-JAG rows each get their own half of the single-use pool)
const twins: [string, (half: 0 | 1) => RunOptions][] = [
  [
    'baton client_credentials (ES256, PG+Redis)',
    () => ({ auth: `bench:${SECRET}`, body: `grant_type=client_credentials&resource=${encodeURIComponent(COST)}` }),
  ],
  ['baton token exchange (RFC 8693)', () => ({ auth: `logs-mcp:${SECRET}`, body: exchangeBody })],
  ['baton ID-JAG redemption (jwt-bearer)', (half) => ({ auth: `xaa-app:${SECRET}`, bodies: jagHalves[half]! })],
];
for (const [name, options] of twins) {
  rows.push(await run(name, batonTarget, options(0)));
  rows.push(await run(`${name}, audit off`, batonAuditOff.target, options(1)));
}

const baseline = rows[0]!;
const cpuOf = (r: Row) => r.serverCpu + r.storageCpu;
process.stdout.write(
  `\nbaton bench: ${CONNECTIONS} connections, ${SECONDS} s per row, node ${process.version}, ${(await import('node:os')).cpus().length} cores\n`,
);
const columns: [string, number][] = [
  ['scenario', 56],
  ['req/s', 8],
  ['p50 ms', 7],
  ['p99 ms', 7],
  ['ratio', 6],
  ['non-2xx', 8],
  ['server µs', 10],
  ['store µs', 9],
  ['cpu ratio', 10],
];
const line = (cells: string[]) =>
  `${cells.map((c, i) => (i === 0 ? c.padEnd(columns[i]![1]) : c.padStart(columns[i]![1]))).join(' ')}\n`;
process.stdout.write(line(columns.map(([c]) => c)));
for (const r of rows) {
  process.stdout.write(
    line([
      r.name,
      r.rps.toFixed(0),
      String(r.p50),
      String(r.p99),
      (r.rps / baseline.rps).toFixed(2),
      String(r.non2xx + r.errors),
      r.serverCpu.toFixed(0),
      r.storageCpu.toFixed(0),
      (cpuOf(baseline) / cpuOf(r)).toFixed(2),
    ]),
  );
}
process.stdout.write(
  'ratio: req/s against the baseline, with the load generator, PostgreSQL and Redis on the same cores;\n' +
    'server/store µs: CPU time per request of the server process and of every PostgreSQL and Redis process;\n' +
    "cpu ratio: the baseline's CPU per request over the row's (what a dedicated machine would scale with).\n",
);
process.stdout.write('targets (issue #5): exchange and ID-JAG ≥ 0.90× the baseline, p99 ≤ 15 ms at 10 connections\n');

bare.child.kill();
bareWriting.child.kill();
bareClaiming.child.kill();
await Promise.all([baton.stop(), batonAuditOff.stop(), seeder.close()]);
await services.db.drop();
await idp.stop();
// issue #14: the status list's cost at a resource server and a revocation's propagation (bench/revocation.ts)
if (!ONLY || ONLY.test('revocation')) process.stdout.write(await revocationBench());
// issue #16: the gateway's overhead against the upstream straight (bench/gateway.ts)
if (!ONLY || ONLY.test('gateway')) process.stdout.write(await gatewayBench());
removeTempDirs(); // the config file's directory (scripts/bench.sh removes the rest, also on failure)
