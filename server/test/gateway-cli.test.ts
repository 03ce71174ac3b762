/** `baton gateway` as a process: it serves its gateways, stops cleanly on SIGTERM, and says what is wrong. */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { gatewayReplayStore } from '../src/gateway/index.ts';
import { KEK, makeConfig, memoryLogger, redisPrefix, requireEnv } from './helpers.ts';
import { CLI, runCli, writeConfig } from './processes.ts';

const RESOURCE = 'http://127.0.0.1:9600/search/mcp';
const config = (extra: Record<string, unknown> = {}) =>
  writeConfig({
    issuer: 'http://127.0.0.1:9400',
    keys: { encryption_key: KEK },
    resources: [{ uri: RESOURCE, name: 'Search', scopes: ['search.query'] }],
    gateway: { listen: { host: '127.0.0.1', port: 0 } },
    gateways: [
      {
        id: 'search',
        resource: RESOURCE,
        upstream: 'http://127.0.0.1:9/mcp',
        credential: { header: 'X-API-Key', env: 'SEARCH_KEY' },
      },
    ],
    ...extra,
  });

describe('baton gateway', () => {
  it('listens, serves the metadata and the challenge, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [CLI, 'gateway', '--config', config()], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SEARCH_KEY: 'sk-test' },
    });
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
    const exited = new Promise<number | null>((ok) => child.once('exit', ok));
    let started: { url: string } | undefined;
    for (let i = 0; i < 600 && !started && child.exitCode === null; i++) {
      const line = lines.find((l) => l.includes('"msg":"gateway.started"'));
      if (line) started = JSON.parse(line) as { url: string };
      else await new Promise((ok) => setTimeout(ok, 50));
    }
    expect(started).toBeDefined();
    const url = started!.url;
    const metadata = await fetch(`${url}/.well-known/oauth-protected-resource/search/mcp`);
    expect(await metadata.json()).toMatchObject({
      resource: RESOURCE,
      authorization_servers: ['http://127.0.0.1:9400'],
    });
    const call = await fetch(`${url}/search/mcp`, { method: 'POST', body: '{}' });
    expect(call.status).toBe(401);
    expect(await fetch(`${url}/elsewhere`).then((r) => r.status)).toBe(404);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(lines.some((l) => l.includes('"msg":"gateway.draining"') && l.includes('SIGTERM'))).toBe(true);
    expect(lines.join('\n')).not.toContain('sk-test');
  });

  it('refuses a configuration without gateways (exit 64)', async () => {
    const res = await runCli(['gateway', '--config', config({ gateways: [] })]);
    expect(res.code).toBe(64);
    expect(res.stderr).toContain('gateway: the configuration has no gateways');
  });
});

describe('the gateway’s DPoP replay store', () => {
  it('with storage.redis, one proof id is accepted once across gateway processes (one Redis)', async () => {
    const config = makeConfig({
      storage: {
        postgres: 'postgresql://unused',
        redis: requireEnv('TEST_REDIS_URL'),
        redis_key_prefix: redisPrefix(),
      },
    });
    const log = memoryLogger().log;
    const [a, b] = [await gatewayReplayStore(config, log), await gatewayReplayStore(config, log)];
    expect(await a.store.claim('proof-1', 60)).toBe(true);
    expect(await b.store.claim('proof-1', 60)).toBe(false);
    expect(await b.store.claim('proof-2', 60)).toBe(true);
    await a.close();
    await b.close();
  });

  it('a Redis that cannot be reached stops the gateway with a clear message', async () => {
    const config = makeConfig({ storage: { postgres: 'postgresql://unused', redis: 'redis://127.0.0.1:1' } });
    await expect(gatewayReplayStore(config, memoryLogger().log)).rejects.toThrow(/^storage\.redis: cannot connect/);
  });
});
