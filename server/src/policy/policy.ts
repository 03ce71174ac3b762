/**
 * Policy: who may get which scope, as pure functions over one version of the configuration's `roles`,
 * `role_bindings`, `resources`, `clients`, `delegation` and `identity_chaining`. The Policy object is swapped
 * whole when the file is reloaded (SIGHUP), so a request sees one consistent version. It builds nothing for
 * oidc-provider (the client registry derives client metadata from `staticClients`) and knows no request.
 *
 * The scope ceiling of every grant is one named function here; a grant asks it, then narrows to what the
 * request asked for (`narrow`), and refuses when nothing is left (a token always carries at least one scope
 * of its resource: RFC 6749 §3.3, the authorization server fails the request rather than grant nothing):
 *
 *   authorization request   decide          requested ∩ resource ∩ roles (all of the resource when none asked)
 *   authorization_code,     userCeiling     resource ∩ roles, now (recomputed at every refresh)
 *     refresh_token
 *   client_credentials      clientCeiling   resource ∩ the client's configured scopes
 *     (a built-in resource) builtinCeiling  the built-in resource's own rule (builtin-resources.ts)
 *   token exchange          exchangeCeiling resource ∩ the delegation rule's (∩ subject's, same audience)
 *   ID-JAG redemption       idJagCeiling    resource ∩ the ID-JAG's ∩ roles
 *   ID-JAG issuing          chainingCeiling the identity_chaining rule's scopes
 *
 * (an authorization request without any scope of the resource asks for all of them: MCP authorization
 * 2026-07-28 §Scope Selection Strategy lets clients omit `scope`).
 */
import type { ChainingRule, Config, DelegationRule, ResourceConfig, StaticClientConfig } from '../config/schema.ts';
import { builtinResources, type BuiltinResource } from './builtin-resources.ts';
import { ADMIN_CONSOLE_CALLBACK, ADMIN_CONSOLE_CLIENT, CONNECT_CLIENT, CONNECT_SIGNED_IN } from '../consts.ts';

/**
 * The admin console's client (http/admin-console/): public, first-party (no consent page: it is baton itself),
 * authorization code + PKCE only (no refresh token: it signs in again, silently while the baton session
 * lasts), redirected to `${issuer}/admin/callback` only, and no configured resource (`resources: []`): its
 * one resource is the admin API, which admits it for people (builtin-resources.ts userClient).
 */
function consoleClient(issuer: string): StaticClientConfig {
  const base = issuer.replace(/\/$/, '');
  return {
    client_id: ADMIN_CONSOLE_CLIENT,
    name: 'baton admin console',
    kind: 'app',
    public: true,
    first_party: true,
    dpop_bound_access_tokens: false,
    redirect_uris: [`${base}${ADMIN_CONSOLE_CALLBACK}`],
    grant_types: ['authorization_code'],
    resources: [],
    scopes: [],
  };
}

/**
 * The connect pages' client (http/connect/, issue #20): like the console's, public, first-party, authorization
 * code + PKCE only, redirected to `${issuer}/connect/signed-in` only; its one resource is `${issuer}/connect`.
 */
function connectClient(issuer: string): StaticClientConfig {
  return {
    ...consoleClient(issuer),
    client_id: CONNECT_CLIENT,
    name: 'baton connect pages',
    redirect_uris: [`${issuer.replace(/\/$/, '')}${CONNECT_SIGNED_IN}`],
  };
}

type Scoped = { readonly scopes: readonly string[]; readonly everyone?: readonly string[] };

/**
 * The requested scopes the ceiling allows, in the order asked; without a request, the whole ceiling (RFC 6749
 * §3.3: the authorization server's pre-defined default).
 */
export function narrow(ceiling: readonly string[], requested: readonly string[] | undefined): string[] {
  if (requested === undefined) return [...ceiling];
  const allowed = new Set(ceiling);
  return requested.filter((s) => allowed.has(s));
}

/** `delegation[].workloads` patterns: exact, or a prefix ending in `*`. */
function workloadMatches(pattern: string, workload: string): boolean {
  return pattern.endsWith('*') ? workload.startsWith(pattern.slice(0, -1)) : workload === pattern;
}

export type PolicyInput = Pick<Config, 'roles' | 'role_bindings' | 'resources'> &
  Partial<Pick<Config, 'clients' | 'delegation' | 'identity_chaining' | 'issuer' | 'tokens'>>;

export class Policy {
  readonly #roles: Readonly<Record<string, readonly string[]>>;
  readonly #bindings: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
  readonly #delegation: readonly DelegationRule[];
  readonly #chaining: readonly ChainingRule[];
  readonly resources: ReadonlyMap<string, ResourceConfig>;
  /** baton's own resources under the issuer (builtin-resources.ts): never among `resources` */
  readonly builtins: ReadonlyMap<string, BuiltinResource>;
  /** the configured static clients, by id (the client registry derives their oidc-provider metadata) */
  readonly staticClients: ReadonlyMap<string, StaticClientConfig>;
  /** client ids that `delegation` names as actors (they may use token exchange) */
  readonly delegationActors: ReadonlySet<string>;
  /** client ids refused everywhere */
  readonly blocked: ReadonlySet<string>;

  /** the configuration this policy was made of, as given (`baton policy show`) */
  readonly source: PolicyInput;

  constructor(config: PolicyInput) {
    this.source = config;
    this.#roles = config.roles;
    this.#bindings = config.role_bindings;
    this.#delegation = config.delegation ?? [];
    this.#chaining = config.identity_chaining ?? [];
    this.resources = new Map(config.resources.map((r) => [r.uri, r]));
    this.builtins = config.issuer
      ? builtinResources(config.issuer, config.tokens?.access_token_ttl ?? Infinity)
      : new Map<string, BuiltinResource>();
    this.delegationActors = new Set(this.#delegation.map((d) => d.actor));
    this.staticClients = new Map(
      [
        ...(config.clients?.static ?? []),
        ...(config.issuer ? [consoleClient(config.issuer), connectClient(config.issuer)] : []),
      ].map((c) => [c.client_id, c]),
    );
    this.blocked = new Set(config.clients?.blocked ?? []);
  }

  /** The roles an IdP's groups map to (role_bindings.<idp>.<group>), sorted, without duplicates. */
  rolesFor(idpId: string, groups: readonly string[]): string[] {
    const bindings = this.#bindings[idpId] ?? {};
    const roles = new Set<string>();
    for (const g of groups) for (const r of bindings[g] ?? []) roles.add(r);
    return [...roles].sort();
  }

  /** The roles the policy defines (`roles`), sorted. */
  roleNames(): string[] {
    return Object.keys(this.#roles).sort();
  }

  /** Every (IdP, group) that `role_bindings` binds to a role, in the configuration's order. */
  boundGroups(): { idp: string; group: string }[] {
    return Object.entries(this.#bindings).flatMap(([idp, groups]) =>
      Object.keys(groups).map((group) => ({ idp, group })),
    );
  }

  /** Every scope the roles grant. A role removed from policy grants nothing. */
  scopesFor(roles: readonly string[]): Set<string> {
    return new Set(roles.flatMap((r) => this.#roles[r] ?? []));
  }

  /**
   * The split of an authorization request for one resource: `granted` (requested ∩ resource ∩ roles) and
   * `denied` (requested ∩ resource − roles). Scopes the resource does not define are ignored.
   */
  decide(
    resource: string,
    requested: readonly string[],
    roles: readonly string[],
    clientId?: string,
  ): { granted: string[]; denied: string[] } {
    const rs = this.userResource(resource, clientId);
    if (!rs) return { granted: [], denied: [] };
    const own = requested.filter((s) => rs.scopes.includes(s));
    const asked = own.length > 0 ? own : rs.scopes;
    const allowed = new Set([...this.scopesFor(roles), ...(rs.everyone ?? [])]);
    return { granted: asked.filter((s) => allowed.has(s)), denied: asked.filter((s) => !allowed.has(s)) };
  }

  /**
   * A resource a person's grant through `clientId` may name: a configured one, or one of baton's own that
   * admits the client for people (the admin API, through the admin console only).
   */
  userResource(uri: string, clientId: string | undefined): (Scoped & { uri: string }) | undefined {
    const configured = this.resources.get(uri);
    if (configured) return configured;
    const builtin = this.builtins.get(uri);
    return builtin && clientId !== undefined && builtin.userClient?.(clientId) ? builtin : undefined;
  }

  /** The roles among `roles` that grant at least one of `scopes` (the `roles` claim of a token). */
  rolesGranting(roles: readonly string[], scopes: readonly string[]): string[] {
    const wanted = new Set(scopes);
    return roles.filter((r) => (this.#roles[r] ?? []).some((s) => wanted.has(s)));
  }

  /** authorization_code and refresh_token: the resource's scopes the user's roles grant now. */
  userCeiling(resource: Scoped, roles: readonly string[]): string[] {
    const allowed = new Set([...this.scopesFor(roles), ...(resource.everyone ?? [])]);
    return resource.scopes.filter((s) => allowed.has(s));
  }

  /** client_credentials: the resource's scopes configured for the client (`clients.static[].scopes`). */
  clientCeiling(resource: Scoped, configured: readonly string[]): string[] {
    const own = new Set(configured);
    return resource.scopes.filter((s) => own.has(s));
  }

  /** The configured resources whose server (`resources[].client_id`) is this client. */
  servedBy(clientId: string): ResourceConfig[] {
    return [...this.resources.values()].filter((r) => r.client_id === clientId);
  }

  /** The scopes a static client is configured with (none for a registered client). */
  staticScopes(clientId: string): readonly string[] {
    return this.staticClients.get(clientId)?.scopes ?? [];
  }

  /** client_credentials for a built-in resource: the scopes its own rule lets the client have. */
  builtinCeiling(builtin: BuiltinResource, clientId: string): string[] {
    return [...builtin.clientCeiling(this, clientId)];
  }

  /** RFC 8693 token exchange: the `delegation` rule letting `actor` exchange for `target`, if any. */
  delegationRule(actor: string, target: string): DelegationRule | undefined {
    return this.#delegation.find((d) => d.actor === actor && d.targets.includes(target));
  }

  /** RFC 8693 §4.1: whether `actor` may vouch for `workload` (`delegation[].workloads`). */
  vouchesFor(actor: string, workload: string): boolean {
    return this.#delegation
      .filter((d) => d.actor === actor)
      .some((d) => d.workloads.some((w) => workloadMatches(w, workload)));
  }

  /**
   * Token exchange: the target's scopes the rule allows; when the target is the subject token's own audience,
   * only those the subject token holds (an exchange never widens a token for the same resource).
   */
  exchangeCeiling(
    rule: Scoped,
    target: ResourceConfig,
    subject: { audience: string | undefined; scope: readonly string[] },
  ): string[] {
    const sameAudience = subject.audience === target.uri;
    return rule.scopes.filter((s) => target.scopes.includes(s) && (!sameAudience || subject.scope.includes(s)));
  }

  /**
   * ID-JAG redemption (MCP Enterprise-Managed Authorization §7.2.1): the resource's scopes the ID-JAG names
   * (all of the resource's when it names none) that the user's roles grant, in the ID-JAG's order.
   */
  idJagCeiling(resource: Scoped, jagScope: readonly string[] | undefined, roles: readonly string[]): string[] {
    const allowed = this.scopesFor(roles);
    return (jagScope ?? resource.scopes).filter((s) => resource.scopes.includes(s) && allowed.has(s));
  }

  /** Identity chaining (draft-ietf-oauth-identity-chaining §2.3): the rule letting `actor` reach `audience`. */
  chainingRule(actor: string, audience: string): ChainingRule | undefined {
    return this.#chaining.find((r) => r.audience === audience && r.clients.includes(actor));
  }

  /** Identity chaining: an ID-JAG for a foreign authorization server carries at most the rule's scopes. */
  chainingCeiling(rule: ChainingRule): string[] {
    return [...rule.scopes];
  }
}
