import { describe, expect, it } from 'vitest';
import { narrow, Policy } from './policy.ts';

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

describe('scope ceilings, one per grant', () => {
  const COST = 'https://cost.example.com';
  const logs = { uri: LOGS, name: 'Logs', scopes: ['logs.read', 'logs.debug.write', 'incidents.trigger'] };
  const cost = { uri: COST, name: 'Cost', scopes: ['cost.read', 'cost.write'] };
  const rule = {
    actor: 'logs-mcp',
    targets: [COST],
    scopes: ['cost.read', 'logs.read'],
    max_chain: 3,
    impersonation: false,
    workloads: ['spiffe://corp/ns/logs/*', 'batch-runner'],
  };
  const chaining = {
    audience: 'https://as.partner.example',
    clients: ['agent'],
    scopes: ['p.read'],
    lifetime_seconds: 60,
  };
  const full = new Policy({
    roles: { developer: ['logs.read', 'cost.read'], sre: ['logs.read', 'incidents.trigger'] },
    role_bindings: {},
    resources: [
      { ...logs, scope_descriptions: {} },
      { ...cost, scope_descriptions: {} },
    ],
    delegation: [rule],
    identity_chaining: [chaining],
  });

  it('narrow: the requested scopes the ceiling allows, in the order asked; no request → the whole ceiling', () => {
    expect(narrow(['a', 'b', 'c'], ['c', 'x', 'a'])).toEqual(['c', 'a']);
    expect(narrow(['a', 'b'], undefined)).toEqual(['a', 'b']);
    expect(narrow(['a', 'b'], [])).toEqual([]);
    expect(narrow([], ['a'])).toEqual([]);
  });

  it('authorization code and refresh: the resource scopes the roles grant now', () => {
    expect(full.userCeiling(logs, ['developer'])).toEqual(['logs.read']);
    expect(full.userCeiling(logs, ['developer', 'sre'])).toEqual(['logs.read', 'incidents.trigger']);
    expect(full.userCeiling(logs, ['removed-role'])).toEqual([]);
  });

  it('client credentials: the resource scopes configured for the client, in the resource order', () => {
    expect(full.clientCeiling(logs, ['incidents.trigger', 'logs.read', 'cost.read'])).toEqual([
      'logs.read',
      'incidents.trigger',
    ]);
    expect(full.clientCeiling(logs, [])).toEqual([]);
  });

  it('token exchange: the delegation rule for actor → target, and its ceiling', () => {
    expect(full.delegationRule('logs-mcp', COST)).toBe(rule);
    expect(full.delegationRule('logs-mcp', LOGS)).toBeUndefined();
    expect(full.delegationRule('someone-else', COST)).toBeUndefined();
    // another audience: the rule's scopes the target defines (logs.read is not a cost scope)
    expect(full.exchangeCeiling(rule, { ...cost, scope_descriptions: {} }, { audience: LOGS, scope: [] })).toEqual([
      'cost.read',
    ]);
    // the subject's own audience: never wider than the subject token
    const same = { ...rule, scopes: ['cost.read', 'cost.write'] };
    expect(
      full.exchangeCeiling(same, { ...cost, scope_descriptions: {} }, { audience: COST, scope: ['cost.write'] }),
    ).toEqual(['cost.write']);
  });

  it('token exchange: the workloads an actor may vouch for (exact or prefix*)', () => {
    expect(full.vouchesFor('logs-mcp', 'spiffe://corp/ns/logs/sa/worker')).toBe(true);
    expect(full.vouchesFor('logs-mcp', 'batch-runner')).toBe(true);
    expect(full.vouchesFor('logs-mcp', 'batch-runner-2')).toBe(false);
    expect(full.vouchesFor('logs-mcp', 'spiffe://corp/ns/other/sa/x')).toBe(false);
    expect(full.vouchesFor('cost-service', 'batch-runner')).toBe(false);
  });

  it('ID-JAG redemption: the ID-JAG scopes the resource defines and the roles grant, in the ID-JAG order', () => {
    expect(full.idJagCeiling(logs, ['incidents.trigger', 'logs.read', 'other'], ['sre'])).toEqual([
      'incidents.trigger',
      'logs.read',
    ]);
    expect(full.idJagCeiling(logs, ['incidents.trigger'], ['developer'])).toEqual([]);
    // an ID-JAG naming no scope: all of the resource's the roles grant
    expect(full.idJagCeiling(logs, undefined, ['developer'])).toEqual(['logs.read']);
  });

  it('ID-JAG issuing: the identity_chaining rule for actor → audience, and its scopes', () => {
    const found = full.chainingRule('agent', chaining.audience);
    expect(found).toBe(chaining);
    expect(full.chainingCeiling(found!)).toEqual(['p.read']);
    expect(full.chainingRule('other-client', chaining.audience)).toBeUndefined();
    expect(full.chainingRule('agent', 'https://unknown.example')).toBeUndefined();
  });

  it('delegation actors and blocked clients', () => {
    expect([...full.delegationActors]).toEqual(['logs-mcp']);
    expect(full.blocked.size).toBe(0);
  });
});

describe("baton's own resources (builtin-resources.ts)", () => {
  const withIssuer = new Policy({
    issuer: 'https://auth.example.com',
    tokens: { access_token_ttl: 120 } as never,
    roles: { auditor: ['audit.write'] },
    role_bindings: {},
    resources: [{ uri: LOGS, name: 'Logs', scopes: ['logs.read'], scope_descriptions: {}, client_id: 'logs-mcp' }],
  });
  const audit = withIssuer.builtins.get('https://auth.example.com/audit')!;

  it('the audit API: audit.write for a configured resource’s server only; never among the resources', () => {
    expect(audit).toMatchObject({ scopes: ['audit.write'], access_token_ttl: 120 });
    expect(withIssuer.builtinCeiling(audit, 'logs-mcp')).toEqual(['audit.write']);
    expect(withIssuer.builtinCeiling(audit, 'ide-agent')).toEqual([]);
    expect(withIssuer.resources.has(audit.uri)).toBe(false);
    // a role listing its scope grants nothing there: it is not a resource a user's grant can name
    expect(withIssuer.decide(audit.uri, ['audit.write'], ['auditor']).granted).toEqual([]);
  });
});
