/**
 * Policy: IdP groups → roles → scopes, and which scopes of a resource a user may get. Pure functions over
 * the `roles`, `role_bindings` and `resources` of the configuration; the Policy object is swapped whole
 * when the file is reloaded (SIGHUP), so a request sees one consistent version.
 *
 *   issued scope = requested ∩ resource's scopes ∩ scopes granted by the user's roles
 * (an authorization request without any scope of the resource asks for all of them: MCP authorization
 * 2026-07-28 §Scope Selection Strategy lets clients omit `scope`).
 */
import type { Config, ResourceConfig, StaticClientConfig } from '../config/schema.ts';

export class Policy {
  readonly #roles: Readonly<Record<string, readonly string[]>>;
  readonly #bindings: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
  readonly resources: ReadonlyMap<string, ResourceConfig>;
  /** the configured static clients, by id (the client registry derives their oidc-provider metadata) */
  readonly staticClients: ReadonlyMap<string, StaticClientConfig>;
  /** client ids that `delegation` names as actors (they may use token exchange) */
  readonly delegationActors: ReadonlySet<string>;
  /** client ids refused everywhere */
  readonly blocked: ReadonlySet<string>;

  constructor(
    config: Pick<Config, 'roles' | 'role_bindings' | 'resources'> & Partial<Pick<Config, 'clients' | 'delegation'>>,
  ) {
    this.#roles = config.roles;
    this.#bindings = config.role_bindings;
    this.resources = new Map(config.resources.map((r) => [r.uri, r]));
    this.delegationActors = new Set((config.delegation ?? []).map((d) => d.actor));
    this.staticClients = new Map((config.clients?.static ?? []).map((c) => [c.client_id, c]));
    this.blocked = new Set(config.clients?.blocked ?? []);
  }

  /** The roles an IdP's groups map to (role_bindings.<idp>.<group>), sorted, without duplicates. */
  rolesFor(idpId: string, groups: readonly string[]): string[] {
    const bindings = this.#bindings[idpId] ?? {};
    const roles = new Set<string>();
    for (const g of groups) for (const r of bindings[g] ?? []) roles.add(r);
    return [...roles].sort();
  }

  /** Every scope the roles grant. A role removed from policy grants nothing. */
  scopesFor(roles: readonly string[]): Set<string> {
    return new Set(roles.flatMap((r) => this.#roles[r] ?? []));
  }

  /**
   * The split of a request for one resource: `granted` (requested ∩ resource ∩ roles) and `denied`
   * (requested ∩ resource − roles). Scopes the resource does not define are ignored.
   */
  decide(
    resource: string,
    requested: readonly string[],
    roles: readonly string[],
  ): { granted: string[]; denied: string[] } {
    const rs = this.resources.get(resource);
    if (!rs) return { granted: [], denied: [] };
    const own = requested.filter((s) => rs.scopes.includes(s));
    const asked = own.length > 0 ? own : rs.scopes;
    const allowed = this.scopesFor(roles);
    return { granted: asked.filter((s) => allowed.has(s)), denied: asked.filter((s) => !allowed.has(s)) };
  }

  /** The roles among `roles` that grant at least one of `scopes` (the `roles` claim of a token). */
  rolesGranting(roles: readonly string[], scopes: readonly string[]): string[] {
    const wanted = new Set(scopes);
    return roles.filter((r) => (this.#roles[r] ?? []).some((s) => wanted.has(s)));
  }
}
