/**
 * The gateway's overhead (issue #16): MCP `tools/call echo` against `@modelcontextprotocol/server-everything`
 * straight, and through `baton gateway` (the kit's token check with the status list, the per-tool scope, the
 * session binding, the forwarding with the shared key; `baton gateway` as its own process), in the same run
 * on the same cores (the load generator, baton, the gateway and the upstream share the 2 cores). Each row keeps
 * one MCP session open and sends the same call on BENCH_CONNECTIONS connections for BENCH_SECONDS.
 * Target: through the gateway ≥ 0.8× straight. A benchmark, not a test: it reports figures.
 */
import autocannon from 'autocannon';
import { startServer } from '../server/src/main.ts';
import { createLogger } from '../server/src/logger.ts';
import { spawn } from 'node:child_process';
import { CLI, writeConfig } from '../server/test/processes.ts';
import { freePort, freshDatabase, makeConfig, redisPrefix, requireEnv, ROLES } from '../server/test/helpers.ts';
import { codeForm, seedAccount, seedCode } from '../server/test/seed.ts';
import { startEverything } from '../server/test/everything.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const PROTOCOL = '2025-11-25';
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** Resolves once `url` answers 200 (a process started). */
async function until(url: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const ok = await fetch(url).then(
      (r) => r.status === 200,
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

async function measure(name: string, url: string, headers: Record<string, string>) {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 2,
    method: 'tools/call',
    params: { name: 'echo', arguments: { message: 'bench' } },
  });
  const request = { method: 'POST' as const, headers, body };
  await autocannon({ url, connections: CONNECTIONS, duration: Math.min(2, SECONDS), requests: [request] });
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, requests: [request] });
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, failed: r.non2xx + r.errors };
}

export async function gatewayBench(): Promise<string> {
  const db = await freshDatabase();
  const [asPort, gwPort, upstreamPort] = [await freePort(), await freePort(), await freePort()];
  const issuer = `http://127.0.0.1:${asPort}`;
  const resource = `http://127.0.0.1:${gwPort}/everything/mcp`;
  const upstream = `http://127.0.0.1:${upstreamPort}/mcp`;
  const base = makeConfig();
  const config = makeConfig({
    issuer,
    listen: { host: '127.0.0.1', port: asPort },
    storage: { postgres: db.url, redis: requireEnv('TEST_REDIS_URL'), redis_key_prefix: redisPrefix() },
    logging: { level: 'warn' },
    resources: [...base.resources, { uri: resource, name: 'Everything (shared key)', scopes: ['everything.call'] }],
    roles: { ...ROLES, caller: ['everything.call'] },
    role_bindings: { local: { developers: ['developer', 'caller'] } },
    gateway: { listen: { host: '127.0.0.1', port: gwPort } },
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
  const gateway = spawn(process.execPath, [CLI, 'gateway', '--config', writeConfig({ ...config })], {
    env: { ...process.env, BENCH_UPSTREAM_KEY: 'bench-shared-key' },
    stdio: 'ignore',
  });
  try {
    await until(`http://127.0.0.1:${gwPort}/.well-known/oauth-protected-resource/everything/mcp`);
    const seed = await seedCode(baton.provider(), await seedAccount(baton.accounts), resource, ['everything.call']);
    const tokens = await fetch(`${baton.url}/token`, { method: 'POST', body: new URLSearchParams(codeForm(seed)) });
    const { access_token: token } = (await tokens.json()) as { access_token: string };
    const straight = await measure('tools/call echo, straight to the upstream', upstream, await session(upstream, {}));
    const through = await measure(
      'tools/call echo, through baton gateway',
      resource,
      await session(resource, { authorization: `Bearer ${token}` }),
    );
    const row = (r: typeof straight) =>
      `${r.name.padEnd(46)} ${r.rps.toFixed(0).padStart(7)} ${String(r.p50).padStart(7)} ${String(r.p99).padStart(7)} ${(r.rps / straight.rps).toFixed(2).padStart(6)} ${String(r.failed).padStart(7)}\n`;
    return (
      `\ngateway (issue #16): ${CONNECTIONS} connections, ${SECONDS} s per row, one MCP session each\n` +
      `${'scenario'.padEnd(46)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'ratio'.padStart(6)} ${'failed'.padStart(7)}\n` +
      row(straight) +
      row(through) +
      'target: through the gateway ≥ 0.80× straight\n'
    );
  } finally {
    gateway.kill();
    await baton.close();
    everything.kill();
    await db.drop();
  }
}
