/**
 * A static confidential client gets, by client_credentials with `resource`, an RFC 9068 `at+jwt` that
 * verifies against the JWKS with `aud` = that resource (RFC 8707), on every storage backend.
 */
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { BACKENDS, batonOn, SERVICE_SECRET } from '../helpers.ts';
import { AGENT_AUTHORIZATION, LOGS } from '../seed.ts';

const COST = 'https://cost.internal.example.com';

describe.each(BACKENDS)('client_credentials on $name storage', (backend) => {
  const baton = batonOn(backend);
  const logs = baton.logs;

  const token = (form: Record<string, string | string[]>, secret = SERVICE_SECRET) =>
    request(baton.server.url).post('/token').auth('cost-reporter', secret).type('form').send(form);

  it('issues an at+jwt for the resource that verifies against the JWKS', async () => {
    const res = await token({ grant_type: 'client_credentials', resource: COST, scope: 'cost.read' }).expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'cost.read' });
    const jwks = (await request(baton.server.url).get('/jwks').expect(200)).body as JSONWebKeySet;
    const { payload, protectedHeader } = await jwtVerify(res.body.access_token, createLocalJWKSet(jwks), {
      issuer: 'http://127.0.0.1:9400',
      audience: COST,
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    expect(protectedHeader.kid).toBe(jwks.keys[0]!.kid);
    expect(payload).toMatchObject({
      sub: 'cost-reporter',
      client_id: 'cost-reporter',
      aud: COST,
      scope: 'cost.read',
      client_kind: 'service',
    });
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(typeof payload.jti).toBe('string');
  });

  it('grants only the scopes configured for the client (cost.write is not)', async () => {
    const res = await token({ grant_type: 'client_credentials', resource: COST, scope: 'cost.read cost.write' }).expect(
      200,
    );
    expect(res.body.scope).toBe('cost.read');
  });

  it('asking only for scopes the client may not have is invalid_scope', async () => {
    const res = await token({ grant_type: 'client_credentials', resource: COST, scope: 'cost.write' }).expect(400);
    expect(res.body).toMatchObject({ error: 'invalid_scope', scope: 'cost.write' });
  });

  it('a missing resource is invalid_target (no audience-less token)', async () => {
    const res = await token({ grant_type: 'client_credentials', scope: 'cost.read' }).expect(400);
    expect(res.body).toEqual({ error: 'invalid_target', error_description: 'the resource parameter is required' });
  });

  it('an unknown resource is invalid_target', async () => {
    const res = await token({ grant_type: 'client_credentials', resource: 'https://unknown.example.com' }).expect(400);
    expect(res.body.error).toBe('invalid_target');
  });

  it('a resource the client is not allowed is invalid_target', async () => {
    const res = await token({ grant_type: 'client_credentials', resource: LOGS }).expect(400);
    expect(res.body.error).toBe('invalid_target');
  });

  it('two different resources in one request are invalid_target', async () => {
    const res = await token({ grant_type: 'client_credentials', resource: [COST, LOGS] });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_target');
  });

  it('a resource with a fragment is invalid_target (RFC 8707 §2)', async () => {
    const res = await token({ grant_type: 'client_credentials', resource: `${COST}#x` }).expect(400);
    expect(res.body.error).toBe('invalid_target');
  });

  it('a NUL character is an OAuth error, never a store failure', async () => {
    // PostgreSQL cannot hold U+0000: a hostile client_id, code, token or state is unknown or refused (RFC 6749 §5.2)
    const anonymous = await request(baton.server.url)
      .post('/token')
      .type('form')
      .send({ grant_type: 'client_credentials', client_id: 'a\u0000b', client_secret: 'x' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error).toBe('invalid_client');
    const code = await request(baton.server.url)
      .post('/token')
      .type('form')
      .send({
        grant_type: 'authorization_code',
        client_id: 'ide-agent',
        code: 'a\u0000b',
        code_verifier: 'v'.repeat(43),
        redirect_uri: 'http://127.0.0.1/callback',
      });
    expect(code.status).toBe(400);
    expect(code.body.error).toBe('invalid_grant');
    const introspected = await request(baton.server.url)
      .post('/token/introspection')
      .auth('cost-reporter', SERVICE_SECRET)
      .type('form')
      .send({ token: '\u0000' })
      .expect(200);
    expect(introspected.body).toEqual({ active: false });
    const authorize = await request(baton.server.url)
      .get('/auth')
      .query({ ...AGENT_AUTHORIZATION, state: 'a\u0000b' });
    expect(authorize.status).toBe(303);
    const back = new URL(authorize.headers.location!, baton.server.url);
    // stored where PostgreSQL holds interactions; Redis holds it as it is
    if (backend.name === 'postgres+redis') expect(back.pathname).toMatch(/^\/interaction\//);
    else expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(logs.lines().join('\n')).not.toContain('"level":50');
  });

  it('logs the refusal reason but never the secret or the token', async () => {
    const ok = await token({ grant_type: 'client_credentials', resource: COST }).expect(200);
    await token({ grant_type: 'client_credentials', resource: COST }, 'wrong-secret-value').expect(401);
    const text = logs.lines().join('\n');
    expect(text).toContain('"event":"grant.success"');
    expect(text).toContain('"error":"invalid_client"');
    expect(text).not.toContain(SERVICE_SECRET);
    expect(text).not.toContain('wrong-secret-value');
    expect(text).not.toContain(ok.body.access_token);
    expect(decodeProtectedHeader(ok.body.access_token).typ).toBe('at+jwt');
  });
});
