/**
 * The gateways' stored credentials (issue #16 "The key in one place"): `credential: { secret: NAME }` reads
 * the upstream secrets store (sealed under the KEK in PostgreSQL) through each gateway process's cache, so a
 * rotation made by any process (`baton secrets rotate`) is what every gateway process sends within
 * SECRET_REFRESH_SECONDS, with no restart; a gateway on the embedded store is told to use env or file.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runOperation } from '../src/admin/operations.ts';
import { credentialSource } from '../src/gateway/credential.ts';
import { storedSecrets } from '../src/secrets/stored.ts';
import { adminStoresOf, startTestServer, type TestServer } from './helpers.ts';
import { runCli, writeConfig } from './processes.ts';
import { tempDir } from './temp.ts';

const GW = 'http://127.0.0.1:9609/search/mcp';
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({
    backend: 'postgres',
    config: (base) => ({
      resources: [...base.resources, { uri: GW, name: 'Search (shared key)', scopes: ['search.query'] }],
      gateways: [
        {
          id: 'search',
          resource: GW,
          upstream: 'http://127.0.0.1:9/mcp',
          credential: { header: 'X-API-Key', secret: 'search-key' },
        },
      ],
    }),
  });
}, 60_000);
afterAll(async () => t?.close());

describe("a gateway's stored credential", () => {
  it('is the stored value, and a rotation by any process reaches every gateway process without a restart', async () => {
    const stores = adminStoresOf(t);
    await runOperation(stores, 'secrets.set', { name: 'search-key', value: 'key-one-0123' });
    // two gateway processes' caches on the same store
    const processes = [0, 1].map(() => storedSecrets(t.config, t.server.storage.db, undefined, 0.2));
    try {
      const sources = processes.map((p) => credentialSource(t.config.gateways, { secret: p.lookup }));
      for (const source of sources) expect(await source('search')).toEqual({ value: 'key-one-0123' });
      await runOperation(stores, 'secrets.rotate', { name: 'search-key', value: 'key-two-4567' });
      for (const source of sources)
        await vi.waitFor(async () => expect(await source('search')).toEqual({ value: 'key-two-4567' }), {
          timeout: 5000,
        });
    } finally {
      for (const p of processes) p.close();
    }
  });

  it('a secret that is not stored is refused as a credential that cannot be had (the gateway answers 503)', async () => {
    const gateways = [{ ...t.config.gateways[0]!, credential: { header: 'X-API-Key', secret: 'no-such-secret' } }];
    const secrets = storedSecrets(t.config, t.server.storage.db);
    try {
      await expect(credentialSource(gateways, { secret: secrets.lookup })('search')).rejects.toMatchObject({
        name: 'CredentialError',
      });
    } finally {
      secrets.close();
    }
  });

  it('on the embedded store, baton gateway says to use env or file: the secrets store is in PostgreSQL', async () => {
    const { storage: _s, ...rest } = t.config;
    const file = writeConfig({ ...rest, storage: { data_dir: join(tempDir('gateway-secrets'), 'data') } });
    const r = await runCli(['gateway', '--config', file]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(
      'gateway: a credential { secret: NAME } and an oauth upstream keep their state in PostgreSQL (storage.postgres); on the embedded store use { env: VAR } or { file: PATH }',
    );
  });
});
