/**
 * RFC 7662 §4 / RFC 7009 §2.1: only the client a token was issued to learns anything about it (or revokes
 * it). Any other client, confidential or not, gets exactly what an unknown token gets: `{active:false}`
 * from introspection and an empty 200 from revocation, which revokes nothing. For refresh tokens (stored
 * by oidc-provider) and JWT access tokens (answered by baton), on every storage backend.
 */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { BACKENDS, batonOn, PARTNER_SECRET, SERVICE_SECRET } from '../helpers.ts';
import { AGENT, codeForm, LOGS, seedAccount, seedCode } from '../seed.ts';

/** callers that are not the tokens' client: two confidential clients, and a public one */
const FOREIGN: [string, string | undefined][] = [
  ['partner-app', PARTNER_SECRET],
  ['cost-reporter', SERVICE_SECRET],
  ['third-party-agent', undefined],
];

describe.each(BACKENDS)('introspection and revocation by a foreign client, on $name storage', (backend) => {
  const baton = batonOn(backend);

  const call = (path: string, as: [string, string | undefined], token: string) => {
    const [id, secret] = as;
    const req = request(baton.server.url).post(path).type('form');
    return secret ? req.auth(id, secret).send({ token }) : req.send({ token, client_id: id });
  };
  const introspect = (as: [string, string | undefined], token: string) => call('/token/introspection', as, token);
  const revoke = (as: [string, string | undefined], token: string) => call('/token/revocation', as, token);
  const OWNER: [string, undefined] = [AGENT, undefined];

  async function aliceTokens(): Promise<{ access_token: string; refresh_token: string }> {
    const seed = await seedCode(baton.server.provider(), await seedAccount(baton.server.accounts));
    const res = await request(baton.server.url).post('/token').type('form').send(codeForm(seed)).expect(200);
    expect(typeof res.body.refresh_token).toBe('string');
    return res.body as { access_token: string; refresh_token: string };
  }

  it.each(FOREIGN)('%s learns nothing about a refresh token, and cannot revoke it', async (...caller) => {
    const { refresh_token } = await aliceTokens();
    await introspect(caller, refresh_token).expect(200, { active: false });
    const revoked = await revoke(caller, refresh_token).expect(200);
    expect(revoked.text).toBe('');
    // still the owner's: introspection says so, and it refreshes
    const own = await introspect(OWNER, refresh_token).expect(200);
    expect(own.body).toMatchObject({ active: true, client_id: AGENT, scope: 'openid logs.read' });
    await request(baton.server.url)
      .post('/token')
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token, client_id: AGENT, resource: LOGS })
      .expect(200);
  });

  it.each(FOREIGN)('%s learns nothing about a JWT access token, and cannot revoke it', async (...caller) => {
    const { access_token } = await aliceTokens();
    await introspect(caller, access_token).expect(200, { active: false });
    const revoked = await revoke(caller, access_token).expect(200);
    expect(revoked.text).toBe('');
    const own = await introspect(OWNER, access_token).expect(200);
    expect(own.body).toMatchObject({ active: true, client_id: AGENT, aud: LOGS, scope: 'logs.read' });
  });

  it.each(FOREIGN)('%s gets the same answers for an unknown token', async (...caller) => {
    await introspect(caller, 'x'.repeat(43)).expect(200, { active: false });
    const revoked = await revoke(caller, 'x'.repeat(43)).expect(200);
    expect(revoked.text).toBe('');
  });

  it('the owner revokes its own refresh token: it is inactive and no longer refreshes', async () => {
    const { refresh_token } = await aliceTokens();
    await revoke(OWNER, refresh_token).expect(200);
    await introspect(OWNER, refresh_token).expect(200, { active: false });
    const res = await request(baton.server.url)
      .post('/token')
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token, client_id: AGENT, resource: LOGS })
      .expect(400);
    expect(res.body.error).toBe('invalid_grant');
  });
});
