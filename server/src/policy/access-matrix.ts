/**
 * The access matrix (issue #15): who can reach which resource, with which scopes, and why, computed from
 * one version of the policy and the accounts baton knows. Every answer comes from the Policy functions the
 * token endpoint itself asks (rolesFor, userCeiling, delegationRule, exchangeCeiling), so the matrix cannot
 * say something the tokens do not carry:
 *
 *   accessMatrix   per resource: scope → the roles granting it → the IdP groups bound to those roles → the
 *                  known accounts in those groups (last sign-in; disabled ones marked)
 *   personAccess   for one account: every resource and scope it can get, through which group and role, and
 *                  the token exchanges (RFC 8693, `delegation`) its tokens may take, hop after hop, as far
 *                  as each rule's `max_chain` lets the actor chain grow
 *
 * baton's own resources (builtin-resources.ts) are listed apart: reached by client_credentials of configured
 * clients, and, for the one that admits people (the admin API), by role through the admin console only: its
 * scopes are listed like a resource's, with `through` naming that client.
 */
import type { ResourceConfig } from '../config/schema.ts';
import type { BuiltinResource } from './builtin-resources.ts';
import type { Policy } from './policy.ts';
import { ADMIN_CONSOLE_CLIENT } from '../consts.ts';

/** Said in every answer: baton lists the accounts it knows, not the IdP's directory. */
export const KNOWN_ONLY_NOTE =
  'Only the accounts baton knows are listed: people who signed in, or were provisioned before their first ' +
  'sign-in (last_sign_in null). People who never signed in are known only to the identity provider: anyone ' +
  'in a group listed here gets its access at their first sign-in.';

export const DISABLED_NOTE = 'This account is disabled: baton issues it no token, and refuses those it holds.';

/** An account as the matrix reads it (accounts table). */
export interface KnownAccount {
  id: string;
  /** the IdP's id in the configuration (null for an account of an IdP no longer configured by id) */
  idp: string | null;
  subject: string;
  groups: readonly string[];
  /** ISO 8601; null: provisioned, never signed in */
  last_sign_in: string | null;
  disabled: boolean;
}

export type AccountRef = Omit<KnownAccount, 'groups'>;

export interface MatrixGroup {
  idp: string;
  group: string;
  accounts: AccountRef[];
}

export interface MatrixScope {
  scope: string;
  roles: { role: string; groups: MatrixGroup[] }[];
}

export interface BuiltinEntry {
  uri: string;
  name: string;
  scopes: string[];
  builtin: true;
  /** for a resource that admits people (the admin API): the client that carries their tokens, and who */
  people?: { through: string; scopes: MatrixScope[] };
}

export interface AccessMatrix {
  note: string;
  resources: { uri: string; name: string; scopes: MatrixScope[] }[];
  /** baton's own APIs: reached by client_credentials of configured clients only; no role grants them */
  builtin_resources: BuiltinEntry[];
}

/** One token exchange a token may take: `actor` exchanges it for a token for `target` carrying `scopes`. */
export interface DelegationHop {
  actor: string;
  target: string;
  scopes: string[];
  /** the actor chain's length in the issued token (RFC 8693 §4.1 `act`); 0 when the rule impersonates */
  depth: number;
  max_chain: number;
  impersonation: boolean;
  /** the exchanges the issued token may take in turn (none again for a resource already on the path) */
  hops: DelegationHop[];
}

export interface PersonResource {
  uri: string;
  name: string;
  scopes: { scope: string; via: { group: string; role: string }[] }[];
  delegation: DelegationHop[];
  /** baton's own resource (the admin API): reached through this client only (the admin console) */
  through?: string;
}

export interface PersonAccess {
  note: string;
  account: KnownAccount & { roles: string[]; note?: string };
  resources: PersonResource[];
}

const refOf = ({ groups: _groups, ...ref }: KnownAccount): AccountRef => ref;

type Scoped = { readonly scopes: readonly string[] };

/** The roles granting `scope` of `resource`: those whose userCeiling there holds it. */
function rolesGranting(policy: Policy, resource: Scoped, scope: string): string[] {
  return policy.roleNames().filter((role) => policy.userCeiling(resource, [role]).includes(scope));
}

/** The bound groups whose binding gives `role`, each with the known accounts in it. */
function groupsOf(policy: Policy, role: string, accounts: readonly KnownAccount[]): MatrixGroup[] {
  return policy
    .boundGroups()
    .filter(({ idp, group }) => policy.rolesFor(idp, [group]).includes(role))
    .map(({ idp, group }) => ({
      idp,
      group,
      accounts: accounts.filter((a) => a.idp === idp && a.groups.includes(group)).map(refOf),
    }));
}

/** Each scope of a resource, the roles granting it, their groups, the known accounts in them. */
function scopesOf(policy: Policy, resource: Scoped, accounts: readonly KnownAccount[]): MatrixScope[] {
  return resource.scopes.map((scope) => ({
    scope,
    roles: rolesGranting(policy, resource, scope).map((role) => ({ role, groups: groupsOf(policy, role, accounts) })),
  }));
}

/** the built-in resources that admit people, and the client that carries their tokens (ADMIN_CONSOLE_CLIENT) */
const peopleThrough = (b: BuiltinResource): string | undefined =>
  b.userClient?.(ADMIN_CONSOLE_CLIENT) ? ADMIN_CONSOLE_CLIENT : undefined;

/** Per resource: each scope, the roles granting it, their groups, the known accounts in them. */
export function accessMatrix(policy: Policy, accounts: readonly KnownAccount[]): AccessMatrix {
  return {
    note: KNOWN_ONLY_NOTE,
    resources: [...policy.resources.values()].map((resource) => ({
      uri: resource.uri,
      name: resource.name,
      scopes: scopesOf(policy, resource, accounts),
    })),
    builtin_resources: [...policy.builtins.values()].map((b) => {
      const through = peopleThrough(b);
      return {
        uri: b.uri,
        name: b.name,
        scopes: [...b.scopes],
        builtin: true,
        ...(through ? { people: { through, scopes: scopesOf(policy, b, accounts) } } : {}),
      };
    }),
  };
}

/**
 * The exchanges a token for `from` holding `scope` may take (exchange.ts): only `from`'s own server
 * (`resources[].client_id`) may present it, under a `delegation` rule naming the target; the issued token
 * carries exchangeCeiling's scopes (none: refused), and the chain it carries is one actor longer (`depth`:
 * the subject's chain is its client alone, 1, for a user's token) unless the rule impersonates, which must
 * stay within `max_chain`. A blocked actor is refused everywhere, so it takes no hop.
 */
function delegationHops(
  policy: Policy,
  from: ResourceConfig,
  scope: readonly string[],
  chain: number,
  path: ReadonlySet<string>,
): DelegationHop[] {
  const actor = from.client_id;
  if (!actor || policy.blocked.has(actor)) return [];
  const hops: DelegationHop[] = [];
  for (const target of policy.resources.values()) {
    const rule = policy.delegationRule(actor, target.uri);
    if (!rule) continue;
    const depth = rule.impersonation ? 0 : chain + 1;
    if (depth > rule.max_chain) continue;
    const scopes = policy.exchangeCeiling(rule, target, { audience: from.uri, scope });
    if (scopes.length === 0) continue;
    // an impersonating exchange issues a token without `act`: the next exchange sees its client alone
    const next = rule.impersonation ? 1 : depth;
    const onward = path.has(target.uri)
      ? []
      : delegationHops(policy, target, scopes, next, new Set([...path, target.uri]));
    hops.push({
      actor,
      target: target.uri,
      scopes,
      depth,
      max_chain: rule.max_chain,
      impersonation: rule.impersonation,
      hops: onward,
    });
  }
  return hops;
}

/** One account's access: each resource whose scopes its roles grant, by which group and role, and the hops. */
export function personAccess(policy: Policy, account: KnownAccount): PersonAccess {
  const idp = account.idp ?? '';
  // the roles as the token endpoint computes them (provider/accounts/deps.ts rolesOf)
  const roles = policy.rolesFor(idp, account.groups);
  const via = account.groups.flatMap((group) => policy.rolesFor(idp, [group]).map((role) => ({ group, role })));
  const resources: PersonResource[] = [];
  const scopes = (resource: Scoped, ceiling: string[]) =>
    ceiling.map((scope) => ({
      scope,
      via: via.filter(({ role }) => policy.userCeiling(resource, [role]).includes(scope)),
    }));
  for (const resource of policy.resources.values()) {
    const ceiling = policy.userCeiling(resource, roles);
    if (ceiling.length === 0) continue;
    resources.push({
      uri: resource.uri,
      name: resource.name,
      scopes: scopes(resource, ceiling),
      delegation: delegationHops(policy, resource, ceiling, 1, new Set([resource.uri])),
    });
  }
  for (const b of policy.builtins.values()) {
    const through = peopleThrough(b);
    const ceiling = through ? policy.userCeiling(b, roles) : [];
    if (ceiling.length > 0)
      resources.push({ uri: b.uri, name: b.name, scopes: scopes(b, ceiling), delegation: [], through: through! });
  }
  return {
    note: KNOWN_ONLY_NOTE,
    account: { ...account, groups: [...account.groups], roles, ...(account.disabled ? { note: DISABLED_NOTE } : {}) },
    resources,
  };
}
