import { describe, expect, it } from 'vitest';
import { Policy } from './policy.ts';

const LOGS = 'https://logs.mcp.example.com/mcp';
const policy = new Policy({
  roles: { developer: ['logs.read', 'analytics.query'], sre: ['logs.read', 'logs.debug.write', 'incidents.trigger'] },
  role_bindings: { corp: { developers: ['developer'], oncall: ['sre'] }, local: { devs: ['developer'] } },
  resources: [
    { uri: LOGS, name: 'Logs', scopes: ['logs.read', 'logs.debug.write', 'incidents.trigger'], scope_descriptions: {} },
  ],
});

describe('policy', () => {
  it('maps groups to roles per IdP', () => {
    expect(policy.rolesFor('corp', ['developers', 'unrelated'])).toEqual(['developer']);
    expect(policy.rolesFor('corp', ['oncall', 'developers'])).toEqual(['developer', 'sre']);
    expect(policy.rolesFor('local', ['developers'])).toEqual([]); // bindings are per IdP
    expect(policy.rolesFor('unknown', ['developers'])).toEqual([]);
  });

  it('Alice the developer gets logs.read, never incidents.trigger', () => {
    expect(policy.decide(LOGS, ['logs.read', 'incidents.trigger'], ['developer'])).toEqual({
      granted: ['logs.read'],
      denied: ['incidents.trigger'],
    });
  });

  it('Bob the SRE gets incidents.trigger', () => {
    expect(policy.decide(LOGS, ['incidents.trigger'], ['sre']).granted).toEqual(['incidents.trigger']);
  });

  it('no scope of the resource requested means all of its scopes, filtered by role', () => {
    expect(policy.decide(LOGS, [], ['developer'])).toEqual({
      granted: ['logs.read'],
      denied: ['logs.debug.write', 'incidents.trigger'],
    });
    expect(policy.decide(LOGS, ['openid', 'offline_access'], ['sre']).granted).toEqual([
      'logs.read',
      'logs.debug.write',
      'incidents.trigger',
    ]);
  });

  it('an unknown resource grants nothing; a user without roles gets nothing', () => {
    expect(policy.decide('https://other.example.com', ['logs.read'], ['sre'])).toEqual({ granted: [], denied: [] });
    expect(policy.decide(LOGS, ['logs.read'], []).granted).toEqual([]);
  });

  it('names the roles that granted a token scope', () => {
    expect(policy.rolesGranting(['developer', 'sre'], ['incidents.trigger'])).toEqual(['sre']);
    expect(policy.rolesGranting(['developer', 'sre'], ['logs.read'])).toEqual(['developer', 'sre']);
  });
});
