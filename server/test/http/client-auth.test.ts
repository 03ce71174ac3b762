/**
 * Client authentication is exactly what the client is registered for (RFC 6749 §2.3, RFC 7591 §2
 * `token_endpoint_auth_method`, RFC 9700 §2.5): a secret sent the other way is refused, and a
 * private_key_jwt assertion must carry `exp` (RFC 7523 §3 item 4) and live at most
 * tokens.client_assertion_max_lifetime_seconds (RFC 7523 §3 item 4: "the authorization server MAY reject
 * JWTs with an exp claim value that is unreasonably far in the future").
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, batonOn, makeConfig, SERVICE_SECRET } from '../helpers.ts';

const ISSUER = 'http://127.0.0.1:9400';
const COST = 'https://cost.internal.example.com';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const FAILED = { error: 'invalid_client', error_description: 'client authentication failed' };

describe('client authentication is pinned to the registered method', () => {
  const baton = batonOn(BACKENDS[0]!, {
    clients: { ...makeConfig().clients, registration: { dcr: { mode: 'open' } } },
  });

  const register = async (metadata: Record<string, unknown>) =>
    (
      await request(baton.server.url)
        .post('/reg')
        .send({
          redirect_uris: ['https://agent.example.com/cb'],
          response_types: ['code'],
          grant_types: ['authorization_code'],
          ...metadata,
        })
        .expect(201)
    ).body as { client_id: string; client_secret?: string };

  it('a client_secret_basic client sending its secret in the body is 401 invalid_client', async () => {
    const res = await request(baton.server.url)
      .post('/token')
      .type('form')
      .send({
        grant_type: 'client_credentials',
        resource: COST,
        client_id: 'cost-reporter',
        client_secret: SERVICE_SECRET,
      })
      .expect(401);
    expect(res.body).toEqual(FAILED);
    expect(res.headers['www-authenticate']).toBe(`Basic realm="${ISSUER}"`);
    // its registered method works
    await request(baton.server.url)
      .post('/token')
      .auth('cost-reporter', SERVICE_SECRET)
      .type('form')
      .send({ grant_type: 'client_credentials', resource: COST })
      .expect(200);
  });

  it.each(['/token/introspection', '/token/revocation'])(
    'the same at %s: the secret in the body is refused, Basic is answered',
    async (path) => {
      const res = await request(baton.server.url)
        .post(path)
        .type('form')
        .send({ token: 'x'.repeat(43), client_id: 'cost-reporter', client_secret: SERVICE_SECRET })
        .expect(401);
      expect(res.body).toEqual(FAILED);
      await request(baton.server.url)
        .post(path)
        .auth('cost-reporter', SERVICE_SECRET)
        .type('form')
        .send({ token: 'x'.repeat(43) })
        .expect(200);
    },
  );

  it('a client_secret_post client sending its secret by Basic is 401 invalid_client', async () => {
    const client = await register({ token_endpoint_auth_method: 'client_secret_post' });
    const res = await request(baton.server.url)
      .post('/token/introspection')
      .auth(client.client_id, client.client_secret!)
      .type('form')
      .send({ token: 'x'.repeat(43) })
      .expect(401);
    expect(res.body).toEqual(FAILED);
    expect(res.headers['www-authenticate']).toMatch(
      /^Basic realm="http:\/\/127\.0\.0\.1:9400", error="invalid_client"/,
    );
    await request(baton.server.url)
      .post('/token/introspection')
      .type('form')
      .send({ token: 'x'.repeat(43), client_id: client.client_id, client_secret: client.client_secret! })
      .expect(200, { active: false });
  });

  describe('private_key_jwt assertions', () => {
    let clientId: string;
    let key: CryptoKey;
    beforeAll(async () => {
      const pair = await generateKeyPair('ES256');
      key = pair.privateKey;
      const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
      clientId = (await register({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } })).client_id;
    });

    const assertion = (claims: { exp?: number; iat?: number }) => {
      const now = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT({ jti: randomUUID(), ...(claims.iat === undefined ? { iat: now } : { iat: claims.iat }) })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(ISSUER);
      if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp);
      return jwt.sign(key);
    };
    const introspectWith = async (clientAssertion: string) =>
      request(baton.server.url)
        .post('/token/introspection')
        .type('form')
        .send({
          token: 'x'.repeat(43),
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: clientAssertion,
        });
    const now = () => Math.floor(Date.now() / 1000);

    it('an assertion valid for 115 days is 401 invalid_client', async () => {
      const res = await introspectWith(await assertion({ exp: now() + 115 * 86400 }));
      expect(res.status).toBe(401);
      expect(res.body).toEqual(FAILED);
    });

    it('an assertion issued long before it expires is refused even when it expires soon', async () => {
      const res = await introspectWith(await assertion({ iat: now() - 3600, exp: now() + 60 }));
      expect(res.status).toBe(401);
      expect(res.body).toEqual(FAILED);
    });

    it('an assertion without exp is 401 invalid_client (RFC 7523 §3 item 4)', async () => {
      const res = await introspectWith(await assertion({}));
      expect(res.status).toBe(401);
      expect(res.body).toEqual(FAILED);
    });

    it('a five-minute assertion authenticates the client', async () => {
      const res = await introspectWith(await assertion({ exp: now() + 300 }));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ active: false });
    });
  });
});
