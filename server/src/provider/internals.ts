/**
 * The seam to oidc-provider: this module and the patches it lists (./patches/, README.md there) are the only
 * code that depends on oidc-provider's internals or exact behaviour. This file holds the deep imports
 * (`oidc-provider/lib/*`, typed in types/oidc-provider-internals.d.ts) baton's own code calls; the patches
 * hold what rewrites or relies on upstream behaviour, each with its own test. Checked against oidc-provider
 * 9.13.3 (package.json pins ~9.13): upgrading oidc-provider means re-reading the seam and running its tests.
 */
import validateDpopInternal, {
  checkDpopReplay as checkDpopReplayInternal,
  type DPoPProof,
} from 'oidc-provider/lib/helpers/validate_dpop.js';
import { isSpecialUseIP } from 'oidc-provider/lib/helpers/fetch_request.js';
import { checkDpopRequired } from 'oidc-provider/lib/helpers/sender_constraints.js';
import { isValidClientIdUrl } from 'oidc-provider/lib/helpers/client_id_metadata_document.js';
import { errors } from 'oidc-provider';
import type Provider from 'oidc-provider';
import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import tls from 'node:tls';
import type { KoaContextWithOIDC } from 'oidc-provider';

export {
  anyLoopbackPort,
  applyPatches,
  CHECKED_AGAINST,
  CIMD_CACHE_HEADERS,
  CIMD_DOCUMENT_LIMIT,
  defaultRequestedScope,
  errorCorrections,
  interactionPrompts,
  invalidRedirectUri,
  isCimdDocumentFetch,
  offerScriptHashes,
  providerScriptHashes,
  replayRequestBody,
  structuredTokenAsUnknown,
  type ErrorCorrection,
  type PatchDeps,
} from './patches/index.ts';

export type { DPoPProof };

/**
 * RFC 9449 §4.3: the request's DPoP proof (htm, htu, iat window, signature by the embedded key), or
 * undefined when the request carries none; its jti is then checked for replay (§11.1), as oidc-provider's
 * own grants do. Custom grants get no DPoP handling from oidc-provider: they call this.
 */
export async function dpopProof(
  provider: Provider,
  ctx: KoaContextWithOIDC,
  clientId: string,
): Promise<DPoPProof | undefined> {
  const proof = await validateDpopInternal(provider, ctx);
  // RFC 9449 §5.2: a client registered with dpop_bound_access_tokens gets no token without a proof; oidc-provider
  // 9.13's own grants check it (helpers/sender_constraints.js), with its error (invalid_grant)
  checkDpopRequired(provider, ctx, proof);
  if (proof) await checkDpopReplayInternal(provider, ctx, proof, clientId, errors.InvalidDpopProof);
  return proof;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
/** the `lookup` of net.connect / tls.connect (dns.lookup's shape) */
export type Lookup = (hostname: string, options: LookupOptions, callback: LookupCallback) => void;
type DispatcherCtor = new (options?: { connect?: { ca?: string[]; lookup?: Lookup } }) => {
  compose(interceptor: (dispatch: Dispatch) => Dispatch): object;
};
type Dispatch = (opts: { origin?: string | URL }, handler: unknown) => boolean;

/** The error of a fetch refused by the SSRF guard (before any connection is opened). */
export class SpecialUseAddressError extends Error {
  override name = 'SpecialUseAddressError';
  readonly address: string;
  constructor(address: string) {
    super('hostname resolves to a special-use IP address');
    this.address = address;
  }
}

/**
 * The CA certificates an outgoing TLS connection trusts: Node's default set (its bundled Mozilla roots, plus
 * NODE_EXTRA_CA_CERTS and the system store when Node is told to use them) with `extra` ADDED. A bare `ca`
 * option would replace the default set, and every document under a public CA would fail.
 */
export function trustedCAs(extra: string | undefined): string[] | undefined {
  if (!extra) return undefined;
  const defaults =
    typeof tls.getCACertificates === 'function' ? tls.getCACertificates('default') : tls.rootCertificates;
  return [...defaults, extra];
}

/**
 * A `lookup` that resolves with `resolve` (dns.lookup by default) and refuses a name with any special-use
 * address (oidc-provider's own list: loopback, RFC 1918, link-local such as 169.254.169.254, …). The socket
 * connects to exactly the addresses checked here, so a second resolution (DNS rebinding) cannot swap them.
 */
export function publicOnlyLookup(resolve: Lookup = dns.lookup): Lookup {
  return (hostname, options, callback) =>
    resolve(hostname, options, (err, address, family) => {
      if (err) return callback(err, address, family);
      const all = Array.isArray(address) ? address.map((a) => a.address) : [address];
      const forbidden = all.find((a) => isSpecialUseIP(a));
      if (forbidden !== undefined) return callback(new SpecialUseAddressError(forbidden), address, family);
      callback(null, address, family);
    });
}

/**
 * The dispatcher for outgoing fetches (CIMD documents, client JWKS): Node's own undici Agent class (taken
 * from the global dispatcher, as oidc-provider does), trusting an extra CA in addition to the default roots
 * when given. Unless `allowPrivateNetwork` (development only), the SSRF guard runs BEFORE connecting: a
 * special-use IP literal is refused at dispatch, a host name is resolved by `publicOnlyLookup` and the
 * connection goes to the checked address (SNI and Host stay the URL's host). oidc-provider 9.13's own guard
 * (applySSRFProtection) only destroys the socket after the TCP connection is made; its address list is reused.
 */
export function outgoingDispatcher(opts: { ca?: string; allowPrivateNetwork: boolean; lookup?: Lookup }): object {
  const global = globalThis as unknown as Record<symbol, { constructor: DispatcherCtor } | undefined>;
  const Agent = (global[Symbol.for('undici.globalDispatcher.2')] ?? global[Symbol.for('undici.globalDispatcher.1')])
    ?.constructor;
  if (!Agent) throw new Error('no undici global dispatcher to derive an Agent from');
  const ca = trustedCAs(opts.ca);
  if (opts.allowPrivateNetwork) return new Agent(ca ? { connect: { ca } } : {});
  const agent = new Agent({ connect: { ...(ca ? { ca } : {}), lookup: publicOnlyLookup(opts.lookup) } });
  return agent.compose((dispatch) => (request, handler) => {
    const host = request.origin ? new URL(request.origin).hostname.replace(/^\[(.*)\]$/, '$1') : '';
    // an IP literal is never looked up (net.connect connects to it directly): checked here
    if (isIP(host) && isSpecialUseIP(host)) throw new SpecialUseAddressError(host);
    return dispatch(request, handler);
  });
}

/** oidc-provider 9.13's list of special-use addresses (helpers/fetch_request.js): loopback, RFC 1918, … */
export const isSpecialUseAddress = (address: string): boolean => isSpecialUseIP(address);

/** oidc-provider 9.13's rules for a CIMD client id URL (https, no fragment, userinfo or dot segments). */
export const isValidHttpsClientIdUrl = (id: string): boolean => isValidClientIdUrl(id);

/**
 * The jti of a token not saved yet: oidc-provider 9.13 draws it in `save()` (lib/models/base_model.js:
 * `if (!this.jti) this.jti = this.generateTokenId()`); drawing it here the same way lets the caller name the
 * token (its Token Status List entry) before the save, which then keeps it.
 */
export function assignTokenId(token: { jti?: string; generateTokenId(): string }): string {
  token.jti ||= token.generateTokenId();
  return token.jti;
}

/** What baton's sign-in hands back beside the login (interaction result key `session_login`). */
export interface SessionLoginResult {
  idp: string;
  /** the upstream ID token's `sid` (OIDC Back-Channel Logout 1.0 §2.1) */
  sid?: string;
}

/**
 * After oidc-provider 9.13 answered a request: the session it saved (its `uid`, account and expiry), and,
 * for the resume of an authorization request (route `resume`) whose interaction signed that account in, the
 * `session_login` of its result. Undefined when no signed-in session was saved (none, or destroyed: a
 * sign-in as another account first ends the session, resume.js).
 */
export function savedSession(
  ctx: KoaContextWithOIDC,
): { uid: string; accountId: string; exp: number; login?: SessionLoginResult } | undefined {
  const oidc = (ctx as Partial<KoaContextWithOIDC>).oidc;
  const session = oidc?.entities?.Session as
    { uid?: string; accountId?: string; exp?: number; destroyed?: boolean } | undefined;
  if (!session?.uid || !session.accountId || typeof session.exp !== 'number' || session.destroyed) return undefined;
  const result = (oidc!.route === 'resume' ? oidc!.result : undefined) as
    { login?: { accountId?: string }; session_login?: SessionLoginResult } | undefined;
  const login =
    result?.login?.accountId === session.accountId && typeof result.session_login?.idp === 'string'
      ? result.session_login
      : undefined;
  return { uid: session.uid, accountId: session.accountId, exp: session.exp, ...(login ? { login } : {}) };
}
