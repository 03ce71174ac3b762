import { describe, expect, it } from 'vitest';
import { bareProvider, type Bare } from './bare-provider.ts';
import { acceptClientIdUrls } from './client-id-urls.ts';

const HTTP_ID = 'http://127.0.0.1:8080/agent.json';
const HTTPS_ID = 'https://agents.test/agent.json';
const REDIRECT = 'http://127.0.0.1:8080/cb';

/** a bare provider with CIMD on, whose `fetch` hook serves each id's document (no network) */
async function cimdProvider(): Promise<Bare & { fetched: string[] }> {
  const fetched: string[] = [];
  const bare = await bareProvider({
    features: { clientIdMetadataDocument: { enabled: true, ack: 'draft-02' } },
    fetch: async (url: URL | string) => {
      fetched.push(String(url));
      const document = {
        client_id: String(url),
        redirect_uris: [REDIRECT],
        application_type: 'native',
        token_endpoint_auth_method: 'none',
      };
      return new Response(JSON.stringify(document), { headers: { 'content-type': 'application/json' } });
    },
  });
  return Object.assign(bare, { fetched });
}

const authorize = (bare: Bare, clientId: string) =>
  bare.http.get('/auth').query({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'openid',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  });

describe('upstream (oidc-provider without the patch)', () => {
  it('Client.find resolves only an https client id URL by its metadata document', async () => {
    const { provider, fetched } = await cimdProvider();
    expect(await provider.Client.find(HTTP_ID)).toBeUndefined();
    expect(fetched).toEqual([]);
    expect((await provider.Client.find(HTTPS_ID))?.clientId).toBe(HTTPS_ID);
    expect(fetched).toEqual([HTTPS_ID]);
  });

  it('the authorization endpoint looks the client up with Client.find: an http id is unknown', async () => {
    const bare = await cimdProvider();
    const res = await authorize(bare, HTTP_ID);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_client', error_description: 'client is invalid' });
    expect((await authorize(bare, HTTPS_ID.replace('agent', 'other'))).status).toBe(303);
  });
});

describe('client-id-urls (the patch)', () => {
  it("an accepted http id goes through oidc-provider's own CIMD resolution, at every endpoint", async () => {
    const bare = await cimdProvider();
    acceptClientIdUrls(bare.provider, (id) => id === HTTP_ID);
    expect((await bare.provider.Client.find(HTTP_ID))?.clientId).toBe(HTTP_ID);
    expect(bare.fetched).toEqual([HTTP_ID]);
    const res = await authorize(bare, HTTP_ID);
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/interaction\//);
    expect(bare.fetched).toEqual([HTTP_ID]); // the cache oidc-provider keeps for a document
    // any other id takes the normal way
    expect(await bare.provider.Client.find('http://127.0.0.1:9090/other.json')).toBeUndefined();
    expect((await bare.provider.Client.find(HTTPS_ID))?.clientId).toBe(HTTPS_ID);
  });
});
