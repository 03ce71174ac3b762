/**
 * The access tokens of baton's own APIs (policy/builtin-resources.ts: the audit ingestion, the admin API):
 * an RFC 9068 JWT baton issued for exactly that API's resource, sent as `Bearer` (RFC 6750 §2.1) or, when
 * DPoP-bound, as `DPoP` with a proof (RFC 9449 §7.1, each proof used once: the shared ReplayDetection
 * store), checked the way introspection would answer (signature with baton's current keys, iss, typ, exp,
 * not revoked, the client not blocked, the account not disabled: provider/token-state.ts), and its scope.
 * Refusals are RFC 6749 §5.2-shaped JSON with the RFC 6750 §3 challenge.
 */
import { bodyParser } from '@koa/bodyparser';
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWTPayload } from 'jose';
import type Koa from 'koa';
import type Provider from 'oidc-provider';
import type { Adapter } from '../../../adapters/src/models.ts';
import type { TokenState } from '../provider/token-state.ts';
import { splitScope } from '../params.ts';

export interface OwnApiDeps {
  issuer: string;
  /** the current provider and the state of its JWT access tokens (one pair per key set) */
  tokens(): { provider: Provider; state: TokenState };
  /** one-time DPoP proof ids (the ReplayDetection store, shared by every process) */
  replay: Pick<Adapter, 'claim'>;
}

/** one of baton's own APIs */
export interface OwnApi {
  /** the resource identifier its tokens carry as `aud` */
  audience: string;
  /** for people: "baton's audit API" */
  name: string;
  /** DPoP proof ids of this API are kept apart from others' */
  replayTag: string;
}

/** RFC 9449 §4.3: the proof algorithms accepted (asymmetric, those baton accepts at its token endpoint) */
const DPOP_ALGS = ['ES256', 'Ed25519', 'EdDSA'];
/** RFC 9449 §11.1: a proof's iat window, seconds either side (oidc-provider's CHALLENGE_OK_WINDOW) */
const DPOP_WINDOW = 300;

export type Scheme = 'Bearer' | 'DPoP';

interface Challenge {
  scheme: Scheme;
  scope?: string;
  /** RFC 6750 §3.1: no error code when the request carried no token */
  bare?: boolean;
}

/** A refusal on the wire (RFC 6749 §5.2 shape), with the detail for the log. */
export class Refused extends Error {
  readonly status: number;
  readonly error: string;
  readonly detail: string;
  readonly challenge: Challenge | undefined;
  readonly retryAfter: number | undefined;
  /** RFC 9110 §15.5.6: the methods a 405's resource serves */
  readonly allow: string | undefined;
  constructor(
    status: number,
    error: string,
    description: string,
    detail: string = description,
    extra: { challenge?: Challenge; retryAfter?: number; allow?: string } = {},
  ) {
    super(description);
    this.status = status;
    this.error = error;
    this.detail = detail;
    this.challenge = extra.challenge;
    this.retryAfter = extra.retryAfter;
    this.allow = extra.allow;
  }
}

const quote = (s: string) => `"${s.replace(/["\\]/g, '')}"`;

/** The refusal on the wire: status, RFC 6749 §5.2 body, `WWW-Authenticate` (RFC 6750 §3), Retry-After. */
export function answer(ctx: Koa.Context, realm: string, r: Refused): void {
  ctx.status = r.status;
  ctx.set('Cache-Control', 'no-store');
  if (r.challenge) {
    // RFC 6750 §3 (RFC 9449 §7.1 for DPoP)
    const params = [
      `realm=${quote(realm)}`,
      ...(r.challenge.bare ? [] : [`error=${quote(r.error)}`, `error_description=${quote(r.message)}`]),
      ...(r.challenge.scope ? [`scope=${quote(r.challenge.scope)}`] : []),
      ...(r.challenge.scheme === 'DPoP' ? [`algs=${quote(DPOP_ALGS.join(' '))}`] : []),
    ];
    ctx.set('WWW-Authenticate', `${r.challenge.scheme} ${params.join(', ')}`);
  }
  if (r.retryAfter) ctx.set('Retry-After', String(r.retryAfter));
  if (r.allow) ctx.set('Allow', r.allow);
  ctx.body = { error: r.error, error_description: r.message };
}

export const invalidToken = (scheme: Scheme, detail: string, description = 'the access token is not valid here') =>
  new Refused(401, 'invalid_token', description, detail, { challenge: { scheme } });

/** RFC 9449 §4.3 checks of the request's proof for a DPoP-bound token, and its one use (§11.1). */
async function checkDpop(ctx: Koa.Context, deps: OwnApiDeps, api: OwnApi, token: string, payload: JWTPayload) {
  const jkt = (payload.cnf as { jkt?: unknown } | undefined)?.jkt;
  const proof = ctx.get('DPoP');
  if (!proof) throw invalidToken('DPoP', 'DPoP-bound token without a DPoP proof');
  let jti: string;
  try {
    const { payload: p, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: DPOP_ALGS,
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
    });
    if (Math.abs(Date.now() / 1000 - p.iat!) > DPOP_WINDOW) throw new Error('iat is not recent');
    if (p.htm !== ctx.method) throw new Error('htm mismatch');
    const htu = URL.parse(String(p.htu));
    // RFC 9449 §4.3: htu is the request's URL without query and fragment
    if (!htu || `${htu.origin}${htu.pathname}` !== `${deps.issuer.replace(/\/$/, '')}${ctx.path}`)
      throw new Error('htu mismatch');
    if (p.ath !== createHash('sha256').update(token).digest('base64url')) throw new Error('ath mismatch');
    if ((await calculateJwkThumbprint(protectedHeader.jwk!)) !== jkt) throw new Error('not the key of the token');
    jti = String(p.jti);
  } catch (err) {
    throw new Refused(401, 'invalid_dpop_proof', 'the DPoP proof is not valid', `DPoP: ${(err as Error).message}`, {
      challenge: { scheme: 'DPoP' },
    });
  }
  const id = createHash('sha256')
    .update(`${api.replayTag}\0${String(jkt)}\0${jti}`)
    .digest('base64url');
  if (!(await deps.replay.claim(id, { jti: id, iss: api.replayTag, kind: 'ReplayDetection' }, 2 * DPOP_WINDOW)))
    throw new Refused(401, 'invalid_dpop_proof', 'the DPoP proof is not valid', 'DPoP: proof replayed', {
      challenge: { scheme: 'DPoP' },
    });
}

/**
 * The request's access token, verified for `api.audience` and checked for `scope`: its claims. Throws the
 * refusal to send (RFC 6750 §3.1: no error code when the request had no token).
 */
export async function authenticate(
  ctx: Koa.Context,
  deps: OwnApiDeps,
  api: OwnApi,
  scope: string,
): Promise<JWTPayload> {
  const header = ctx.get('Authorization');
  if (!header)
    throw new Refused(401, 'invalid_token', `an access token for ${api.name} is required`, 'no token', {
      challenge: { scheme: 'Bearer', scope, bare: true },
    });
  // RFC 7235 §2.1: the scheme is case-insensitive; RFC 6750 §2.1 b64token
  const match = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  if (!match)
    throw new Refused(400, 'invalid_request', 'malformed Authorization header', 'malformed Authorization header', {
      challenge: { scheme: 'Bearer' },
    });
  const scheme: Scheme = match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
  const payload = await verifyToken(ctx, deps, api, scheme, match[2]!);
  if (!splitScope(payload.scope).includes(scope))
    throw new Refused(403, 'insufficient_scope', `${api.name} needs the scope ${scope}`, `no ${scope}`, {
      challenge: { scheme, scope },
    });
  return payload;
}

/**
 * A token presented with `scheme`, verified for `api.audience` and still active (as introspection would
 * answer): its claims, or the refusal to send. The admin console checks its stored token here too.
 */
export async function verifyToken(
  ctx: Koa.Context,
  deps: OwnApiDeps,
  api: OwnApi,
  scheme: Scheme,
  token: string,
): Promise<JWTPayload> {
  const audience = api.audience;
  const { provider, state } = deps.tokens();
  const verified = await state.verifyOwn(token);
  if (!('payload' in verified)) throw invalidToken(scheme, `token: ${verified.reason}`);
  const { payload } = verified;
  // RFC 8707 / RFC 9068 §4: exactly this audience
  if (payload.aud !== audience) throw invalidToken(scheme, `token for ${String(payload.aud)}, not ${audience}`);
  const bound = Boolean((payload.cnf as { jkt?: unknown } | undefined)?.jkt);
  // RFC 9449 §7.1: a bound token only with the DPoP scheme and a proof; the DPoP scheme only for a bound one
  if (bound && scheme !== 'DPoP') throw invalidToken('DPoP', 'DPoP-bound token sent with the Bearer scheme');
  if (!bound && scheme === 'DPoP') throw invalidToken('DPoP', 'token that is not DPoP-bound sent with DPoP');
  if (bound) await checkDpop(ctx, deps, api, token, payload);
  // RFC 7662 §2.2: what introspection would answer (revoked, the client blocked)
  const inactive = await state.inactiveReason(provider, payload);
  if (inactive) throw invalidToken(scheme, `token inactive: ${inactive}`);
  return payload;
}

/**
 * A reader of JSON request bodies for baton's own APIs, at most `maxBytes` (koa's parser, which stops at the
 * limit): the parsed value, or a precise 400 (not one of `types`, not JSON) or 413.
 */
export function jsonBodyReader(
  maxBytes: number,
  types: string[] = ['application/json'],
): (ctx: Koa.Context) => Promise<unknown> {
  // the parser's JSON types include application/scim+json (RFC 7644 §8.1); `types` is the gate
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: maxBytes, jsonStrict: true });
  return async (ctx) => {
    if (!ctx.is(types))
      throw new Refused(
        400,
        'invalid_request',
        `the body must be ${types.join(' or ')}`,
        `content-type ${ctx.get('content-type')}`,
      );
    const tooLarge = new Refused(413, 'invalid_request', `the body is larger than ${maxBytes} bytes`, 'body too large');
    if (Number(ctx.get('content-length') || 0) > maxBytes) throw tooLarge;
    try {
      await parse(ctx, async () => {});
    } catch (err) {
      if ((err as { status?: number }).status === 413) throw tooLarge;
      throw new Refused(400, 'invalid_request', 'the body is not JSON', `body: ${(err as Error).message}`);
    }
    return (ctx.request as { body?: unknown }).body;
  };
}
