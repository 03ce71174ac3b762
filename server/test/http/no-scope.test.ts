/**
 * A valid token that carries no scope is never issued (issue #23): an access token is for one resource and
 * at least one of its scopes, whatever the grant; and a dynamically registered client cannot make itself a
 * service by registering `client_credentials`. Every refusal is an RFC 6749 §5.2 / RFC 7591 §3.2.2 error
 * with its exact body, on every storage backend (registrations and grants are stored).
 */
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { localIssuer } from '../../src/idp/registry.ts';
import { BACKENDS, batonOn, makeConfig, ROLES, SERVICE_SECRET } from '../helpers.ts';
import { AGENT, AGENT_REDIRECT, codeForm, LOGS, seedAccount, seedCode } from '../seed.ts';

const COST = 'https://cost.internal.example.com';
const SCOPELESS_SECRET = 'scopeless-service-secret-0123456789abc';

/** The scenario, plus open DCR and a service configured with no scope at all. */
function config(roles: Record<string, string[]> = ROLES): Record<string, unknown> {
  const base = makeConfig();
  return {
    roles,
    clients: {
      ...base.clients,
      static: [
        ...base.clients.static,
        { client_id: 'scopeless-service', kind: 'service', client_secret: SCOPELESS_SECRET },
      ],
      registration: { dcr: { mode: 'open' } },
    },
  };
}

describe.each(BACKENDS)('no token without a scope, on $name storage', (backend) => {
  const baton = batonOn(backend, config());
  const reload = (roles?: Record<string, string[]>) => baton.server.reloadPolicy(makeConfig(config(roles)));

  const token = (form: Record<string, string>, auth?: [string, string]) => {
    const req = request(baton.server.url).post('/token').type('form');
    return (auth ? req.auth(...auth) : req).send(form);
  };

  describe('client_credentials', () => {
    it('without scope, a client gets the scopes configured for it (RFC 6749 §3.3 default)', async () => {
      for (const form of [
        { grant_type: 'client_credentials', resource: COST } as Record<string, string>,
        { grant_type: 'client_credentials', resource: COST, scope: '' },
      ]) {
        const res = await token(form, ['cost-reporter', SERVICE_SECRET]).expect(200);
        expect(res.body.scope).toBe('cost.read');
        expect(decodeJwt(res.body.access_token as string).scope).toBe('cost.read');
      }
    });

    it('a client configured with no scope for the resource: invalid_scope, with or without scope', async () => {
      const none = await token({ grant_type: 'client_credentials', resource: COST }, [
        'scopeless-service',
        SCOPELESS_SECRET,
      ]).expect(400);
      expect(none.body).toEqual({
        error: 'invalid_scope',
        error_description: 'no scope can be granted for this resource',
      });
      const empty = await token({ grant_type: 'client_credentials', resource: LOGS, scope: '' }, [
        'scopeless-service',
        SCOPELESS_SECRET,
      ]).expect(400);
      expect(empty.body).toEqual({
        error: 'invalid_scope',
        error_description: 'no scope can be granted for this resource',
      });
      const asked = await token({ grant_type: 'client_credentials', resource: COST, scope: 'cost.read' }, [
        'scopeless-service',
        SCOPELESS_SECRET,
      ]).expect(400);
      expect(asked.body).toEqual({
        error: 'invalid_scope',
        error_description: 'requested scope is not allowed',
        scope: 'cost.read',
      });
    });
  });

  describe('dynamic registration cannot register client_credentials', () => {
    const refusal = {
      error: 'invalid_client_metadata',
      error_description: 'grant_types: client_credentials is only for clients configured in clients.static',
    };

    it.each([
      ['a confidential client', { token_endpoint_auth_method: 'client_secret_basic', response_types: [] }],
      ['a public client', { token_endpoint_auth_method: 'none', response_types: [] }],
      ['a client also using the authorization code', { token_endpoint_auth_method: 'client_secret_basic' }],
    ])('%s: invalid_client_metadata, nothing stored', async (_what, extra) => {
      const before = await storedClients();
      const grants = 'response_types' in extra ? ['client_credentials'] : ['authorization_code', 'client_credentials'];
      const res = await request(baton.server.url)
        .post('/reg')
        .send({ redirect_uris: ['https://agent.example.com/cb'], grant_types: grants, ...extra })
        .expect(400);
      expect(res.body).toEqual(refusal);
      expect(await storedClients()).toBe(before);
    });

    it('nor add it by an RFC 7592 update', async () => {
      const reg = await request(baton.server.url)
        .post('/reg')
        .send({ redirect_uris: ['https://agent.example.com/cb'], token_endpoint_auth_method: 'client_secret_basic' })
        .expect(201);
      const res = await request(baton.server.url)
        .put(`/reg/${reg.body.client_id as string}`)
        .auth(reg.body.registration_access_token as string, { type: 'bearer' })
        .send({
          client_id: reg.body.client_id,
          client_secret: reg.body.client_secret,
          redirect_uris: ['https://agent.example.com/cb'],
          token_endpoint_auth_method: 'client_secret_basic',
          grant_types: ['authorization_code', 'client_credentials'],
        })
        .expect(400);
      expect(res.body).toEqual(refusal);
      // the registered client is unchanged and still cannot use the grant
      const cc = await token({ grant_type: 'client_credentials', resource: COST }, [
        reg.body.client_id as string,
        reg.body.client_secret as string,
      ]).expect(400);
      expect(cc.body.error).toBe('unauthorized_client');
    });

    async function storedClients(): Promise<number> {
      const rows = await baton.server.storage.db('oidc_payloads').where({ model: 'Client' }).count('* as count');
      return Number((rows[0] as { count: string | number }).count);
    }
  });

  describe("a user's grants", () => {
    it('a code whose scopes the roles no longer grant: invalid_grant, no token', async () => {
      const account = await seedAccount(baton.server.accounts);
      const seed = await seedCode(baton.server.provider(), account); // logs.read, for the developer role
      await reload({ ...ROLES, developer: ['analytics.query'] });
      try {
        const res = await token(codeForm(seed)).expect(400);
        expect(res.body).toEqual({ error: 'invalid_grant', error_description: 'grant request is invalid' });
      } finally {
        await reload();
      }
    });

    it('a refresh asking only for a scope the roles no longer grant: invalid_grant, no token', async () => {
      const provider = baton.server.provider();
      const bob = await baton.server.accounts.recordLogin({
        idpId: 'local',
        idpIssuer: localIssuer('local'),
        idpSubject: 'bob',
        profile: { email: 'bob@example.com' },
        groups: ['oncall'],
        roles: ['sre'],
      });
      const client = (await provider.Client.find(AGENT))!;
      const grant = new provider.Grant({ accountId: bob.id, clientId: AGENT });
      grant.addOIDCScope('openid');
      grant.addResourceScope(LOGS, 'logs.read incidents.trigger');
      const grantId = await grant.save();
      const verifier = randomBytes(32).toString('base64url');
      const code = await new provider.AuthorizationCode({
        accountId: bob.id,
        client,
        grantId,
        redirectUri: AGENT_REDIRECT,
        scope: 'openid logs.read incidents.trigger',
        resource: LOGS,
        codeChallenge: createHash('sha256').update(verifier).digest('base64url'),
        codeChallengeMethod: 'S256',
        authTime: Math.floor(Date.now() / 1000),
        gty: 'authorization_code',
      }).save();
      const issued = await token(codeForm({ code, verifier })).expect(200);
      expect(issued.body.scope).toBe('logs.read incidents.trigger');
      await reload({ ...ROLES, sre: ['logs.read'] });
      try {
        const res = await token({
          grant_type: 'refresh_token',
          client_id: AGENT,
          refresh_token: issued.body.refresh_token as string,
          resource: LOGS,
          scope: 'incidents.trigger',
        }).expect(400);
        expect(res.body).toEqual({ error: 'invalid_grant', error_description: 'grant request is invalid' });
      } finally {
        await reload();
      }
    });
  });
});
