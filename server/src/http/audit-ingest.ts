/**
 * `POST ${issuer}/audit/events`: MCP servers and downstream services report the calls they allowed or
 * denied (issue #13; the kit's reporter, clients/src/audit-reporter.ts). baton's own resource
 * `${issuer}/audit` (policy/builtin-resources.ts): the caller presents an access token baton issued for it
 * by client_credentials, with scope `audit.write` (RFC 6750 §2.1 Bearer, or RFC 9449 DPoP when the token
 * is DPoP-bound), verified like introspection would (signature with baton's current keys, iss, typ, exp,
 * aud exactly `${issuer}/audit`, not revoked, client not blocked: provider/token-state.ts). The body's
 * rules are audit/ingest.ts. The answer is 202 `{ accepted: N }` once the batch is durable (one writer
 * batch: all or nothing); every refusal is RFC 6749 §5.2-shaped JSON, 401/403 with `WWW-Authenticate`
 * (RFC 6750 §3), a writer failure 503 (the reporter retries), never a 500.
 */
import { bodyParser } from '@koa/bodyparser';
import { createHash } from 'node:crypto';
import Router from '@koa/router';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWTPayload } from 'jose';
import type Koa from 'koa';
import type { Knex } from 'knex';
import type Provider from 'oidc-provider';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Adapter } from '../../../adapters/src/models.ts';
import { AUDIT_WRITE_SCOPE } from '../consts.ts';
import type { Policy } from '../policy/policy.ts';
import type { TokenState } from '../provider/token-state.ts';
import type { AuditSink } from '../provider/audit-trail.ts';
import { isIngestRefusal, MAX_BODY_BYTES, parseBatch, recordsOf } from '../audit/ingest.ts';
import { issuedTokens } from '../audit/store.ts';
import { isLimitReached } from '../rate-limit.ts';
import { splitScope } from '../params.ts';

export interface AuditIngestDeps {
  issuer: string;
  policy(): Policy;
  /** the current provider and the state of its JWT access tokens (one pair per key set) */
  tokens(): { provider: Provider; state: TokenState };
  sink: AuditSink;
  db: Knex;
  /** one-time DPoP proof ids (the ReplayDetection store, shared by every process) */
  replay: Pick<Adapter, 'claim'>;
  /** requests per client (audit.ingest_rate_per_minute), shared by every process through Redis */
  limiter: RateLimiterAbstract;
}

/** RFC 9449 §4.3: the proof algorithms accepted (asymmetric, those baton accepts at its token endpoint) */
const DPOP_ALGS = ['ES256', 'Ed25519', 'EdDSA'];
/** RFC 9449 §11.1: a proof's iat window, seconds either side (oidc-provider's CHALLENGE_OK_WINDOW) */
const DPOP_WINDOW = 300;

type Scheme = 'Bearer' | 'DPoP';

interface Challenge {
  scheme: Scheme;
  scope?: string;
  /** RFC 6750 §3.1: no error code when the request carried no token */
  bare?: boolean;
}

/** A refusal on the wire (RFC 6749 §5.2 shape), with the detail for the log. */
class Refused extends Error {
  readonly status: number;
  readonly error: string;
  readonly detail: string;
  readonly challenge: Challenge | undefined;
  readonly retryAfter: number | undefined;
  constructor(
    status: number,
    error: string,
    description: string,
    detail: string,
    extra: { challenge?: Challenge; retryAfter?: number } = {},
  ) {
    super(description);
    this.status = status;
    this.error = error;
    this.detail = detail;
    this.challenge = extra.challenge;
    this.retryAfter = extra.retryAfter;
  }
}

const quote = (s: string) => `"${s.replace(/["\\]/g, '')}"`;

function answer(ctx: Koa.Context, realm: string, r: Refused): void {
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
  ctx.body = { error: r.error, error_description: r.message };
}

const invalidToken = (scheme: Scheme, detail: string, description = 'the access token is not valid here') =>
  new Refused(401, 'invalid_token', description, detail, { challenge: { scheme } });

/** RFC 9449 §4.3 checks of the request's proof for a DPoP-bound token, and its one use (§11.1). */
async function checkDpop(ctx: Koa.Context, deps: AuditIngestDeps, token: string, payload: JWTPayload) {
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
    if (!htu || `${htu.origin}${htu.pathname}` !== `${deps.issuer.replace(/\/$/, '')}/audit/events`)
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
    .update(`audit-ingest\0${String(jkt)}\0${jti}`)
    .digest('base64url');
  if (!(await deps.replay.claim(id, { jti: id, iss: 'audit-ingest', kind: 'ReplayDetection' }, 2 * DPOP_WINDOW)))
    throw new Refused(401, 'invalid_dpop_proof', 'the DPoP proof is not valid', 'DPoP: proof replayed', {
      challenge: { scheme: 'DPoP' },
    });
}

/** The token of the request, verified for the audit resource with scope audit.write: its claims. */
async function authenticate(ctx: Koa.Context, deps: AuditIngestDeps, audience: string): Promise<JWTPayload> {
  const header = ctx.get('Authorization');
  if (!header)
    throw new Refused(401, 'invalid_token', 'an access token for the audit API is required', 'no token', {
      challenge: { scheme: 'Bearer', scope: AUDIT_WRITE_SCOPE, bare: true },
    });
  // RFC 7235 §2.1: the scheme is case-insensitive; RFC 6750 §2.1 b64token
  const match = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  if (!match)
    throw new Refused(400, 'invalid_request', 'malformed Authorization header', 'malformed Authorization header', {
      challenge: { scheme: 'Bearer' },
    });
  const scheme: Scheme = match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
  const token = match[2]!;
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
  if (bound) await checkDpop(ctx, deps, token, payload);
  // RFC 7662 §2.2: what introspection would answer (revoked, the client blocked)
  const inactive = await state.inactiveReason(provider, payload);
  if (inactive) throw invalidToken(scheme, `token inactive: ${inactive}`);
  if (!splitScope(payload.scope).includes(AUDIT_WRITE_SCOPE))
    throw new Refused(403, 'insufficient_scope', `writing audit events needs ${AUDIT_WRITE_SCOPE}`, 'no audit.write', {
      challenge: { scheme, scope: AUDIT_WRITE_SCOPE },
    });
  return payload;
}

async function limit(deps: AuditIngestDeps, clientId: string): Promise<void> {
  try {
    await deps.limiter.consume(clientId);
  } catch (err) {
    if (!isLimitReached(err)) throw err; // the counter store failed: 503 below
    const wait = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
    throw new Refused(
      429,
      'temporarily_unavailable',
      `too many requests from this client; retry after ${wait} s`,
      'rate limited',
      { retryAfter: wait },
    );
  }
}

/** The JSON body, at most MAX_BODY_BYTES, read by koa's parser (which stops at the limit with 413). */
async function readBody(ctx: Koa.Context, parse: Koa.Middleware): Promise<unknown> {
  if (!ctx.is('application/json'))
    throw new Refused(
      400,
      'invalid_request',
      'the body must be application/json',
      `content-type ${ctx.get('content-type')}`,
    );
  const tooLarge = new Refused(
    413,
    'invalid_request',
    `the body is larger than ${MAX_BODY_BYTES} bytes`,
    'body too large',
  );
  if (Number(ctx.get('content-length') || 0) > MAX_BODY_BYTES) throw tooLarge;
  try {
    await parse(ctx, async () => {});
  } catch (err) {
    if ((err as { status?: number }).status === 413) throw tooLarge;
    throw new Refused(400, 'invalid_request', 'the body is not JSON', `body: ${(err as Error).message}`);
  }
  return (ctx.request as { body?: unknown }).body;
}

async function ingest(ctx: Koa.Context, deps: AuditIngestDeps, parse: Koa.Middleware, audience: string) {
  const payload = await authenticate(ctx, deps, audience);
  const client = String(payload.client_id);
  ctx.state.auditClient = client;
  await limit(deps, client);
  const batch = parseBatch(await readBody(ctx, parse), Date.now());
  if (isIngestRefusal(batch)) throw new Refused(batch.status, 'invalid_request', batch.description, batch.detail);
  const reporter = {
    client,
    serves: deps
      .policy()
      .servedBy(client)
      .map((r) => r.uri),
    requestId: ctx.state.reqId,
  };
  // the token was issued while the client served a resource; a reload may since have taken it away: its
  // next token request is refused (invalid_target)
  if (reporter.serves.length === 0) throw invalidToken('Bearer', `${client} serves no resource now`);
  const records = await recordsOf(batch, reporter, (jtis) => issuedTokens(deps.db, jtis));
  if (isIngestRefusal(records))
    throw new Refused(records.status, 'invalid_request', records.description, records.detail);
  try {
    await deps.sink.write({ audit: records }); // one writer batch: all of it or nothing
  } catch (err) {
    ctx.state.log.error({ reason: (err as Error).message }, 'audit.write_failed');
    throw new Refused(503, 'server_error', 'the audit trail is unavailable; try again later', 'write failed', {
      retryAfter: 5,
    });
  }
  ctx.status = 202;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { accepted: batch.events.length };
}

/** The route (under the issuer's path): `POST /audit/events`; other methods → 405. */
export function auditIngestRoutes(deps: AuditIngestDeps): Router {
  const audience = `${deps.issuer.replace(/\/$/, '')}/audit`;
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: MAX_BODY_BYTES, jsonStrict: true });
  const router = new Router();
  router.post('/audit/events', async (ctx) => {
    try {
      await ingest(ctx, deps, parse, audience);
    } catch (err) {
      const refused =
        err instanceof Refused
          ? err
          : new Refused(
              503,
              'temporarily_unavailable',
              'the audit API cannot answer right now',
              (err as Error).message,
              {
                retryAfter: 5,
              },
            );
      ctx.state.log.warn(
        {
          client_id: (ctx.state as { auditClient?: string }).auditClient,
          status: refused.status,
          error: refused.error,
          detail: refused.detail,
        },
        'audit.ingest_refused',
      );
      answer(ctx, audience, refused);
    }
  });
  return router;
}
