import { describe, expect, it } from 'vitest';
import { extractGroups } from './oidc.ts';

describe('groups at a claim path', () => {
  it('a flat array claim', () => {
    expect(extractGroups({ groups: ['developers', 'oncall'] }, 'groups')).toEqual(['developers', 'oncall']);
  });
  it('a nested path (Keycloak realm_access.roles)', () => {
    expect(extractGroups({ realm_access: { roles: ['sre'] } }, 'realm_access.roles')).toEqual(['sre']);
  });
  it('a separator-joined string, and a single string', () => {
    expect(extractGroups({ groups: 'developers, oncall' }, 'groups', ',')).toEqual(['developers', 'oncall']);
    expect(extractGroups({ groups: 'developers' }, 'groups')).toEqual(['developers']);
  });
  it('absent is undefined (then userinfo is asked); non-strings are dropped; other shapes give none', () => {
    expect(extractGroups({}, 'groups')).toBeUndefined();
    expect(extractGroups({ realm_access: 'x' }, 'realm_access.roles')).toBeUndefined();
    expect(extractGroups({ groups: ['a', 1, null, ''] }, 'groups')).toEqual(['a']);
    expect(extractGroups({ groups: { a: 1 } }, 'groups')).toEqual([]);
  });
});
