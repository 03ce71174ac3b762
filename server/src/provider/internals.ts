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
import { checkDpopRequired } from 'oidc-provider/lib/helpers/sender_constraints.js';
import {
  isValidClientIdUrl,
  resolveClientByMetadataDocument,
} from 'oidc-provider/lib/helpers/client_id_metadata_document.js';
import { errors } from 'oidc-provider';
import { createHash } from 'node:crypto';
import Provider from 'oidc-provider';
import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import tls from 'node:tls';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type Koa from 'koa';
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
  // RFC 9449 §5.2: a client registered with dpop_bound_access_tokens gets no token without a proof; oidc-provider
  // 9.13's own grants check it (helpers/sender_constraints.js), with its error (invalid_grant)
  checkDpopRequired(provider, ctx, proof);
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

/** oidc-provider 9.13's descriptions of two errors it answers as `invalid_request` (actions/token.js,
 * shared/client_auth.js). */
const GRANT_TYPE_NOT_ALLOWED = 'requested grant type is not allowed for this client';
const NO_CLIENT_AUTHENTICATION = 'no client authentication mechanism provided';
/** the endpoints whose callers must authenticate as a client, by the event their errors are emitted as */
const CLIENT_AUTHENTICATED_EVENTS = [
  'grant.error',
  'introspection.error',
  'revocation.error',
  'pushed_authorization_request.error',
] as const;

type ProviderError = {
  error?: string;
  message?: string;
  error_description?: string;
  error_detail?: string;
  status?: number;
  statusCode?: number;
};

/**
 * RFC 6749 §5.2 error codes where oidc-provider 9.13 answers `invalid_request`:
 *   - a client that may not use the grant type gets `unauthorized_client`;
 *   - a request to the token, introspection, revocation or PAR endpoint with no client authentication at all
 *     gets `invalid_client`, as 401 with a Basic challenge naming the issuer as realm (RFC 7662 §2.3,
 *     RFC 7009 §2.1 and RFC 9126 §2 refer to the same rule).
 * The error is rendered before its event is emitted, synchronously, so these listeners (registered before
 * the log and metrics listeners) correct the body in place, and the error those listeners see: the log, the
 * metrics and the wire say the same code. oidc-provider's text is kept as the internal `error_detail`.
 */
export function clientErrorCodes(provider: Provider): void {
  const correct = (event: string) => (ctx: KoaContextWithOIDC, err: ProviderError) => {
    if (err.error !== 'invalid_request') return;
    if (event === 'grant.error' && err.error_description === GRANT_TYPE_NOT_ALLOWED) {
      err.error = err.message = 'unauthorized_client';
      err.error_detail ??= `grant_type ${String(ctx.oidc.params?.grant_type)} is not registered for this client`;
      ctx.body = { error: err.error, error_description: GRANT_TYPE_NOT_ALLOWED };
    } else if (err.error_description === NO_CLIENT_AUTHENTICATION) {
      err.error = err.message = 'invalid_client';
      err.status = err.statusCode = 401;
      err.error_description = 'client authentication is required';
      err.error_detail ??= NO_CLIENT_AUTHENTICATION;
      ctx.status = 401;
      ctx.body = { error: err.error, error_description: err.error_description };
      ctx.set('WWW-Authenticate', `Basic realm="${provider.issuer}"`);
    }
  };
  const on = provider.on.bind(provider) as (
    event: string,
    fn: (ctx: KoaContextWithOIDC, err: ProviderError) => void,
  ) => void;
  for (const event of CLIENT_AUTHENTICATED_EVENTS) on(event, correct(event));
}

/**
 * RFC 6749 §2.3 / RFC 7591 §2 `token_endpoint_auth_method`, RFC 9700 §2.5: a client authenticates with the
 * one method it is registered for. oidc-provider 9.13 (shared/client_auth.js) takes a secret from the
 * `client_secret` form parameter or else from the Basic Authorization header, and accepts either for a
 * client registered for client_secret_basic or client_secret_post. Its one call of `compareClientSecret` is
 * for those two methods, after that check: the method actually used is compared with the registered one
 * here, before the secret, and a mismatch is `invalid_client` (with a Basic challenge, RFC 6749 §5.2).
 */
export function pinClientSecretMethod(provider: Provider): void {
  type SecretClient = {
    clientAuthMethod: string;
    clientId: string;
    compareClientSecret: (this: SecretClient, s: string) => Promise<boolean>;
  };
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

/**
 * RFC 8414 §2 `scopes_supported`: every scope baton issues. oidc-provider 9.13 (actions/discovery.js) lists
 * its configured `scopes` (the OpenID ones), a set fixed when the provider is built, and `discovery` config
 * only fills keys it leaves out. baton's resource scopes come from the policy, which a SIGHUP reloads
 * without rebuilding the provider: each discovery answer gets them from the current policy.
 */
export function discoveryScopes(resourceScopes: () => string[]) {
  return async (ctx: Koa.Context, next: () => Promise<void>): Promise<void> => {
    await next();
    // the `oidc` context exists only on a request oidc-provider routed
    const route = (ctx as { oidc?: { route?: string } }).oidc?.route;
    if (route !== 'discovery' || ctx.status !== 200) return;
    const body = ctx.body as { scopes_supported?: string[] } | undefined;
    if (!body || typeof body !== 'object') return;
    body.scopes_supported = [...new Set([...(body.scopes_supported ?? []), ...resourceScopes()])];
  };
}

/**
 * oidc-provider 9.13 (shared/selective_body.js) reads each request body from the Node request stream itself;
 * when an upstream middleware has read it already, it falls back to `ctx.request.body` and prints a one-time
 * plain-text WARNING on stderr. baton's registration middleware must read the body first (its size limit, its
 * `scope`): it gives the bytes oidc-provider is to parse back to the request as its stream content, which
 * oidc-provider then reads as it would have read the original (its length checks included).
 */
export function replayRequestBody(ctx: Koa.Context, bytes: Buffer): void {
  const req = ctx.req;
  let consumed = false;
  Object.defineProperty(req, 'readable', { configurable: true, get: () => !consumed });
  Object.defineProperty(req, 'iterator', {
    configurable: true,
    value: async function* replay() {
      consumed = true;
      yield bytes;
    },
  });
  req.headers['content-length'] = String(bytes.length);
  delete req.headers['transfer-encoding'];
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

/** The response header oidc-provider 9.13 reads and rewrites for its inline scripts (helpers/script_src_sha.js). */
const CSP = 'Content-Security-Policy';
/** a CSP Level 3 §2.3.1 hash-source, as oidc-provider writes it (sha256, base64) */
const SHA256_SOURCE = /^'sha256-[A-Za-z0-9+/]+={0,2}'$/;

/**
 * oidc-provider 9.13 renders the pages it submits by script — `response_mode=form_post`
 * (response_modes/form_post.js), and the sign-out it posts when another account signs in on the browser
 * (actions/authorization/resume.js) or when /session/end finds no signed-in account (actions/end_session.js)
 * — with one fixed inline script, and adds that script's `'sha256-…'` hash-source to the `script-src` of
 * the response's Content-Security-Policy: only when a policy with a `script-src` directive is already on the
 * response as the page renders (helpers/script_src_sha.js, which hashes the exact text it emits).
 *
 * `offerScriptHashes` sets that directive, empty (no script allowed), before oidc-provider runs;
 * `providerScriptHashes` reads back the hashes it added, so the policy baton sends allows exactly those
 * scripts and nothing else (no nonce: oidc-provider's form_post template takes none).
 */
export function offerScriptHashes(ctx: { set(field: string, value: string): void }): void {
  ctx.set(CSP, 'script-src');
}

export function providerScriptHashes(ctx: { response: { get(field: string): string } }): string[] {
  const directive = ctx.response
    .get(CSP)
    .split(';')
    .map((d) => d.trim().split(/\s+/))
    .find(([name]) => name === 'script-src');
  return (directive?.slice(1) ?? []).filter((source) => SHA256_SOURCE.test(source));
}

/**
 * oidc-provider 9.13's client_credentials grant (actions/grants/client_credentials.js) resolves the resource
 * (calling getResourceServerInfo) and only then reads the request's `scope` parameter, issuing the requested
 * scopes the resource server allows, and none when `scope` is absent. To give a client without `scope` its
 * pre-defined default (RFC 6749 §3.3), getResourceServerInfo sets the parameter here, before it is read.
 */
export function defaultRequestedScope(ctx: KoaContextWithOIDC, scope: string): void {
  (ctx.oidc.params as Record<string, unknown>).scope = scope;
}
