/**
 * Patch: a client authenticates with the one secret method it is registered for.
 *
 * Checked against: oidc-provider 9.13.3.
 * Upstream: lib/shared/client_auth.js (authenticateClient takes a secret from the `client_secret` form
 * parameter or else from the Basic Authorization header, and accepts either for a client registered for
 * client_secret_basic or client_secret_post; its one call of `Client#compareClientSecret` is for those two
 * methods, after that check); lib/models/client.js (compareClientSecret on the prototype); lib/helpers/als.js
 * (`Provider.ctx`, the request being served, set while the request runs).
 * Serves: RFC 6749 §2.3 / RFC 7591 §2 `token_endpoint_auth_method`, RFC 9700 §2.5; a mismatch is
 * `invalid_client` with a Basic challenge (RFC 6749 §5.2).
 * Test: pin-client-secret-method.test.ts.
 */
import Provider, { errors, type KoaContextWithOIDC } from 'oidc-provider';

type SecretClient = {
  clientAuthMethod: string;
  clientId: string;
  compareClientSecret: (this: SecretClient, s: string) => Promise<boolean>;
};

/** Compares the method actually used with the registered one, before the secret. */
export function pinClientSecretMethod(provider: Provider): void {
  const proto = provider.Client.prototype as unknown as SecretClient;
  const compare = proto.compareClientSecret;
  proto.compareClientSecret = function (this: SecretClient, actual: string) {
    // the request this runs in (oidc-provider's AsyncLocalStorage, Provider.ctx)
    const ctx = (Provider as unknown as { ctx?: KoaContextWithOIDC }).ctx;
    const used = ctx?.oidc.params?.client_secret ? 'client_secret_post' : 'client_secret_basic';
    if (ctx && used !== this.clientAuthMethod) {
      // a Basic attempt gets oidc-provider's own challenge; a body attempt this one
      if (used === 'client_secret_post') ctx.set('WWW-Authenticate', `Basic realm="${provider.issuer}"`);
      throw new errors.InvalidClientAuth(
        `client ${this.clientId} is registered for ${this.clientAuthMethod}, not ${used}`,
      );
    }
    return compare.call(this, actual);
  };
}
