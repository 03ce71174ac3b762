/**
 * The configured identity providers: lookup by id, the ones offered for sign-in, home-realm discovery by
 * email domain, the upstream relying party and the one key set of each OIDC IdP, and the local directory's
 * users.
 */
import type { Config, IdpConfig, LocalIdpConfig, OidcIdpConfig } from '../config/schema.ts';
import type { IdpKeys } from './keys.ts';
import { OidcUpstream } from './oidc.ts';

/** The issuer recorded for accounts of a local directory (it has no URL of its own). */
export const localIssuer = (id: string) => `urn:baton:idp:${id}`;

export class IdpRegistry {
  readonly list: readonly IdpConfig[];
  /** the IdPs a person may sign in with: offered on the chooser, routed to by email (not `sign_in: false`) */
  readonly signIn: readonly IdpConfig[];
  readonly #upstreams = new Map<string, OidcUpstream>();

  constructor(config: Config, callbackUrl: (idpId: string) => string) {
    this.list = config.identity_providers;
    this.signIn = this.list.filter((i) => i.type === 'local' || i.sign_in);
    for (const idp of this.list) {
      if (idp.type === 'oidc') this.#upstreams.set(idp.id, new OidcUpstream(idp, callbackUrl(idp.id)));
    }
  }

  get(id: string): IdpConfig | undefined {
    return this.list.find((i) => i.id === id);
  }

  /** An IdP a person may sign in with, by id (an ID-JAG-only issuer is not one). */
  forSignIn(id: string): IdpConfig | undefined {
    return this.signIn.find((i) => i.id === id);
  }

  upstream(id: string): OidcUpstream | undefined {
    return this.#upstreams.get(id);
  }

  /** The one cached key set of an OIDC IdP (keys.ts), for sign-in, ID-JAG redemption and exchange alike. */
  keys(idp: OidcIdpConfig): IdpKeys {
    return this.#upstreams.get(idp.id)!.keys;
  }

  /** Home-realm discovery: the IdP whose email_domains has the address's domain (RFC 5321 domain, lowercased). */
  forEmail(email: string): IdpConfig | undefined {
    const at = email.lastIndexOf('@');
    if (at < 1) return undefined;
    const domain = email.slice(at + 1).toLowerCase();
    return this.signIn.find((i) => i.email_domains.includes(domain));
  }

  displayName(idp: IdpConfig): string {
    return idp.display_name ?? idp.id;
  }

  localUser(idp: LocalIdpConfig, username: string) {
    return idp.users.find((u) => u.username === username);
  }
}
