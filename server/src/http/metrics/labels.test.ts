import { describe, expect, it } from 'vitest';
import { ERRORS, GRANT_TYPES, METHODS, oneOf, routeOf } from './labels.ts';

describe('metrics route labels', () => {
  // [issuer path, request path, label]
  const cases: [string, string, string][] = [
    // fixed routes as they are, parametrised ones by their pattern
    ['/', '/token', '/token'],
    ['/', '/.well-known/oauth-authorization-server', '/.well-known/oauth-authorization-server'],
    ['/', '/healthz', '/healthz'],
    ['/', '/interaction/callback/corp', '/interaction/callback/:idp'],
    ['/', '/interaction/abc123/login', '/interaction/:uid'],
    ['/', '/auth/xyz', '/auth/:uid'],
    ['/', '/reg/client-1', '/reg/:client_id'],
    ['/', '/session/end/confirm', '/session/end/:step'],
    // the issuer path is stripped first
    ['/oauth', '/oauth/token', '/token'],
    ['/oauth', '/oauth/interaction/u1', '/interaction/:uid'],
    // anything else is "other"
    ['/oauth', '/oauth', 'other'],
    ['/', '/token/../../etc/passwd', 'other'],
    ['/', '/tokenx', 'other'],
  ];
  it.each(cases)('under %s, %s is %s', (issuerPath, path, label) => {
    expect(routeOf(issuerPath, path)).toBe(label);
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
