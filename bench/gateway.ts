/**
 * The gateway's overhead (issue #16): MCP `tools/call echo` against `@modelcontextprotocol/server-everything`
 * straight; through a bare Node hop with none of the gateway's checks (bench/bare-proxy.ts: the floor of any
 * Node gateway on these cores); and through `baton gateway` as deployed (its own process: the kit's token
 * check with the status list, the per-tool scope, the session binding, the shared key, every call reported
 * to baton's audit trail). Same run, same cores: the load generator, baton, the hop and the upstream share
 * them. Each row keeps one MCP session open and sends the same call on BENCH_CONNECTIONS connections for
 * BENCH_SECONDS; `hop µs` is the CPU time of the hop's process per call, `all µs` that of every process of
 * the run (load generator and baton, upstream, hop, PostgreSQL, Redis; from /proc): on 2 cores a row cannot
 * go faster than 2 000 000 / `all µs` calls per second.
 * Target: through the gateway ≥ 0.8× straight. A benchmark, not a test: it reports figures.
 */
import autocannon from 'autocannon';
import { startServer } from '../server/src/main.ts';
import { createLogger } from '../server/src/logger.ts';
import { spawn } from 'node:child_process';
import { CLI, writeConfig } from '../server/test/processes.ts';
import {
  freePort,
  freshDatabase,
  makeConfig,
  redisPrefix,
  requireEnv,
  ROLES,
  staticService,
} from '../server/test/helpers.ts';
import { codeForm, seedAccount, seedCode } from '../server/test/seed.ts';
import { startEverything } from '../server/test/everything.ts';
import { cpuMicros, nodeArgs } from './cpu.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const PROTOCOL = '2025-11-25';
const GATEWAY_SECRET = 'bench-gateway-secret-0123456789abcdef';
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** Resolves once `url` answers `status` (a process started). */
async function until(url: string, status = 200, init?: RequestInit): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const ok = await fetch(url, init).then(
      (r) => r.status === status,
      () => false,
    );
    if (ok) return;
    await new Promise((done) => setTimeout(done, 50));
  }
  throw new Error(`${url} did not answer`);
}

/** An MCP session at `url` (initialize, then initialized): the headers every call of it carries. */
async function session(url: string, auth: Record<string, string>): Promise<Record<string, string>> {
  const init = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...auth },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
    }),
  });
  const id = init.headers.get('mcp-session-id');
  await init.text();
  if (init.status !== 200 || !id) throw new Error(`initialize at ${url}: ${init.status}`);
  const headers = { ...MCP_HEADERS, ...auth, 'mcp-session-id': id, 'mcp-protocol-version': PROTOCOL };
  const done = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  await done.text();
  return headers;
}

/** Every process of the run (this one: the load generator and baton; the upstream; the hops; PostgreSQL, Redis) */
const everyone = (pids: number[]) => cpuMicros([process.pid, ...pids], ['postgres', 'redis-server']);

async function measure(name: string, url: string, headers: Record<string, string>, pids: number[], hop?: number) {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 2,
    method: 'tools/call',
    params: { name: 'echo', arguments: { message: 'bench' } },
  });
  const request = { method: 'POST' as const, headers, body };
  await autocannon({ url, connections: CONNECTIONS, duration: Math.min(2, SECONDS), requests: [request] });
  const [hop0, all0] = [hop ? cpuMicros([hop]) : 0, everyone(pids)];
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, requests: [request] });
  const hopMicros = hop ? (cpuMicros([hop]) - hop0) / r.requests.total : undefined;
  const allMicros = (everyone(pids) - all0) / r.requests.total;
  return {
    name,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    hopMicros,
    allMicros,
    failed: r.non2xx + r.errors,
  };
}

export async function gatewayBench(): Promise<string> {
  const db = await freshDatabase();
  const [asPort, gwPort, upstreamPort, barePort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const issuer = `http://127.0.0.1:${asPort}`;
  const resource = `http://127.0.0.1:${gwPort}/everything/mcp`;
  const upstream = `http://127.0.0.1:${upstreamPort}/mcp`;
  const base = makeConfig();
  const config = makeConfig({
    issuer,
    listen: { host: '127.0.0.1', port: asPort },
    storage: { postgres: db.url, redis: requireEnv('TEST_REDIS_URL'), redis_key_prefix: redisPrefix() },
    logging: { level: 'warn' },
    resources: [
      ...base.resources,
      { uri: resource, name: 'Everything (shared key)', scopes: ['everything.call'], client_id: 'bench-gateway' },
    ],
    clients: { static: [...base.clients.static, staticService('bench-gateway', GATEWAY_SECRET, [], 'mcp_server')] },
    roles: { ...ROLES, caller: ['everything.call'] },
    role_bindings: { local: { developers: ['developer', 'caller'] } },
    // as deployed: every call reported to baton's audit trail, as the gateway's own MCP server client
    gateway: { listen: { host: '127.0.0.1', port: gwPort }, client_id: 'bench-gateway', client_secret: GATEWAY_SECRET },
    gateways: [
      {
        id: 'everything',
        resource,
        upstream,
        credential: { header: 'X-API-Key', env: 'BENCH_UPSTREAM_KEY' },
        scopes: { 'tools/call:echo': 'everything.call' },
      },
    ],
  });
  const everything = await startEverything(upstreamPort);
  const baton = await startServer(config, createLogger('silent'));
  // the gateway as its own process (`baton gateway`), as it runs: the load generator is this process
  const gateway = spawn(process.execPath, [...nodeArgs(), CLI, 'gateway', '--config', writeConfig({ ...config })], {
    env: { ...process.env, BENCH_UPSTREAM_KEY: 'bench-shared-key' },
    stdio: 'ignore',
  });
  const bare = spawn(process.execPath, [...nodeArgs(), new URL('./bare-proxy.ts', import.meta.url).pathname], {
    env: { ...process.env, PORT: String(barePort), UPSTREAM: upstream },
    stdio: 'ignore',
  });
  try {
    await until(`http://127.0.0.1:${gwPort}/.well-known/oauth-protected-resource/everything/mcp`);
    const seed = await seedCode(baton.provider(), await seedAccount(baton.accounts), resource, ['everything.call']);
    const tokens = await fetch(`${baton.url}/token`, { method: 'POST', body: new URLSearchParams(codeForm(seed)) });
    const { access_token: token } = (await tokens.json()) as { access_token: string };
    const pids = [everything.pid!, bare.pid!, gateway.pid!];
    const straight = await measure('straight to the upstream', upstream, await session(upstream, {}), pids);
    const bareUrl = `http://127.0.0.1:${barePort}/mcp`;
    await until(bareUrl, 400, { method: 'POST', headers: MCP_HEADERS, body: '{}' });
    const floor = await measure(
      'through a bare Node hop (no checks)',
      bareUrl,
      await session(bareUrl, {}),
      pids,
      bare.pid,
    );
    bare.kill();
    const through = await measure(
      'through baton gateway',
      resource,
      await session(resource, { authorization: `Bearer ${token}` }),
      pids,
      gateway.pid,
    );
    const row = (r: typeof straight) =>
      `${r.name.padEnd(42)} ${r.rps.toFixed(0).padStart(7)} ${String(r.p50).padStart(7)} ${String(r.p99).padStart(7)} ${(r.hopMicros === undefined ? '-' : r.hopMicros.toFixed(0)).padStart(7)} ${r.allMicros.toFixed(0).padStart(7)} ${(r.rps / straight.rps).toFixed(2).padStart(6)} ${String(r.failed).padStart(7)}\n`;
    return (
      `\ngateway (issue #16): MCP tools/call echo, ${CONNECTIONS} connections, ${SECONDS} s per row, one MCP session each\n` +
      `${'scenario'.padEnd(42)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'hop µs'.padStart(7)} ${'all µs'.padStart(7)} ${'ratio'.padStart(6)} ${'failed'.padStart(7)}\n` +
      row(straight) +
      row(floor) +
      row(through) +
      'target: through the gateway ≥ 0.80× straight\n'
    );
  } finally {
    bare.kill();
    gateway.kill();
    await baton.close();
    everything.kill();
    await db.drop();
  }
}
