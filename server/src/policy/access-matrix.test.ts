import { describe, expect, it } from 'vitest';
import { accessMatrix, DISABLED_NOTE, KNOWN_ONLY_NOTE, personAccess, type KnownAccount } from './access-matrix.ts';
import { Policy } from './policy.ts';

const LOGS = 'https://logs.mcp.example.com/mcp';
const COST = 'https://cost.internal.example.com';
const TICKETS = 'https://tickets.internal.example.com';
const rule = (actor: string, targets: string[], scopes: string[], max_chain: number, impersonation = false) => ({
  actor,
  targets,
  scopes,
  max_chain,
  impersonation,
  workloads: [],
});
const config = {
  issuer: 'https://baton.example.com',
  roles: {
    developer: ['logs.read', 'analytics.query'],
    sre: ['logs.read', 'logs.debug.write', 'incidents.trigger'],
    finance: ['cost.read'],
    // baton's admin API: through the admin console only
    auditor: ['admin.read'],
    'baton-admin': ['admin.read', 'admin.write'],
  },
  role_bindings: {
    local: { developers: ['developer'], oncall: ['sre'] },
    corp: { finance: ['finance'], security: ['baton-admin'], audit: ['auditor'] },
  },
  resources: [
    {
      uri: LOGS,
      name: 'Logs',
      scopes: ['logs.read', 'logs.debug.write', 'incidents.trigger'],
      client_id: 'logs-mcp',
      scope_descriptions: {},
    },
    { uri: COST, name: 'Cost', scopes: ['cost.read', 'cost.write'], client_id: 'cost-svc', scope_descriptions: {} },
    { uri: TICKETS, name: 'Tickets', scopes: ['tickets.create'], scope_descriptions: {} },
  ],
  delegation: [
    rule('logs-mcp', [COST], ['cost.read'], 3),
    rule('cost-svc', [TICKETS, COST], ['tickets.create', 'cost.read', 'cost.write'], 2),
  ],
};
const policy = new Policy(config);

const alice: KnownAccount = {
  id: 'u_alice',
  idp: 'local',
  subject: 'alice',
  groups: ['developers'],
  last_sign_in: '2026-12-01T10:00:00.000Z',
  disabled: false,
};
const dave: KnownAccount = {
  id: 'u_dave',
  idp: 'local',
  subject: 'dave',
  groups: ['developers', 'oncall'],
  last_sign_in: null,
  disabled: true,
};
const carol: KnownAccount = {
  id: 'u_carol',
  idp: 'corp',
  subject: 'carol',
  groups: ['finance', 'developers'],
  last_sign_in: '2026-11-30T08:00:00.000Z',
  disabled: false,
};
const erin: KnownAccount = {
  id: 'u_erin',
  idp: 'corp',
  subject: 'erin',
  groups: ['security'],
  last_sign_in: '2026-12-01T09:00:00.000Z',
  disabled: false,
};
const ref = ({ groups: _g, ...a }: KnownAccount) => a;

describe('the access matrix', () => {
  it('lists, per scope, the roles granting it, their groups and the known accounts in them', () => {
    const m = accessMatrix(policy, [alice, dave, carol, erin]);
    const security = { idp: 'corp', group: 'security', accounts: [ref(erin)] };
    const developers = { idp: 'local', group: 'developers', accounts: [ref(alice), ref(dave)] };
    const oncall = { idp: 'local', group: 'oncall', accounts: [ref(dave)] };
    expect(m).toEqual({
      note: KNOWN_ONLY_NOTE,
      resources: [
        {
          uri: LOGS,
          name: 'Logs',
          scopes: [
            {
              scope: 'logs.read',
              roles: [
                { role: 'developer', groups: [developers] },
                { role: 'sre', groups: [oncall] },
              ],
            },
            { scope: 'logs.debug.write', roles: [{ role: 'sre', groups: [oncall] }] },
            { scope: 'incidents.trigger', roles: [{ role: 'sre', groups: [oncall] }] },
          ],
        },
        {
          uri: COST,
          name: 'Cost',
          scopes: [
            // carol's `developers` group is corp's, which binds no role to it: she is not among local's
            {
              scope: 'cost.read',
              roles: [{ role: 'finance', groups: [{ idp: 'corp', group: 'finance', accounts: [ref(carol)] }] }],
            },
            { scope: 'cost.write', roles: [] },
          ],
        },
        { uri: TICKETS, name: 'Tickets', scopes: [{ scope: 'tickets.create', roles: [] }] },
      ],
      builtin_resources: [
        { uri: 'https://baton.example.com/audit', name: "baton's audit API", scopes: ['audit.write'], builtin: true },
        {
          uri: 'https://baton.example.com/admin/api',
          name: "baton's admin API",
          scopes: ['admin.read', 'admin.write'],
          builtin: true,
          // people: by role, through the console's client only
          people: {
            through: 'baton-admin-console',
            scopes: [
              {
                scope: 'admin.read',
                roles: [
                  { role: 'auditor', groups: [{ idp: 'corp', group: 'audit', accounts: [] }] },
                  { role: 'baton-admin', groups: [security] },
                ],
              },
              { scope: 'admin.write', roles: [{ role: 'baton-admin', groups: [security] }] },
            ],
          },
        },
        // every person, through the connect pages' client: it says who signed in and grants nothing else
        { uri: 'https://baton.example.com/connect', name: "baton's connect pages", scopes: ['connect'], builtin: true },
      ],
    });
  });

  it('lists a bound group with no known account, and says who is not listed', () => {
    const m = accessMatrix(policy, []);
    expect(m.resources[0]!.scopes[1]).toEqual({
      scope: 'logs.debug.write',
      roles: [{ role: 'sre', groups: [{ idp: 'local', group: 'oncall', accounts: [] }] }],
    });
    expect(m.note).toMatch(/never signed in are known only to the identity provider/);
  });
});

describe("one person's access", () => {
  it("alice: logs.read by developers → developer; one exchange to cost, the next beyond cost-svc's max_chain", () => {
    expect(personAccess(policy, alice)).toEqual({
      note: KNOWN_ONLY_NOTE,
      account: { ...alice, roles: ['developer'] },
      resources: [
        {
          uri: LOGS,
          name: 'Logs',
          scopes: [{ scope: 'logs.read', via: [{ group: 'developers', role: 'developer' }] }],
          delegation: [
            // depth 2: logs-mcp in front of the client alice authorized; at cost, cost-svc would make it 3 > 2
            {
              actor: 'logs-mcp',
              target: COST,
              scopes: ['cost.read'],
              depth: 2,
              max_chain: 3,
              impersonation: false,
              hops: [],
            },
          ],
        },
      ],
    });
  });

  it('carol: cost.read by finance; an exchange for the same resource only narrows, another resource gets the rule', () => {
    expect(personAccess(policy, carol).resources).toEqual([
      {
        uri: COST,
        name: 'Cost',
        scopes: [{ scope: 'cost.read', via: [{ group: 'finance', role: 'finance' }] }],
        delegation: [
          // the same audience: only what the subject token holds (not cost.write), and no loop back
          {
            actor: 'cost-svc',
            target: COST,
            scopes: ['cost.read'],
            depth: 2,
            max_chain: 2,
            impersonation: false,
            hops: [],
          },
          {
            actor: 'cost-svc',
            target: TICKETS,
            scopes: ['tickets.create'],
            depth: 2,
            max_chain: 2,
            impersonation: false,
            hops: [],
          },
        ],
      },
    ]);
  });

  it('dave: every scope through each group, and marked disabled', () => {
    const d = personAccess(policy, dave);
    expect(d.account).toEqual({ ...dave, roles: ['developer', 'sre'], note: DISABLED_NOTE });
    expect(d.resources.map((r) => r.scopes)).toEqual([
      [
        {
          scope: 'logs.read',
          via: [
            { group: 'developers', role: 'developer' },
            { group: 'oncall', role: 'sre' },
          ],
        },
        { scope: 'logs.debug.write', via: [{ group: 'oncall', role: 'sre' }] },
        { scope: 'incidents.trigger', via: [{ group: 'oncall', role: 'sre' }] },
      ],
    ]);
  });

  it('an impersonating hop carries no chain, so the next one starts again; a blocked actor takes none', () => {
    const imp = new Policy({
      ...config,
      delegation: [
        rule('logs-mcp', [COST], ['cost.read'], 1, true),
        rule('cost-svc', [TICKETS], ['tickets.create'], 2),
      ],
    });
    expect(personAccess(imp, alice).resources[0]!.delegation).toEqual([
      {
        actor: 'logs-mcp',
        target: COST,
        scopes: ['cost.read'],
        depth: 0,
        max_chain: 1,
        impersonation: true,
        hops: [
          {
            actor: 'cost-svc',
            target: TICKETS,
            scopes: ['tickets.create'],
            depth: 2,
            max_chain: 2,
            impersonation: false,
            hops: [],
          },
        ],
      },
    ]);
    const blocked = new Policy({ ...config, clients: { static: [], blocked: ['logs-mcp'] } as never });
    expect(personAccess(blocked, alice).resources[0]!.delegation).toEqual([]);
  });

  it("erin: the admin API's scopes by her security group, through the admin console only, no hop", () => {
    expect(personAccess(policy, erin).resources).toEqual([
      {
        uri: 'https://baton.example.com/admin/api',
        name: "baton's admin API",
        scopes: [
          { scope: 'admin.read', via: [{ group: 'security', role: 'baton-admin' }] },
          { scope: 'admin.write', via: [{ group: 'security', role: 'baton-admin' }] },
        ],
        delegation: [],
        through: 'baton-admin-console',
      },
    ]);
  });

  it('an account whose groups bind no role gets nothing', () => {
    expect(personAccess(policy, { ...alice, groups: ['finance'] }).resources).toEqual([]);
    expect(personAccess(policy, { ...alice, idp: null }).resources).toEqual([]);
  });
});
