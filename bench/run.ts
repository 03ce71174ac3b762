/**
 * npm run bench: token exchange and ID-JAG redemption on real Redis and PostgreSQL, side by side in the same
 * run with bare oidc-provider client_credentials on the same key type (ES256). Reports req/s, p50/p99 and
 * the ratio to the baseline. A benchmark, not a test: it asserts nothing, it reports figures.
 *   BENCH_SECONDS (default 10) per scenario, BENCH_CONNECTIONS (default 10).
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

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const SECRET = 'bench-secret-0123456789abcdef0123';
const COST = 'https://cost.internal.example.com';
const LOGS = 'https://logs.mcp.example.com/mcp';
const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

interface Row {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function run(name: string, url: string, opts: { body?: string; bodies?: string[]; auth: string }): Promise<Row> {
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
  await autocannon({ url, connections: CONNECTIONS, duration: 2, requests: [request] }); // warm-up (never reuses a body)
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, requests: [request] });
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
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

// the measured processes: bare oidc-provider and baton, each its own process, on the same 2 cores as the load
const bare = spawn(process.execPath, [new URL('./bare-provider.ts', import.meta.url).pathname], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const bareUrl = await new Promise<string>((ok) =>
  createInterface({ input: bare.stdout }).once('line', (l) => ok((JSON.parse(l) as { url: string }).url)),
);
// baton logs warnings only here, as a production deployment might; the request log is measured separately
const batonPort = 9470;
const batonChild = spawn(
  process.execPath,
  [CLI, 'start', '--config', writeConfig({ ...config, listen: { host: '127.0.0.1', port: batonPort } })],
  {
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);
const baton = {
  url: `http://127.0.0.1:${batonPort}`,
  stop: () => new Promise((ok) => batonChild.once('exit', ok).kill('SIGTERM')),
};
for (let ready = false; !ready;) {
  ready = await fetch(`${baton.url}/readyz`).then(
    (r) => r.ok,
    () => false,
  );
  if (!ready) await new Promise((ok) => setTimeout(ok, 100));
}

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
  await fetch(`${baton.url}/token`, { method: 'POST', body: new URLSearchParams(codeForm(code)) })
).json()) as { access_token: string };
const now = Math.floor(Date.now() / 1000);
const pool = await Promise.all(
  // single-use assertions: enough for the warm-up and the run at up to 4,000 req/s
  Array.from({ length: Number(process.env.BENCH_ID_JAGS ?? (SECONDS + 2) * 4000) }, () =>
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

const rows: Row[] = [];
rows.push(
  await run('bare oidc-provider client_credentials (ES256, memory)', bareUrl, {
    auth: `bench:${SECRET}`,
    body: `grant_type=client_credentials&resource=${encodeURIComponent(COST)}`,
  }),
);
rows.push(
  await run('baton client_credentials (ES256, PG+Redis)', baton.url, {
    auth: `bench:${SECRET}`,
    body: `grant_type=client_credentials&resource=${encodeURIComponent(COST)}`,
  }),
);
rows.push(
  await run('baton token exchange (RFC 8693)', baton.url, {
    auth: `logs-mcp:${SECRET}`,
    body: new URLSearchParams({
      grant_type: TE,
      subject_token: subject.access_token,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      resource: COST,
    }).toString(),
  }),
);
rows.push(
  await run('baton ID-JAG redemption (jwt-bearer)', baton.url, { auth: `xaa-app:${SECRET}`, bodies: jagBodies }),
);

const baseline = rows[0]!.rps;
process.stdout.write(
  `\nbaton bench: ${CONNECTIONS} connections, ${SECONDS} s per row, node ${process.version}, ${(await import('node:os')).cpus().length} cores\n`,
);
process.stdout.write(
  `${'scenario'.padEnd(56)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'ratio'.padStart(6)} ${'non-2xx'.padStart(8)}\n`,
);
for (const r of rows) {
  process.stdout.write(
    `${r.name.padEnd(56)} ${r.rps.toFixed(0).padStart(8)} ${String(r.p50).padStart(7)} ${String(r.p99).padStart(7)} ${(r.rps / baseline).toFixed(2).padStart(6)} ${String(r.non2xx + r.errors).padStart(8)}\n`,
  );
}
process.stdout.write('targets (issue #5): exchange and ID-JAG ≥ 0.90× the baseline, p99 ≤ 15 ms at 10 connections\n');

bare.kill();
await Promise.all([baton.stop(), seeder.close()]);
await services.db.drop();
await idp.stop();
