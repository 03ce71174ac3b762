/**
 * The ONLY module that imports oidc-provider internals (`oidc-provider/lib/*`), so that upgrading
 * oidc-provider means reading this file. Pinned to oidc-provider ~9.13 (package.json); types in
 * types/oidc-provider-internals.d.ts.
 */
import validateDpopInternal, {
  checkDpopReplay as checkDpopReplayInternal,
  type DPoPProof,
} from 'oidc-provider/lib/helpers/validate_dpop.js';
import { isSpecialUseIP } from 'oidc-provider/lib/helpers/fetch_request.js';
import {
  isValidClientIdUrl,
  resolveClientByMetadataDocument,
} from 'oidc-provider/lib/helpers/client_id_metadata_document.js';
import { errors } from 'oidc-provider';
import { createHash } from 'node:crypto';
import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import tls from 'node:tls';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Adapter } from '../../../adapters/src/models.ts';

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
  if (proof) await checkDpopReplayInternal(provider, ctx, proof, clientId, errors.InvalidDpopProof);
  return proof;
}

/** oidc-provider 9.13's `error_detail` for a replayed DPoP proof (helpers/validate_dpop.js). */
const DPOP_REPLAY_DETAIL = 'DPoP proof JWT Replay detected';

/**
 * RFC 9449 §5: the token endpoint answers an invalid DPoP proof with `invalid_dpop_proof`, and a replayed
 * proof (§11.1) is an invalid one. oidc-provider 9.13's own grants (authorization_code, refresh_token,
 * client_credentials) answer a replay with `invalid_grant`; the error is rendered before `grant.error` is
 * emitted, synchronously, so this listener (registered before the log and metrics listeners) corrects the
 * body in place, and the error they see. Our custom grants throw
 * `invalid_dpop_proof` directly (`dpopProof` above).
 */
export function dpopReplayIsInvalidProof(provider: Provider): void {
  provider.on('grant.error', (ctx: KoaContextWithOIDC, err: { error?: string; error_detail?: string }) => {
    if (err.error !== 'invalid_grant' || err.error_detail !== DPOP_REPLAY_DETAIL) return;
    err.error = 'invalid_dpop_proof'; // for the listeners after this one (logs, metrics)
    ctx.status = 400;
    ctx.body = { error: 'invalid_dpop_proof', error_description: DPOP_REPLAY_DETAIL };
  });
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
 * oidc-provider 9.13 fetches a CIMD document with `redirect: 'manual'` (a redirect is a failure,
 * helpers/client_id_metadata_document.js), and no other fetch (client JWKS, sector identifier) does: this
 * tells the `fetch` hook which responses are metadata documents.
 */
export const isCimdDocumentFetch = (options: RequestInit): boolean => options.redirect === 'manual';

/**
 * oidc-provider 9.13 recognises a CIMD client id only as an https URL (`Client.find` →
 * `isValidClientIdUrl`). In development mode baton also accepts `http://` on a loopback host: `Client.find`
 * (the model's static method, which every endpoint calls) sends such an id to oidc-provider's own CIMD
 * resolution (`resolveClientByMetadataDocument`: the same fetch hook, allowFetch, cache and document
 * checks). `accept` decides which ids; every other id takes the normal way.
 */
export function acceptClientIdUrls(provider: Provider, accept: (id: unknown) => boolean): void {
  const Client = provider.Client as unknown as { find(id: unknown): Promise<unknown> };
  const find = Client.find.bind(Client);
  Client.find = async (id) => (accept(id) ? resolveClientByMetadataDocument(provider, id as string) : find(id));
}

/**
 * oidc-provider 9.13's `ReplayDetection.unique(iss, jti, exp)` (DPoP proof jti, RFC 9449 §11.1; client
 * assertion jti, RFC 7523 §3) is find-then-save: concurrent requests carrying one proof, on one process or
 * several, all find nothing and all pass. Replaced with one atomic claim on the shared store, so exactly
 * one request per (iss, jti) is accepted across every process. The record id is oidc-provider's own.
 */
export function atomicReplayDetection(provider: Provider, store: Adapter): void {
  const model = provider.ReplayDetection as unknown as {
    unique(iss: string, jti: string, exp: number): Promise<boolean>;
  };
  model.unique = async (iss, jti, exp) => {
    const id = createHash('sha256').update(`${iss}${jti}`).digest('base64url');
    const ttl = Math.max(1, exp - Math.floor(Date.now() / 1000));
    return store.claim(id, { jti: id, iss, kind: 'ReplayDetection' }, ttl);
  };
}
