/** RFC 9493 subject identifiers as a global token revocation request names the user (subject-identifier.ts). */
import { describe, expect, it } from 'vitest';
import { parseSubjectIdentifier } from './subject-identifier.ts';

describe('parseSubjectIdentifier', () => {
  it('takes the three formats baton resolves, with exactly their members (RFC 9493 §3.2.2–§3.2.4)', () => {
    const issSub = { format: 'iss_sub', iss: 'https://example.okta.com', sub: '00u1' };
    expect(parseSubjectIdentifier(issSub)).toEqual(issSub);
    expect(parseSubjectIdentifier({ format: 'email', email: 'a@example.com' })).toEqual({
      format: 'email',
      email: 'a@example.com',
    });
    expect(parseSubjectIdentifier({ format: 'opaque', id: 'u_x' })).toEqual({ format: 'opaque', id: 'u_x' });
  });

  it('refuses another format as unsupported, and anything malformed as invalid', () => {
    expect(parseSubjectIdentifier({ format: 'phone_number', phone_number: '+1' })).toMatchObject({
      refused: 'unsupported',
    });
    expect(parseSubjectIdentifier({ format: 'aliases', identifiers: [] })).toMatchObject({ refused: 'unsupported' });
    for (const bad of [
      null,
      'iss_sub',
      [],
      {},
      { format: 42 },
      { format: 'iss_sub', iss: 'https://example.okta.com' },
      { format: 'iss_sub', iss: 'https://example.okta.com', sub: '' },
      { format: 'iss_sub', iss: 'https://example.okta.com', sub: 7 },
      { format: 'iss_sub', iss: 'https://example.okta.com', sub: 'a\u0000b' },
      { format: 'iss_sub', iss: 'https://example.okta.com', sub: '\ud800' },
      { format: 'iss_sub', iss: 'https://example.okta.com', sub: 'x'.repeat(1025) },
      { format: 'email', email: 'a@example.com', sub: 'extra member' },
      { format: 'email', email: 'not an address' },
      { format: 'email', email: 'a@b@c' },
      { format: 'opaque' },
    ])
      expect(parseSubjectIdentifier(bad)).toMatchObject({ refused: 'invalid' });
  });
});
