/**
 * The baseline: bare node-oidc-provider (memory adapter, no baton code), client_credentials issuing an
 * ES256 at+jwt for a resource, exactly as baton's tokens are signed. Prints its URL, then serves.
 * With BARE_LINEAGE_DB (a PostgreSQL URL holding baton's schema), each token response waits for one
 * token_lineage row, written as baton's exchange writes it (group commit); with BARE_REPLAY_REDIS (a Redis
 * URL), for one single-use record claimed as baton's ID-JAG redemption claims its jti (one atomic SET NX).
 * The cost of that write alone, measured on the same machine.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const provider = new Provider('http://127.0.0.1', {
  jwks: { keys: [{ ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig' }] as never },
  clients: [
    {
      client_id: 'bench',
      client_secret: 'bench-secret-0123456789abcdef0123',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    },
  ],
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      getResourceServerInfo: async () => ({
        scope: 'cost.read',
        accessTokenFormat: 'jwt',
        accessTokenTTL: 300,
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
if (process.env.BARE_LINEAGE_DB) {
  const { default: knex } = await import('knex');
  const { lineageWriter } = await import('../server/src/provider/lineage.ts');
  const record = lineageWriter(knex({ client: 'pg', connection: process.env.BARE_LINEAGE_DB, pool: { max: 30 } }));
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/token' || ctx.status !== 200) return;
    await record({
      jti: randomUUID(),
      parent_jti: 'bench-parent',
      grant_id: null,
      account_id: 'bench-account',
      actor: 'bench',
      audience: 'https://cost.internal.example.com',
      depth: 1,
      expires_at: new Date(Date.now() + 300_000),
    });
  });
}
if (process.env.BARE_REPLAY_REDIS) {
  const { Redis } = await import('ioredis');
  const redis = new Redis(process.env.BARE_REPLAY_REDIS);
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/token' || ctx.status !== 200) return;
    await redis.set(`bench:replay:${randomUUID()}`, '1', 'EX', 300, 'NX');
  });
}
const handler = provider.callback();
const server = createServer((req, res) => void handler(req, res));
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
});
process.once('SIGTERM', () => process.exit(0)); // an orderly exit (lets --cpu-prof write its profile)
