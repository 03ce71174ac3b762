import { describe, expect, it } from 'vitest';
import { bareProvider } from './bare-provider.ts';
import { discoveryScopes } from './discovery-scopes.ts';

const config = { scopes: ['openid', 'offline_access'], discovery: { scopes_supported: ['from-config'] } };
const DOCUMENTS = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'];

describe('upstream (oidc-provider without the patch)', () => {
  it.each(DOCUMENTS)('%s lists only the configured scopes (discovery config cannot add any)', async (path) => {
    const { http } = await bareProvider(config);
    const res = await http.get(path);
    expect(res.status).toBe(200);
    expect(res.body.scopes_supported).toEqual(['openid', 'offline_access']);
  });

  it('routes both documents as "discovery" (ctx.oidc.route)', async () => {
    const bare = await bareProvider(config);
    const routes: unknown[] = [];
    bare.provider.use(async (ctx, next) => {
      await next();
      routes.push((ctx as { oidc?: { route?: string } }).oidc?.route);
    });
    for (const path of DOCUMENTS) await bare.http.get(path);
    expect(routes).toEqual(['discovery', 'discovery']);
  });
});

describe('discovery-scopes (the patch)', () => {
  it.each(DOCUMENTS)('%s adds the current resource scopes, read per request', async (path) => {
    const bare = await bareProvider(config);
    let scopes = ['files:read'];
    bare.provider.use(discoveryScopes(() => scopes));
    expect((await bare.http.get(path)).body.scopes_supported).toEqual(['openid', 'offline_access', 'files:read']);
    scopes = ['files:read', 'files:write', 'openid'];
    expect((await bare.http.get(path)).body.scopes_supported).toEqual([
      'openid',
      'offline_access',
      'files:read',
      'files:write',
    ]);
  });
});
