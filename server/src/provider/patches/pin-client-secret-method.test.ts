import { describe, expect, it } from 'vitest';
import Provider from 'oidc-provider';
import { basic, bareProvider, ISSUER, type Bare } from './bare-provider.ts';
import { pinClientSecretMethod } from './pin-client-secret-method.ts';

const SECRET = 'client-secret-0123456789';
const service = (id: string, method: string) => ({
  client_id: id,
  client_secret: SECRET,
  token_endpoint_auth_method: method,
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
});
const config = {
  clients: [service('basic', 'client_secret_basic'), service('post', 'client_secret_post')],
  features: { clientCredentials: { enabled: true } },
};

const byBasic = (http: Bare['http'], id: string) =>
  http.post('/token').set('authorization', basic(id, SECRET)).type('form').send({ grant_type: 'client_credentials' });
const byPost = (http: Bare['http'], id: string) =>
  http.post('/token').type('form').send({ grant_type: 'client_credentials', client_id: id, client_secret: SECRET });

describe('upstream (oidc-provider without the patch)', () => {
  it('accepts either secret method for a client registered for one of them', async () => {
    const { http } = await bareProvider(config);
    expect((await byPost(http, 'basic')).status).toBe(200);
    expect((await byBasic(http, 'post')).status).toBe(200);
  });

  it('compares the secret with Client#compareClientSecret while Provider.ctx is the request', async () => {
    const { provider, http } = await bareProvider(config);
    const proto = provider.Client.prototype as unknown as { compareClientSecret: (s: string) => Promise<boolean> };
    const compare = proto.compareClientSecret;
    const calls: Array<{ secret: string; bodySecret: unknown }> = [];
    proto.compareClientSecret = function (this: unknown, secret: string) {
      const ctx = (Provider as unknown as { ctx?: { oidc: { params?: { client_secret?: unknown } } } }).ctx;
      calls.push({ secret, bodySecret: ctx?.oidc.params?.client_secret });
      return compare.call(this, secret);
    };
    await byPost(http, 'post');
    await byBasic(http, 'basic');
    expect(calls).toEqual([
      { secret: SECRET, bodySecret: SECRET },
      { secret: SECRET, bodySecret: undefined },
    ]);
  });
});

describe('pin-client-secret-method (the patch)', () => {
  it('refuses the other method with invalid_client (401 and a Basic challenge), accepts the registered one', async () => {
    const { provider, http } = await bareProvider(config);
    pinClientSecretMethod(provider);
    const post = await byPost(http, 'basic');
    expect(post.status).toBe(401);
    expect(post.body).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    expect(post.headers['www-authenticate']).toBe(`Basic realm="${ISSUER}"`);
    const viaBasic = await byBasic(http, 'post');
    expect(viaBasic.status).toBe(401);
    expect(viaBasic.body).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    expect(viaBasic.headers['www-authenticate']).toMatch(new RegExp(`^Basic realm="${ISSUER}"`));
    expect((await byBasic(http, 'basic')).status).toBe(200);
    expect((await byPost(http, 'post')).status).toBe(200);
  });
});
