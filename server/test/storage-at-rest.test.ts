/**
 * What a copy of the stores gives away (adapters/hashed-ids.ts; RFC 6819 §5.1.4.1.3): no authorization
 * code, refresh token or registration access token is stored as itself, and no registered client's secret
 * in the clear (it is sealed under the KEK), on any backend; each still works when presented. Everything PostgreSQL (or PGlite) and Redis hold is read back and searched.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/main.ts';
import { BACKENDS, registerConfidentialClient, startTestServer, type TestServer } from './helpers.ts';
import { codeForm, seedAccount, seedCode } from './seed.ts';

describe.each(BACKENDS)('bearer credentials at rest on $name storage', (backend) => {
  let baton: TestServer | undefined;
  let server: RunningServer;
  let prefix = '';

  beforeAll(async () => {
    baton = await startTestServer({
      backend: backend.name,
      config: (base) => ({ clients: { ...base.clients, registration: { dcr: { mode: 'open' } } } }),
    });
    server = baton.server;
    prefix = baton.config.storage.redis_key_prefix;
  });
  afterAll(async () => {
    await baton?.close();
  });

  /** every id and payload PostgreSQL holds, and every key and value under this server's Redis prefix */
  async function everythingStored(): Promise<string> {
    const rows = await server.storage.db('oidc_payloads').select<{ id: string; payload: unknown }[]>('id', 'payload');
    const parts = rows.map((r) => `${r.id} ${JSON.stringify(r.payload)}`);
    const redis = server.storage.redis;
    if (redis) {
      for (const key of await redis.keys(`${prefix}*`)) {
        const type = await redis.type(key);
        const value =
          type === 'hash'
            ? JSON.stringify(await redis.hgetall(key))
            : type === 'set'
              ? JSON.stringify(await redis.smembers(key))
              : type === 'string'
                ? await redis.get(key)
                : type;
        parts.push(`${key} ${value}`);
      }
    }
    return parts.join('\n');
  }

  it('codes, refresh tokens and registration access tokens are stored as hashes, client secrets sealed; all still work', async () => {
    const account = await seedAccount(server.accounts);
    const seed = await seedCode(server.provider(), account);
    const stored = await everythingStored();
    expect(stored).toContain(seed.grantId); // the search sees what is there
    expect(stored).not.toContain(seed.code);

    const tokens = await request(server.url).post('/token').type('form').send(codeForm(seed)).expect(200);
    const refresh = tokens.body.refresh_token as string;
    expect(refresh).toBeTruthy();
    const registered = await request(server.url)
      .post('/reg')
      .send({
        redirect_uris: ['http://127.0.0.1:9468/cb'],
        token_endpoint_auth_method: 'none',
        application_type: 'native',
      })
      .expect(201);
    const rat = registered.body.registration_access_token as string;
    const confidential = await registerConfidentialClient(server.url);
    const clientSecret = confidential.client_secret;

    const after = await everythingStored();
    expect(after).toContain(String(registered.body.client_id));
    expect(after).toContain(confidential.client_id);
    for (const secret of [seed.code, refresh, rat, clientSecret]) expect(after).not.toContain(secret);

    // presented, each is found (by its hash) and behaves as before
    const rotated = await request(server.url)
      .post('/token')
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: refresh, client_id: 'ide-agent', resource: seed.resource })
      .expect(200);
    expect(rotated.body.refresh_token).not.toBe(refresh);
    const reused = await request(server.url)
      .post('/token')
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: refresh, client_id: 'ide-agent', resource: seed.resource });
    expect(reused.status).toBe(400);
    expect(reused.body.error).toBe('invalid_grant');
    await request(server.url)
      .get(`/reg/${String(registered.body.client_id)}`)
      .auth(rat, { type: 'bearer' })
      .expect(200);
    // the client authenticates with its secret (sealed under the KEK at rest)
    await request(server.url)
      .post('/token/introspection')
      .auth(confidential.client_id, clientSecret)
      .type('form')
      .send({ token: 'x' })
      .expect(200);
    const again = await request(server.url).post('/token').type('form').send(codeForm(seed));
    expect(again.body.error).toBe('invalid_grant'); // the code was consumed through its hash
  });
});
