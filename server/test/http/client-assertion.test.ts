/**
 * Client authentication by a signed assertion (private_key_jwt, RFC 7523 §2.2 / §3): an assertion's `jti`
 * is accepted once (RFC 7523 §3 item 7), sequentially and under concurrency, on every storage backend
 * (the replay record lives in the store, through baton's atomic claim).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/main.ts';
import { BACKENDS, memoryLogger, startTestServer, type TestServer } from '../helpers.ts';

const COST = 'https://cost.internal.example.com';
const ISSUER = 'http://127.0.0.1:9400';
const CLIENT = 'signed-service';

let jwksServer: Server;
let jwksUri: string;
let privateKey: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'c1', alg: 'ES256', use: 'sig' };
  jwksServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((ok) => jwksServer.listen(0, '127.0.0.1', ok));
  jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
});
afterAll(async () => {
  await new Promise<void>((ok) => jwksServer?.close(() => ok()));
});

const assertion = (jti = randomUUID()) =>
  new SignJWT({ jti })
    .setProtectedHeader({ alg: 'ES256', kid: 'c1' })
    .setIssuer(CLIENT)
    .setSubject(CLIENT)
    .setAudience(ISSUER)
    .setIssuedAt()
    .setExpirationTime('1m')
    .sign(privateKey);

describe.each(BACKENDS)('client assertions on $name storage', (backend) => {
  let baton: TestServer | undefined;
  let server: RunningServer;
  const logs = memoryLogger();
  beforeAll(async () => {
    baton = await startTestServer({
      backend: backend.name,
      logs,
      config: (base) => ({
        // the client's JWKS is on loopback: development mode lets the (SSRF-guarded) fetch reach it
        mode: 'development',
        clients: {
          registration: { cimd: { allow_private_network: true } },
          static: [
            ...base.clients.static,
            {
              client_id: CLIENT,
              kind: 'service',
              auth: 'private_key_jwt',
              jwks_uri: jwksUri,
              grant_types: ['client_credentials'],
              resources: [COST],
              scopes: ['cost.read'],
            },
          ],
        },
      }),
    });
    server = baton.server;
  });
  afterAll(async () => {
    await baton?.close();
  });

  const token = (clientAssertion: string) =>
    request(server.url).post('/token').type('form').send({
      grant_type: 'client_credentials',
      resource: COST,
      scope: 'cost.read',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion,
    });

  it('an assertion authenticates once; presented again it is invalid_client', async () => {
    const signed = await assertion();
    const first = await token(signed);
    expect(first.status, logs.lines().slice(-3).join('\n')).toBe(200);
    expect(first.body.scope).toBe('cost.read');
    const again = await token(signed);
    expect(again.status).toBe(401);
    expect(again.body.error).toBe('invalid_client');
  });

  it('concurrent requests with one assertion: exactly one is accepted', async () => {
    const signed = await assertion();
    const results = await Promise.all(Array.from({ length: 8 }, () => token(signed)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 401 && r.body.error === 'invalid_client')).toHaveLength(7);
  });

  it('a jti with a NUL character is single use too, never a server error', async () => {
    const signed = await assertion(`a\u0000${randomUUID()}`);
    expect((await token(signed)).status).toBe(200);
    expect((await token(signed)).status).toBe(401);
  });
});
