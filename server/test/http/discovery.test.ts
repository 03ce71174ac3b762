/**
 * Discovery (RFC 8414 §3, OIDC Discovery 1.0 §4), the JWKS (RFC 7517: public keys only), health, and the
 * host's handling of malformed and hostile requests (RFC 6749 §5.2 errors, never a 500).
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/main.ts';
import {
  BACKENDS,
  batonOn,
  makeConfig,
  RESOURCES,
  SERVICE_SECRET,
  startTestServer,
  type TestServer,
} from '../helpers.ts';

const ISSUER = 'http://127.0.0.1:9400';
let baton: TestServer | undefined;
let server: RunningServer;

beforeAll(async () => {
  baton = await startTestServer();
  server = baton.server;
});
afterAll(async () => {
  await baton?.close();
});

describe('discovery', () => {
  it.each(['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'])(
    '%s names the issuer, its endpoints, S256 only and RFC 9207 iss',
    async (path) => {
      const res = await request(server.url).get(path).expect(200).expect('content-type', /json/);
      expect(res.body).toMatchObject({
        issuer: ISSUER,
        authorization_endpoint: `${ISSUER}/auth`,
        token_endpoint: `${ISSUER}/token`,
        jwks_uri: `${ISSUER}/jwks`,
        code_challenge_methods_supported: ['S256'],
        authorization_response_iss_parameter_supported: true,
        response_types_supported: ['code'],
      });
      expect(res.body.grant_types_supported).toEqual(
        expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']),
      );
      expect(res.body.grant_types_supported).not.toContain('implicit');
      expect(res.body.id_token_signing_alg_values_supported).toEqual(['ES256']);
    },
  );

  it('scopes_supported lists every scope baton issues: the OIDC ones and every resource scope (RFC 8414 §2)', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const res = await request(server.url).get(path).expect(200);
      expect(res.body.scopes_supported).toEqual([
        'openid',
        'offline_access',
        'logs.read',
        'logs.debug.write',
        'incidents.trigger',
        'cost.read',
        'cost.write',
      ]);
    }
  });

  it('both documents agree', async () => {
    const a = await request(server.url).get('/.well-known/oauth-authorization-server');
    const b = await request(server.url).get('/.well-known/openid-configuration');
    expect(a.body).toEqual(b.body);
  });

  it('endpoints stay under the issuer whatever Host and X-Forwarded-* the client sends', async () => {
    const res = await request(server.url)
      .get('/.well-known/oauth-authorization-server')
      .set('Host', 'evil.example')
      .set('X-Forwarded-Host', 'evil.example')
      .set('X-Forwarded-Proto', 'https')
      .expect(200);
    expect(res.body.token_endpoint).toBe(`${ISSUER}/token`);
    expect(JSON.stringify(res.body)).not.toContain('evil.example');
  });

  it('the JWKS serves only public signing keys', async () => {
    const res = await request(server.url).get('/jwks').expect(200);
    expect(res.body.keys).toHaveLength(1);
    const [key] = res.body.keys;
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(typeof key.kid).toBe('string');
    expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  });
});

describe('health', () => {
  it('/healthz answers while the process lives', async () => {
    await request(server.url).get('/healthz').expect(200, { status: 'ok' });
  });
  it('/readyz reports the store and the schema', async () => {
    const res = await request(server.url).get('/readyz').expect(200);
    expect(res.body).toEqual({ status: 'ready', checks: { postgres: true, migrations: true } });
  });
});

describe('bad input never hurts', () => {
  it('an unknown route is a 404 JSON body', async () => {
    const res = await request(server.url).get('/nope/../admin').expect(404).expect('content-type', /json/);
    expect(res.body.error).toBe('not_found');
  });

  it('a JSON body at the token endpoint is invalid_request', async () => {
    await request(server.url)
      .post('/token')
      .set('content-type', 'application/json')
      .send('{"grant_type":"client_credentials"')
      .expect(400)
      .expect((r) => expect(r.body.error).toBe('invalid_request'));
  });

  it('an oversized body is a 400 OAuth error, not a 500', async () => {
    const res = await request(server.url)
      .post('/token')
      .type('form')
      .send(`grant_type=client_credentials&junk=${'a'.repeat(300_000)}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('a garbled form body is a 400 OAuth error (its grant_type is unsupported), not a 500', async () => {
    const res = await request(server.url)
      .post('/token')
      .auth('cost-reporter', SERVICE_SECRET)
      .type('form')
      .send('grant_type=%zz%&&==');
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('unsupported_grant_type');
  });

  it('a missing grant_type is invalid_request', async () => {
    await request(server.url)
      .post('/token')
      .auth('cost-reporter', SERVICE_SECRET)
      .type('form')
      .send({})
      .expect(400)
      .expect((r) => expect(r.body.error).toBe('invalid_request'));
  });

  it('an unknown grant_type is unsupported_grant_type', async () => {
    await request(server.url)
      .post('/token')
      .auth('cost-reporter', SERVICE_SECRET)
      .type('form')
      .send({ grant_type: 'password', username: 'a', password: 'b' })
      .expect(400)
      .expect((r) => expect(r.body.error).toBe('unsupported_grant_type'));
  });

  it('a wrong client secret is 401 invalid_client with WWW-Authenticate (RFC 6749 §5.2)', async () => {
    const res = await request(server.url)
      .post('/token')
      .auth('cost-reporter', 'wrong-secret')
      .type('form')
      .send({ grant_type: 'client_credentials', resource: 'https://cost.internal.example.com' })
      .expect(401);
    expect(res.body.error).toBe('invalid_client');
    expect(res.headers['www-authenticate']).toMatch(/^Basic .*error="invalid_client"/);
  });

  it.each(['/token', '/token/introspection', '/token/revocation'])(
    'no client authentication at all at %s is 401 invalid_client with a Basic challenge (RFC 6749 §5.2)',
    async (path) => {
      const res = await request(server.url)
        .post(path)
        .type('form')
        .send(path === '/token' ? { grant_type: 'client_credentials' } : { token: 'anything' })
        .expect(401);
      expect(res.body).toEqual({ error: 'invalid_client', error_description: 'client authentication is required' });
      expect(res.headers['www-authenticate']).toBe(`Basic realm="${ISSUER}"`);
    },
  );

  it('a browser sent to /auth by an unknown client sees an error page, not a stack trace', async () => {
    const res = await request(server.url)
      .get('/auth?client_id=<script>alert(1)</script>&response_type=code')
      .set('accept', 'text/html')
      .expect(400)
      .expect('content-type', /html/);
    expect(res.text).toContain('invalid_client');
    expect(res.text).not.toContain('<script>');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
  });

  it('every response carries a request id, and a sane incoming one is kept', async () => {
    const res = await request(server.url).get('/healthz').set('x-request-id', 'trace-1234567890').expect(200);
    expect(res.headers['x-request-id']).toBe('trace-1234567890');
    const res2 = await request(server.url).get('/healthz').set('x-request-id', 'bad id <with> spaces').expect(200);
    expect(res2.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('an issuer with a path (RFC 8414 §3.1)', () => {
  const TENANT = `${ISSUER}/tenant1`;
  let tenantServer: TestServer | undefined;
  let tenant: RunningServer;
  beforeAll(async () => {
    tenantServer = await startTestServer({ config: { issuer: TENANT } });
    tenant = tenantServer.server;
  });
  afterAll(async () => {
    await tenantServer?.close();
  });

  it.each([
    '/.well-known/oauth-authorization-server/tenant1', // RFC 8414 §3.1: inserted, what MCP clients probe first
    '/.well-known/openid-configuration/tenant1', // MCP's second probe
    '/tenant1/.well-known/openid-configuration', // OIDC Discovery §4: appended
    '/tenant1/.well-known/oauth-authorization-server',
  ])('%s serves the metadata of the path issuer', async (path) => {
    const res = await request(tenant.url).get(path).expect(200).expect('content-type', /json/);
    expect(res.body).toMatchObject({
      issuer: TENANT,
      token_endpoint: `${TENANT}/token`,
      authorization_endpoint: `${TENANT}/auth`,
    });
  });

  it('the root well-known document is not this issuer (a root issuer would be another one)', async () => {
    await request(tenant.url).get('/.well-known/oauth-authorization-server').expect(404);
  });
});

describe('scopes_supported after a policy reload (SIGHUP)', () => {
  // its own server: the reload must not reach the other tests of this file
  const baton = batonOn(BACKENDS[0]!);

  it('follows the reloaded resources: a new scope is listed, a removed one is not', async () => {
    const tickets = { uri: 'https://tickets.example.com/mcp', name: 'Tickets', scopes: ['tickets.read'] };
    await baton.server.reloadPolicy(
      makeConfig({ resources: [RESOURCES[0], { ...RESOURCES[1], scopes: ['cost.read'] }, tickets] }),
    );
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const res = await request(baton.server.url).get(path).expect(200);
      expect(res.body.scopes_supported).toEqual([
        'openid',
        'offline_access',
        'logs.read',
        'logs.debug.write',
        'incidents.trigger',
        'cost.read',
        'tickets.read',
      ]);
    }
  });
});
