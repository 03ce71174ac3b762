import { describe, expect, it } from 'vitest';
import { ERRORS, GRANT_TYPES, METHODS, oneOf, routeOf } from './labels.ts';

describe('metrics route labels', () => {
  it('names fixed routes as they are, and parametrised ones by their pattern', () => {
    expect(routeOf('/', '/token')).toBe('/token');
    expect(routeOf('/', '/.well-known/oauth-authorization-server')).toBe('/.well-known/oauth-authorization-server');
    expect(routeOf('/', '/interaction/callback/corp')).toBe('/interaction/callback/:idp');
    expect(routeOf('/', '/interaction/abc123/login')).toBe('/interaction/:uid');
    expect(routeOf('/', '/auth/xyz')).toBe('/auth/:uid');
    expect(routeOf('/', '/reg/client-1')).toBe('/reg/:client_id');
    expect(routeOf('/', '/session/end/confirm')).toBe('/session/end/:step');
  });

  it('strips the issuer path first; a path outside it, or unknown, is "other"', () => {
    expect(routeOf('/oauth', '/oauth/token')).toBe('/token');
    expect(routeOf('/oauth', '/oauth')).toBe('other');
    expect(routeOf('/oauth', '/oauth/interaction/u1')).toBe('/interaction/:uid');
    expect(routeOf('/', '/healthz')).toBe('/healthz');
    expect(routeOf('/', '/token/../../etc/passwd')).toBe('other');
    expect(routeOf('/', '/tokenx')).toBe('other');
    expect(routeOf('/', '/?q=/token')).toBe('other');
  });
});

describe('metrics label values from fixed sets', () => {
  it('keeps a known value and turns anything else into "other"', () => {
    expect(oneOf(GRANT_TYPES, 'urn:ietf:params:oauth:grant-type:token-exchange')).toBe(
      'urn:ietf:params:oauth:grant-type:token-exchange',
    );
    expect(oneOf(GRANT_TYPES, 'urn:attacker:grant')).toBe('other');
    expect(oneOf(ERRORS, 'invalid_target')).toBe('invalid_target');
    expect(oneOf(ERRORS, 'made_up_error')).toBe('other');
    expect(oneOf(METHODS, 'PATCH')).toBe('other');
    expect(oneOf(METHODS, undefined)).toBe('other');
    expect(oneOf(METHODS, ['GET'])).toBe('other');
  });
});
