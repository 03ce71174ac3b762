import { describe, expect, it } from 'vitest';
import { bareProvider } from './bare-provider.ts';
import { anyLoopbackPort } from './loopback-redirect-port.ts';

const REGISTERED = 'http://127.0.0.1:8080/cb';
const OTHER_PORT = 'http://127.0.0.1:53124/cb';

/** a bare provider with one public client whose only redirect is REGISTERED, with `metadata` on top */
async function authorize(metadata: Record<string, unknown>, redirectUri: string) {
  const client = {
    client_id: 'app',
    token_endpoint_auth_method: 'none',
    redirect_uris: [REGISTERED],
    ...metadata,
  };
  const { http } = await bareProvider({ clients: [client] });
  return http.get('/auth').query({
    client_id: 'app',
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  });
}

describe('upstream (oidc-provider without the rule)', () => {
  it('a web client loopback redirect matches only its registered port', async () => {
    expect((await authorize({ application_type: 'web' }, REGISTERED)).status).toBe(303);
    const res = await authorize({ application_type: 'web' }, OTHER_PORT);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_redirect_uri' });
  });

  it('a native client loopback redirect matches on any port', async () => {
    expect((await authorize({ application_type: 'native' }, OTHER_PORT)).status).toBe(303);
  });
});

describe('loopback-redirect-port', () => {
  it('metadata it is applied to matches its loopback redirect on any port', async () => {
    const metadata: Record<string, unknown> = { application_type: 'web' };
    anyLoopbackPort(metadata);
    expect((await authorize(metadata, OTHER_PORT)).status).toBe(303);
  });
});
