import { describe, expect, it } from 'vitest';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { basic, bareProvider } from './bare-provider.ts';
import { defaultRequestedScope } from './default-requested-scope.ts';

const RESOURCE = 'https://rs.test/';
const SECRET = 'svc-secret-0123456789';

/** a bare provider whose resource server allows `read write`; `info` runs inside getResourceServerInfo */
function withResource(info: (ctx: KoaContextWithOIDC) => void = () => {}) {
  return bareProvider({
    clients: [
      {
        client_id: 'svc',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
      },
    ],
    features: {
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx: KoaContextWithOIDC) => {
          info(ctx);
          return { scope: 'read write', audience: RESOURCE, accessTokenFormat: 'opaque' };
        },
      },
    },
  });
}

const token = (http: Awaited<ReturnType<typeof withResource>>['http'], form: Record<string, string>) =>
  http
    .post('/token')
    .set('authorization', basic('svc', SECRET))
    .type('form')
    .send({ grant_type: 'client_credentials', resource: RESOURCE, ...form });

describe('upstream (oidc-provider without the patch)', () => {
  it('client_credentials issues the requested scopes the resource allows, and none without `scope`', async () => {
    const { http } = await withResource();
    const requested = await token(http, { scope: 'write delete' });
    expect(requested.status).toBe(200);
    expect(requested.body.scope).toBe('write');
    const none = await token(http, {});
    expect(none.status).toBe(200);
    expect(none.body).not.toHaveProperty('scope');
  });

  it('client_credentials reads params.scope after getResourceServerInfo', async () => {
    const { http } = await withResource((ctx) => {
      (ctx.oidc.params as Record<string, unknown>).scope = 'read';
    });
    expect((await token(http, {})).body.scope).toBe('read');
  });
});

describe('default-requested-scope (the patch)', () => {
  it('a request without `scope` gets the default set in getResourceServerInfo', async () => {
    const { http } = await withResource((ctx) => {
      if (ctx.oidc.params?.scope === undefined) defaultRequestedScope(ctx, 'read write');
    });
    expect((await token(http, {})).body.scope).toBe('read write');
    expect((await token(http, { scope: 'write' })).body.scope).toBe('write');
  });
});
