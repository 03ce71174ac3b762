/**
 * A production `baton start` writes structured logs only (README "Operations"): every stdout line is one
 * JSON object and stderr stays empty, whatever the requests — nothing unstructured from oidc-provider (its
 * NOTICE / WARNING lines about unconfigured policies or an upstream body parser) or from Node. Exercised
 * over registration (RFC 7591/7592), token requests of each grant, introspection, revocation, PAR and
 * refusals of each kind.
 */
import { exportJWK, generateKeyPair } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import type { RunningServer } from '../src/main.ts';
import { PARTNER_SECRET, SERVICE_SECRET, startTestServer, type TestServer } from './helpers.ts';
import { startServerProcess, writeConfig, type ServerProcess } from './processes.ts';
import { AGENT, AGENT_AUTHORIZATION, codeForm, LOGS, seedAccount, seedCode } from './seed.ts';

const COST = 'https://cost.internal.example.com';
let proc: ServerProcess;
let baton: TestServer | undefined;
let seeder: RunningServer; // an in-test instance on the same store, used only to write the seed

beforeAll(async () => {
  baton = await startTestServer({
    backend: 'postgres+redis',
    log: createLogger('silent'),
    config: (base) => ({ clients: { ...base.clients, registration: { dcr: { mode: 'open' } } } }),
  });
  seeder = baton.server;
  proc = await startServerProcess(writeConfig({ ...baton.config, logging: { level: 'info' } }));
});
afterAll(async () => {
  await proc?.stop();
  await baton?.close();
});

describe('a production server process', () => {
  it('writes only JSON lines to stdout and nothing to stderr', async () => {
    const url = proc.url;
    await request(url).get('/.well-known/oauth-authorization-server').expect(200);
    await request(url).get('/jwks').expect(200);

    // RFC 7591 / 7592: register, read, update; a too-large and a malformed registration
    const registered = await request(url)
      .post('/reg')
      .send({
        redirect_uris: ['https://agent.example.com/cb'],
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        scope: 'logs.read',
      })
      .expect(201);
    const { client_id, registration_access_token, registration_client_uri } = registered.body as Record<string, string>;
    const path = new URL(registration_client_uri!).pathname;
    await request(url).get(path).auth(registration_access_token!, { type: 'bearer' }).expect(200);
    const updated = await request(url)
      .put(path)
      .auth(registration_access_token!, { type: 'bearer' })
      .send({
        client_id,
        redirect_uris: ['https://agent.example.com/cb2'],
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code'],
        response_types: ['code'],
      });
    expect(updated.status).toBe(200);
    await request(url)
      .post('/reg')
      .send({ redirect_uris: ['https://a.example/cb'], client_name: 'x'.repeat(10_000) })
      .expect(400);
    await request(url).post('/reg').set('content-type', 'application/json').send('{"redirect_uris":').expect(400);
    const { publicKey } = await generateKeyPair('ES256');
    await request(url)
      .post('/reg')
      .send({
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k' }] },
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: ['https://agent.example.com/cb'],
      })
      .expect(201);

    // tokens: client credentials, authorization code, refresh
    const service = await request(url)
      .post('/token')
      .auth('cost-reporter', SERVICE_SECRET)
      .type('form')
      .send({ grant_type: 'client_credentials', resource: COST })
      .expect(200);
    const seed = await seedCode(seeder.provider(), await seedAccount(seeder.accounts));
    const user = await request(url).post('/token').type('form').send(codeForm(seed)).expect(200);
    const refreshed = await request(url)
      .post('/token')
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: user.body.refresh_token, client_id: AGENT, resource: LOGS })
      .expect(200);

    // introspection and revocation, by the owner and by another client, of both kinds of token
    const form = (p: string, body: Record<string, string>, as?: [string, string]) => {
      const req = request(url).post(p).type('form');
      return (as ? req.auth(...as) : req).send(body);
    };
    await form('/token/introspection', { token: service.body.access_token }, ['cost-reporter', SERVICE_SECRET]);
    await form('/token/introspection', { token: service.body.access_token }, ['partner-app', PARTNER_SECRET]);
    await form('/token/introspection', { token: refreshed.body.refresh_token, client_id: AGENT });
    await form('/token/introspection', { token: refreshed.body.refresh_token }, ['partner-app', PARTNER_SECRET]);
    await form('/token/revocation', { token: refreshed.body.refresh_token }, ['partner-app', PARTNER_SECRET]);
    await form('/token/revocation', { token: refreshed.body.access_token }, ['partner-app', PARTNER_SECRET]);
    await form('/token/revocation', { token: refreshed.body.refresh_token, client_id: AGENT }).expect(200);
    await form('/token/revocation', { token: service.body.access_token }, ['cost-reporter', SERVICE_SECRET]);
    await form('/token/revocation', { token: 'unknown' }, ['cost-reporter', SERVICE_SECRET]).expect(200);

    // refusals: no client authentication, wrong method, wrong secret, grant type not allowed, bad DPoP
    await form('/token', { grant_type: 'client_credentials' }).expect(401);
    await form('/token/introspection', { token: 'x' }).expect(401);
    await form('/token', {
      grant_type: 'client_credentials',
      resource: COST,
      client_id: 'cost-reporter',
      client_secret: SERVICE_SECRET,
    }).expect(401);
    await form('/token', { grant_type: 'client_credentials', resource: COST }, [
      'cost-reporter',
      'wrong-secret',
    ]).expect(401);
    await form('/token', { grant_type: 'authorization_code', code: 'x' }, ['cost-reporter', SERVICE_SECRET]).expect(
      400,
    );
    await request(url)
      .post('/token')
      .auth('cost-reporter', SERVICE_SECRET)
      .set('DPoP', 'not.a.proof')
      .type('form')
      .send({ grant_type: 'client_credentials', resource: COST })
      .expect(400);

    // PAR and the authorization endpoint (a page for a browser, a redirect for a client)
    await form('/request', { ...AGENT_AUTHORIZATION });
    await request(url).get('/auth').query({ client_id: 'nobody' }).set('accept', 'text/html').expect(400);
    await request(url).get('/auth').query(AGENT_AUTHORIZATION);

    // every line the process wrote so far reaches us before it exits
    expect(await proc.stop()).toBe(0);
    expect(proc.stderr.join('')).toBe('');
    const notJson = proc.stdout.filter((line) => {
      try {
        return typeof JSON.parse(line) !== 'object';
      } catch {
        return true;
      }
    });
    expect(notJson).toEqual([]);
    expect(proc.stdout.some((l) => l.includes('"msg":"server.closed"'))).toBe(true);
  });
});
