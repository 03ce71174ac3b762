/**
 * Verifying baton's access tokens at a resource server (an MCP server or a downstream service):
 * RFC 9068 (`typ: at+jwt`, iss, aud = this resource, exp), keys from baton's JWKS (fetched once, refreshed
 * on an unknown kid, at most every 30 s: jose's remote JWK set), RFC 9449 DPoP when the token is bound
 * (`cnf.jkt`; each proof accepted once, RFC 9449 §11.1), revocation through the Token Status List the token
 * names (draft-ietf-oauth-status-list-20, clients/src/status-list.ts), and optionally RFC 7662 introspection.
 *
 *   const verify = createVerifier({ issuer: 'https://auth.example.com', audience: 'https://cost.internal.example.com' });
 *   const caller = await verify(token);            // throws TokenError
 *   caller.subject, caller.idp, caller.actor, caller.actorChain, caller.scopes
 */
import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  EmbeddedJWK,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { createHash } from 'node:crypto';
import {
  createStatusListCache,
  STATUS_VALID,
  statusName,
  type StatusListCache,
  type StatusListOptions,
} from './status-list.ts';

/** Who is calling: the user, the IdP anchor, the client, and the chain of actors (RFC 8693 §4.1). */
export interface Caller {
  /** baton's stable subject of the user */
  subject: string;
  /** the user at the enterprise IdP */
  idp: { iss: string; sub: string } | undefined;
  /** the client the token was issued to (for an exchanged token, the current actor) */
  clientId: string;
  clientKind: string | undefined;
  /** the current actor (RFC 8693: the only one to use for access control), or the client itself */
  actor: string;
  /** every actor, current first, then prior ones (informational) */
  actorChain: string[];
  scopes: string[];
  roles: string[];
  expiresAt: number;
  claims: JWTPayload;
}

export type TokenErrorCode = 'invalid_token' | 'invalid_dpop_proof' | 'insufficient_scope';

/**
 * A refusal, with the RFC 6750 / RFC 9449 error code and the detail for logs (never the token). Answer
 * `invalid_token` and `invalid_dpop_proof` with 401, `insufficient_scope` with 403 (RFC 6750 §3.1).
 */
export class TokenError extends Error {
  override name = 'TokenError';
  readonly code: TokenErrorCode;
  constructor(code: TokenErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface VerifierOptions {
  issuer: string;
  /** this resource's identifier: the token's aud must be exactly it */
  audience: string;
  jwksUri?: string;
  clockToleranceSeconds?: number;
  /** check revocation at every call through baton's introspection endpoint (RFC 7662) */
  introspection?: { clientId: string; clientSecret: string; cacheSeconds?: number };
  /**
   * Where DPoP proof ids are remembered (RFC 9449 §11.1). The default is this process's memory: with several
   * processes behind one URL, pass a shared store (`redisReplayStore`), or a proof replayed to another
   * process within its lifetime is accepted there.
   */
  dpopReplay?: ReplayStore;
  /**
   * Accept a token that carries no scope at all (default false: `TokenError('insufficient_scope')`). baton
   * never issues one; a token granting nothing must not pass a service that checks only the audience.
   */
  allowEmptyScope?: boolean;
  /**
   * Revocation by the Token Status List (draft-ietf-oauth-status-list-20): a token whose `status` names a
   * list on baton's origin is checked against it (fetched, verified with baton's keys, cached for its `ttl`).
   * On by default; `false` turns it off. See clients/README.md "Revocation: the Token Status List".
   */
  statusList?: StatusListOptions | false;
  /**
   * How many tokens whose signature and claims were verified are remembered (default 10 000; 0 turns it
   * off), each for at most 60 s and never past its `exp`: a token seen again skips the signature check (the
   * dearest step of a call), as API gateways do (Envoy's jwt_authn `jwt_cache_config`). Only tokens that
   * verified are kept (so at most this many tokens' worth of memory); the audience, the status list, DPoP and introspection are
   * still checked at every call, so revocation is not delayed by it.
   */
  verifiedTokens?: number;
  fetch?: typeof fetch;
}

/** How long a verified token is remembered at most (verifiedTokens), in ms. */
const VERIFIED_FOR_MS = 60_000;

/** A set of ids, each remembered for `ttlSeconds`: `claim` is true the first time only, atomically. */
export interface ReplayStore {
  claim(id: string, ttlSeconds: number): Promise<boolean>;
}

/** The DPoP proof algorithms the kit accepts: asymmetric only, the ones baton accepts at its token endpoint. */
export const DPOP_ALGS = ['ES256', 'Ed25519', 'EdDSA'];

/** The DPoP proof lifetime the kit accepts (iat within this many seconds, RFC 9449 §11.1). */
export const DPOP_PROOF_MAX_AGE = 300;
const DPOP_CLOCK_TOLERANCE = 5;

/** Proof ids in this process's memory, at most `max` (the oldest are forgotten first; they expire first). */
export function memoryReplayStore(max = 100_000): ReplayStore {
  const until = new Map<string, number>();
  return {
    claim(id, ttlSeconds) {
      const now = Date.now();
      const seen = until.get(id);
      if (seen !== undefined && seen > now) return Promise.resolve(false);
      if (until.size >= max) {
        for (const [key, expiry] of until) if (expiry <= now) until.delete(key);
        for (const key of until.keys()) {
          if (until.size < max) break;
          until.delete(key);
        }
      }
      until.delete(id);
      until.set(id, now + ttlSeconds * 1000);
      return Promise.resolve(true);
    },
  };
}

/** The part of an ioredis (or node-redis v4 legacy-mode) client that `redisReplayStore` needs. */
export interface RedisSetNx {
  set(key: string, value: string, ex: 'EX', seconds: number, nx: 'NX'): Promise<string | null>;
}

/** Proof ids in Redis (SET NX EX): one store for every process of a resource server. */
export function redisReplayStore(redis: RedisSetNx, prefix = 'baton-kit:dpop:'): ReplayStore {
  return {
    async claim(id, ttlSeconds) {
      return (await redis.set(`${prefix}${id}`, '1', 'EX', Math.max(1, Math.ceil(ttlSeconds)), 'NX')) === 'OK';
    },
  };
}

export interface DpopContext {
  /** the DPoP header of the request */
  proof: string | undefined;
  method: string;
  /** the request URL without query and fragment (RFC 9449 §4.3 htu) */
  url: string;
}

/** jose's remote JWK set failed to fetch (network, timeout, not 200, not a JWKS), as opposed to a bad token */
function jwksUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JWKS_INVALID') return true;
  if (code === 'ERR_JOSE_GENERIC') return /JSON Web Key Set HTTP response/.test((err as Error).message);
  return err instanceof TypeError && err.message === 'fetch failed';
}

function chainOf(act: unknown): string[] {
  const chain: string[] = [];
  for (
    let a = act as { sub?: unknown; act?: unknown } | undefined;
    a && typeof a === 'object' && chain.length < 16;
    a = a.act as typeof a
  ) {
    if (typeof a.sub === 'string') chain.push(a.sub);
  }
  return chain;
}

/**
 * draft-ietf-oauth-status-list-20 §8.3, once the token itself is valid: the reference (§6.2), the list
 * (fetched or cached; StatusListUnavailableError when it cannot be had), the entry (§8.3 step 6: out of
 * range → reject), its value (§7.1: anything but 0x00 VALID → reject).
 */
function statusChecker(options: VerifierOptions, keys: JWTVerifyGetKey, doFetch: typeof fetch) {
  const issuerOrigin = new URL(options.issuer).origin;
  const originPath = `${issuerOrigin}/`;
  const requireStatus = options.statusList !== false && options.statusList?.require === true;
  const statusLists: StatusListCache | undefined =
    options.statusList === false
      ? undefined
      : createStatusListCache({
          ...options.statusList,
          origin: issuerOrigin,
          keys, // §11.3: the Status Issuer is baton, with the keys of the tokens it issues
          fetch: doFetch,
          clockToleranceSeconds: options.clockToleranceSeconds ?? 5,
        });

  async function checkStatus(payload: JWTPayload): Promise<void> {
    if (!statusLists) return;
    const { status } = payload;
    if (status !== undefined && (typeof status !== 'object' || status === null || Array.isArray(status)))
      throw new TokenError('invalid_token', 'the token\'s "status" claim is not an object (§6.2)');
    const reference = (status as { status_list?: unknown } | undefined)?.status_list;
    if (reference === undefined) {
      // §8.3 step 1: a token without a status list is accepted as before, unless the list is required
      if (requireStatus) throw new TokenError('invalid_token', 'the token names no status list');
      return;
    }
    const { idx, uri } = (reference && typeof reference === 'object' ? reference : {}) as {
      idx?: unknown;
      uri?: unknown;
    };
    if (typeof idx !== 'number' || !Number.isSafeInteger(idx) || idx < 0 || typeof uri !== 'string')
      throw new TokenError('invalid_token', 'the token\'s "status_list" is malformed (§6.2)');
    // never fetch an arbitrary URL a token names (SSRF): baton's lists live on baton's origin (a URI that
    // starts with the origin and a slash has that origin: the authority ends there, RFC 3986 §3.2)
    if (!uri.startsWith(originPath)) {
      const url = URL.parse(uri);
      if (!url || url.origin !== issuerOrigin || url.username || url.password)
        throw new TokenError('invalid_token', `the token's status list ${uri} is not on baton's origin`);
    }
    // a fresh list is read without waiting (the common case); otherwise fetched, or stale within bounds
    const list = statusLists.fresh(uri) ?? (await statusLists.get(uri));
    const value = list.statusAt(idx);
    if (value === undefined)
      throw new TokenError('invalid_token', `status list index ${idx} is out of range (${list.size} entries)`);
    if (value !== STATUS_VALID) throw new TokenError('invalid_token', `the token's status is ${statusName(value)}`);
  }

  /** the status list cache, for measuring (`info(uri)`: fetchedAt, ttlSeconds, freshUntil; `stats()`) */
  const lists = statusLists ? { info: statusLists.info, stats: statusLists.stats } : undefined;
  return { check: checkStatus, lists };
}

/**
 * Verified tokens (VerifierOptions.verifiedTokens): a hit is still refused once past its `exp`,
 * with the same tolerance jose applies (an `nbf` was checked when it was verified and only recedes); the
 * oldest entries go first when full.
 */
function verifiedTokens(max: number, toleranceSeconds: number) {
  const entries = new Map<string, { payload: JWTPayload; until: number }>();
  return {
    enabled: max > 0,
    get(key: string): JWTPayload | undefined {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.until <= Date.now()) {
        entries.delete(key);
        return undefined;
      }
      return entry.payload;
    },
    set(key: string, payload: JWTPayload): void {
      if (entries.size >= max) entries.delete(entries.keys().next().value!);
      const now = Date.now();
      entries.set(key, { payload, until: Math.min(now + VERIFIED_FOR_MS, (payload.exp! + toleranceSeconds) * 1000) });
    },
  };
}

export function createVerifier(options: VerifierOptions) {
  const jwks = createRemoteJWKSet(new URL(options.jwksUri ?? `${options.issuer}/jwks`), {
    cooldownDuration: 30_000,
    timeoutDuration: 5000,
  });
  const doFetch = options.fetch ?? fetch;
  const introspected = new Map<string, { active: boolean; until: number }>();
  const replay = options.dpopReplay ?? memoryReplayStore();
  const statusCheck = statusChecker(options, jwks, doFetch);

  async function active(token: string): Promise<boolean> {
    const { introspection } = options;
    if (!introspection) return true;
    const now = Date.now();
    const key = createHash('sha256').update(token).digest('base64url');
    const hit = introspected.get(key);
    if (hit && hit.until > now) return hit.active;
    const res = await doFetch(`${options.issuer}/token/introspection`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(introspection.clientId)}:${encodeURIComponent(introspection.clientSecret)}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token }),
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`introspection failed: ${res.status}`);
    const body = (await res.json()) as { active?: boolean };
    if (introspected.size > 10_000) introspected.clear();
    introspected.set(key, { active: body.active === true, until: now + (introspection.cacheSeconds ?? 5) * 1000 });
    return body.active === true;
  }

  async function checkDpop(token: string, payload: JWTPayload, dpop: DpopContext | undefined): Promise<void> {
    const jkt = (payload.cnf as { jkt?: unknown } | undefined)?.jkt;
    if (typeof jkt !== 'string') return;
    if (!dpop?.proof) throw new TokenError('invalid_token', 'the token is DPoP-bound and no DPoP proof was sent');
    let proofId: string;
    try {
      // RFC 9449 §4.3: typ, a signature by the header key, jti/htm/htu/iat present, iat recent
      const { payload: proof, protectedHeader } = await jwtVerify(dpop.proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: DPOP_ALGS,
        maxTokenAge: DPOP_PROOF_MAX_AGE,
        clockTolerance: DPOP_CLOCK_TOLERANCE,
        requiredClaims: ['jti', 'htm', 'htu', 'iat'],
      });
      if (proof.htm !== dpop.method || proof.htu !== dpop.url) throw new Error('htm/htu mismatch');
      if (proof.ath !== createHash('sha256').update(token).digest('base64url')) throw new Error('ath mismatch');
      if ((await calculateJwkThumbprint(protectedHeader.jwk!)) !== jkt)
        throw new Error('key is not the one the token is bound to');
      // keyed by the key and the jti, so one client cannot use up another's ids
      proofId = createHash('sha256')
        .update(`${jkt}\0${String(proof.jti)}`)
        .digest('base64url');
    } catch (err) {
      throw new TokenError('invalid_dpop_proof', `DPoP proof: ${(err as Error).message}`);
    }
    // RFC 9449 §11.1: a proof is accepted once, for as long as its iat would be accepted; checked last, so
    // only valid proofs are stored. A store failure is the caller's 5xx, not the client's invalid proof.
    if (!(await replay.claim(proofId, DPOP_PROOF_MAX_AGE + 2 * DPOP_CLOCK_TOLERANCE)))
      throw new TokenError('invalid_dpop_proof', 'DPoP proof: proof replayed');
  }

  const tolerance = options.clockToleranceSeconds ?? 5;
  const verified = verifiedTokens(options.verifiedTokens ?? 10_000, tolerance);

  /** RFC 9068 §4: the signature by baton's keys, typ, iss, aud, exp (remembered for a while: verifiedTokens) */
  async function signedPayload(token: string): Promise<JWTPayload> {
    const known = verified.enabled ? verified.get(token) : undefined;
    if (known) return known;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: options.issuer,
        audience: options.audience,
        typ: 'at+jwt',
        requiredClaims: ['sub', 'exp', 'client_id'],
        clockTolerance: tolerance,
      }));
    } catch (err) {
      // baton's JWKS could not be fetched: not the token's fault, so not a 401 (the kit answers 503)
      if (jwksUnavailable(err))
        throw new Error(`baton's JWKS is unavailable: ${(err as Error).message}`, { cause: err });
      throw new TokenError('invalid_token', (err as { code?: string }).code ?? (err as Error).message);
    }
    if (verified.enabled) verified.set(token, payload);
    return payload;
  }

  async function verify(token: string, dpop?: DpopContext): Promise<Caller> {
    const payload = await signedPayload(token);
    // RFC 8707: exactly this audience, never a list that merely includes it
    if (payload.aud !== options.audience)
      throw new TokenError('invalid_token', 'the token is not for this resource alone');
    await statusCheck.check(payload);
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
    // RFC 6750 §3.1: a valid token that grants nothing here lacks every scope a request could need
    if (scopes.length === 0 && !options.allowEmptyScope)
      throw new TokenError('insufficient_scope', 'the token carries no scope');
    await checkDpop(token, payload, dpop);
    if (!(await active(token))) throw new TokenError('invalid_token', 'the token has been revoked');
    const chain = chainOf(payload.act);
    const idp = payload.idp as { iss?: unknown; sub?: unknown } | undefined;
    return {
      subject: String(payload.sub),
      idp:
        idp && typeof idp.iss === 'string' && typeof idp.sub === 'string' ? { iss: idp.iss, sub: idp.sub } : undefined,
      clientId: String(payload.client_id),
      clientKind: typeof payload.client_kind === 'string' ? payload.client_kind : undefined,
      actor: chain[0] ?? String(payload.client_id),
      actorChain: chain.length ? chain : [String(payload.client_id)],
      scopes,
      roles: Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string') : [],
      expiresAt: payload.exp!,
      claims: payload,
    };
  }

  return Object.assign(verify, { statusLists: statusCheck.lists });
}

export type Verify = ReturnType<typeof createVerifier>;
