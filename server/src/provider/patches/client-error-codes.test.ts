import { describe, expect, it } from 'vitest';
import type Provider from 'oidc-provider';
import { basic, bareProvider, ISSUER } from './bare-provider.ts';
import {
  CLIENT_AUTHENTICATED_EVENTS,
  clientErrorCodes,
  GRANT_TYPE_NOT_ALLOWED,
  NO_CLIENT_AUTHENTICATION,
  type ProviderError,
} from './client-error-codes.ts';

const config = {
  clients: [
    {
      client_id: 'web',
      client_secret: 'web-secret-0123456789',
      grant_types: ['authorization_code'],
      redirect_uris: ['https://rp.test/cb'],
      response_types: ['code'],
    },
  ],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    pushedAuthorizationRequests: { enabled: true },
  },
};

/** each client-authenticated endpoint, the event its errors are emitted as, and a request without client auth */
const ENDPOINTS: ReadonlyArray<[event: string, path: string, form: Record<string, string>]> = [
  ['grant.error', '/token', { grant_type: 'client_credentials' }],
  ['introspection.error', '/token/introspection', { token: 'x' }],
  ['revocation.error', '/token/revocation', { token: 'x' }],
  ['pushed_authorization_request.error', '/request', { response_type: 'code', redirect_uri: 'https://rp.test/cb' }],
];

/** what a listener registered after the corrections (the log, the metrics) sees */
function seen(provider: Provider): Map<string, ProviderError> {
  const errors = new Map<string, ProviderError>();
  const on = provider.on.bind(provider) as (event: string, fn: (ctx: unknown, err: ProviderError) => void) => void;
  for (const event of CLIENT_AUTHENTICATED_EVENTS) on(event, (_ctx, err) => errors.set(event, { ...err }));
  return errors;
}

function withCorrections(provider: Provider): void {
  const on = provider.on.bind(provider) as (event: string, fn: (typeof clientErrorCodes)[number][1]) => void;
  for (const [event, listener] of clientErrorCodes) on(event, listener);
}

describe('upstream (oidc-provider without the patch)', () => {
  it('answers a grant type the client may not use with invalid_request and its fixed description', async () => {
    const { provider, http } = await bareProvider(config);
    const errors = seen(provider);
    const res = await http
      .post('/token')
      .set('authorization', basic('web', 'web-secret-0123456789'))
      .type('form')
      .send({ grant_type: 'client_credentials' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_request', error_description: GRANT_TYPE_NOT_ALLOWED });
    expect(errors.get('grant.error')).toMatchObject({ error: 'invalid_request' });
  });

  it.each(ENDPOINTS)(
    'answers %s without client authentication with invalid_request (400)',
    async (event, path, form) => {
      const { provider, http } = await bareProvider(config);
      const errors = seen(provider);
      const res = await http.post(path).type('form').send(form);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: NO_CLIENT_AUTHENTICATION });
      expect(res.headers['www-authenticate']).toBeUndefined();
      // emitted as that event, after the answer is rendered: a listener can still change it (below)
      expect(errors.get(event)).toMatchObject({
        error: 'invalid_request',
        error_description: NO_CLIENT_AUTHENTICATION,
      });
    },
  );
});

describe('client-error-codes (the patch)', () => {
  it('answers unauthorized_client, and the listeners after it see that code', async () => {
    const { provider, http } = await bareProvider(config);
    withCorrections(provider);
    const errors = seen(provider);
    const res = await http
      .post('/token')
      .set('authorization', basic('web', 'web-secret-0123456789'))
      .type('form')
      .send({ grant_type: 'client_credentials' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'unauthorized_client', error_description: GRANT_TYPE_NOT_ALLOWED });
    expect(errors.get('grant.error')).toMatchObject({
      error: 'unauthorized_client',
      error_detail: 'grant_type client_credentials is not registered for this client',
    });
  });

  it.each(ENDPOINTS)(
    'answers %s without client authentication with invalid_client (401, Basic)',
    async (event, path, form) => {
      const { provider, http } = await bareProvider(config);
      withCorrections(provider);
      const errors = seen(provider);
      const res = await http.post(path).type('form').send(form);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'invalid_client', error_description: 'client authentication is required' });
      expect(res.headers['www-authenticate']).toBe(`Basic realm="${ISSUER}"`);
      expect(errors.get(event)).toMatchObject({
        error: 'invalid_client',
        status: 401,
        error_detail: NO_CLIENT_AUTHENTICATION,
      });
    },
  );
});
