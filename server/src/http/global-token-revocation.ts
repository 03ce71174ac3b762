/**
 * `POST <issuer>/idp/<idp id>/global-token-revocation` (draft-parecki-oauth-global-token-revocation-06):
 * the IdP tells baton that a person is gone, and baton revokes everything of theirs (revocation/revoke.ts:
 * every grant, refresh token, consent, PostgreSQL-held session and every token derived from them, the
 * Token Status List bits; §3.3: refresh tokens MUST, access tokens SHOULD be revoked). This is what Okta's
 * Universal Logout calls. On only for an enabled `type: oidc` IdP with `global_token_revocation: true`.
 *
 * In order (Okta's guide: authentication first), each refusal with the draft's status (§3.4.2):
 *   404  no such IdP, or it is off                       (`not_found`; the draft's endpoint does not exist)
 *   401  no, a bad, an expired or a replayed JWT (§3.5)  (`invalid_token`, RFC 6750 §3 challenge)
 *   400  not application/json, not JSON, no sub_id, a malformed or unsupported subject identifier
 *   413  a body over 8 KiB
 *   403  an `iss_sub` naming another issuer's user (§7.1: an IdP revokes only its own users)
 *   404  no account of that IdP is the user (§3.4.2 "User Not Found")
 *   422  the revocation failed (§3.4.2 "Unable to log out the user"; run again, with a new JWT)
 *   204  done (§3.4.1), once the revocation committed
 * The body is RFC 6749 §5.2-shaped JSON with generic text (the draft defines none, Okta reads only the
 * status); the reason is in the `global_token_revocation.refused` log line and the audit record. Never 500.
 */
import Router from '@koa/router';
import type Koa from 'koa';
import type { Adapter } from '../../../adapters/src/models.ts';
import { accountIdFor, type Account, type AccountStore } from '../accounts/store.ts';
import type { AuditEvent } from '../audit/record.ts';
import type { OidcIdpConfig } from '../config/schema.ts';
import { authenticateGtr, GtrAuthRefusal } from '../idp/gtr-request.ts';
import type { IdpRegistry } from '../idp/registry.ts';
import { keyedBySub } from '../idp/subject-claim.ts';
import {
  isSubjectRefusal,
  parseSubjectIdentifier,
  SUPPORTED_FORMATS,
  type SubjectIdentifier,
} from '../idp/subject-identifier.ts';
import { recordNow, type AuditSink } from '../audit/sink.ts';
import { countsOf, revoke, UnknownTarget, type RevocationCounts, type RevocationStores } from '../revocation/revoke.ts';
import { answer, jsonBodyReader, Refused } from './own-api-token.ts';

export interface GlobalTokenRevocationDeps {
  issuer: string;
  idps: IdpRegistry;
  accounts: Pick<AccountStore, 'find' | 'findByEmail' | 'findByUpstreamSub'>;
  revocation: RevocationStores;
  /** one-time JWT ids (the ReplayDetection store, shared by every process) */
  replay: Pick<Adapter, 'claim'>;
  audit: AuditSink;
}

/** an RFC 9493 subject identifier is a few hundred bytes: 8 KiB is plenty */
export const GTR_MAX_BODY_BYTES = 8 * 1024;
export const GTR_PATH = '/idp/:idp/global-token-revocation';
export const gtrEndpoint = (issuer: string, idpId: string) =>
  `${issuer.replace(/\/$/, '')}/idp/${encodeURIComponent(idpId)}/global-token-revocation`;

type Reason =
  | 'idp_unknown'
  | 'idp_off'
  | GtrAuthRefusal['reason']
  | 'content_type'
  | 'body_too_large'
  | 'body_invalid'
  | 'sub_id_invalid'
  | 'format_unsupported'
  | 'issuer_foreign'
  | 'user_unknown'
  | 'revocation_failed'
  | 'unavailable';

class GtrRefused extends Refused {
  readonly reason: Reason;
  constructor(reason: Reason, r: Refused) {
    super(r.status, r.error, r.message, r.detail, { challenge: r.challenge, retryAfter: r.retryAfter });
    this.reason = reason;
  }
}

const refused = (
  reason: Reason,
  status: number,
  error: string,
  description: string,
  detail = description,
  extra: { retryAfter?: number } = {},
) => new GtrRefused(reason, new Refused(status, error, description, detail, extra));

const NO_ENDPOINT = 'no global token revocation endpoint here';
const UNAVAILABLE = 'global token revocation cannot answer right now; try again later';

/** What one request did so far: for its log line and audit records. */
interface Attempt {
  /** the IdP's id, once the path named a configured one */
  idpId?: string;
  idp?: OidcIdpConfig;
  caller?: string;
  record?: string;
  format?: string;
  revoked: { account: Account; counts: RevocationCounts }[];
}

function unauthenticated(err: GtrAuthRefusal): GtrRefused {
  // RFC 6750 §3.1: no error code when the request carried no bearer token
  const bare = err.reason === 'no_token';
  const description = bare ? 'a JWT signed by the identity provider is required' : 'the token is not valid here';
  return new GtrRefused(
    err.reason,
    new Refused(401, 'invalid_token', description, err.message, { challenge: { scheme: 'Bearer', bare } }),
  );
}

const readBody = jsonBodyReader(GTR_MAX_BODY_BYTES);

/** The body's subject identifier: `sub_id` (§3.2), or `subject`, its name before draft -03 (Okta's guide). */
async function subjectOf(ctx: Koa.Context): Promise<SubjectIdentifier> {
  let body: unknown;
  try {
    body = await readBody(ctx);
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    const reason =
      err.status === 413 ? 'body_too_large' : err.detail.startsWith('content-type') ? 'content_type' : 'body_invalid';
    throw new GtrRefused(reason, err);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw refused('body_invalid', 400, 'invalid_request', 'the body must be a JSON object with sub_id');
  const { sub_id: subId, subject } = body as Record<string, unknown>;
  if ((subId === undefined) === (subject === undefined))
    throw refused(
      'body_invalid',
      400,
      'invalid_request',
      'the body must be a JSON object with sub_id',
      'neither or both of sub_id and subject',
    );
  const parsed = parseSubjectIdentifier(subId ?? subject);
  if (isSubjectRefusal(parsed)) {
    if (parsed.refused === 'unsupported')
      throw refused(
        'format_unsupported',
        400,
        'invalid_request',
        `unsupported subject identifier format; supported: ${SUPPORTED_FORMATS.join(', ')}`,
        parsed.detail,
      );
    throw refused('sub_id_invalid', 400, 'invalid_request', 'sub_id is not a valid subject identifier', parsed.detail);
  }
  return parsed;
}

/** The IdP's accounts the subject identifier names (§3.3 "validating the identified user"). */
async function accountsOf(
  deps: GlobalTokenRevocationDeps,
  idp: OidcIdpConfig,
  s: SubjectIdentifier,
): Promise<Account[]> {
  let found: Account[];
  if (s.format === 'iss_sub') {
    // §7.1: the IdP's credential revokes only that IdP's users
    if (s.iss !== idp.issuer)
      throw refused(
        'issuer_foreign',
        403,
        'access_denied',
        'this identity provider may only name its own users',
        `iss_sub iss ${s.iss.slice(0, 200)} is not ${idp.issuer}`,
      );
    // RFC 9493 §3.2.3: the IdP's own name for the user: the account keyed by it (the subject_claim value);
    // with a subject_claim other than `sub`, else the accounts whose last sign-in's ID token had it as `sub`
    const account = await deps.accounts.find(accountIdFor(idp.issuer, s.sub));
    found = account ? [account] : keyedBySub(idp) ? [] : await deps.accounts.findByUpstreamSub(idp.issuer, s.sub);
  } else if (s.format === 'opaque') {
    const account = await deps.accounts.find(s.id);
    found = account && account.idpIssuer === idp.issuer ? [account] : [];
  } else found = await deps.accounts.findByEmail(idp.issuer, s.email);
  if (found.length === 0)
    throw refused(
      'user_unknown',
      404,
      'not_found',
      'the user indicated by sub_id was not found',
      `no account of ${idp.id} for the ${s.format} identifier`,
    );
  return found;
}

/** revoke() for each account; the revocation's failure is §3.4.2's 422. */
async function revokeAll(deps: GlobalTokenRevocationDeps, accounts: Account[], attempt: Attempt): Promise<void> {
  for (const account of accounts) {
    try {
      attempt.revoked.push({ account, counts: await revoke(deps.revocation, { user: account.id }) });
    } catch (err) {
      if (err instanceof UnknownTarget)
        throw refused('user_unknown', 404, 'not_found', 'the user indicated by sub_id was not found', err.message);
      const detail = (err as Error).message;
      throw refused(
        'revocation_failed',
        422,
        'temporarily_unavailable',
        'the user could not be logged out; try again',
        detail,
        { retryAfter: 5 },
      );
    }
  }
}

async function handle(ctx: Koa.Context, deps: GlobalTokenRevocationDeps, attempt: Attempt): Promise<void> {
  const idp = deps.idps.get((ctx.params as { idp: string }).idp);
  if (!idp) throw refused('idp_unknown', 404, 'not_found', NO_ENDPOINT, 'no such identity provider');
  attempt.idpId = idp.id;
  if (idp.type !== 'oidc' || !idp.global_token_revocation || !idp.enabled)
    throw refused('idp_off', 404, 'not_found', NO_ENDPOINT, `global token revocation is off for ${idp.id}`);
  attempt.idp = idp;
  try {
    const caller = await authenticateGtr(
      ctx.get('Authorization'),
      idp,
      deps.idps.keys(idp),
      gtrEndpoint(deps.issuer, idp.id),
      deps.replay,
    );
    attempt.caller = caller.sub;
    attempt.record = caller.record;
  } catch (err) {
    if (err instanceof GtrAuthRefusal) throw unauthenticated(err);
    throw err;
  }
  const subject = await subjectOf(ctx);
  attempt.format = subject.format;
  await revokeAll(deps, await accountsOf(deps, idp, subject), attempt);
  // §3.4.1: the revocation has been made (committed, status bits set)
  ctx.status = 204;
  ctx.set('Cache-Control', 'no-store');
}

/** The audit records of a request: one `token.revoked` per account reached, and the refusal if any. */
function records(ctx: Koa.Context, attempt: Attempt, refusal: GtrRefused | undefined): AuditEvent[] {
  const common = {
    via: 'global_token_revocation',
    ...(attempt.idpId ? { idp: attempt.idpId } : {}),
    ...(attempt.caller ? { caller: attempt.caller } : {}),
    ...(attempt.record ? { record: attempt.record } : {}),
    ...(attempt.format ? { format: attempt.format } : {}),
  };
  const request_id = (ctx.state as { reqId?: string }).reqId;
  const done: AuditEvent[] = attempt.revoked.map(({ account, counts }) => ({
    type: 'token.revoked',
    outcome: 'success',
    account: account.id,
    idp: { iss: account.idpIssuer, sub: account.idpSubject },
    reason: 'global_token_revocation',
    ...(request_id ? { request_id } : {}),
    details: { ...common, target: 'user', id: account.id, ...countsOf(counts) },
  }));
  if (!refusal) return done;
  return [
    ...done,
    {
      type: 'token.revoked',
      outcome: 'refused',
      reason: refusal.reason,
      error: refusal.error,
      ...(request_id ? { request_id } : {}),
      details: { ...common, status: refusal.status },
    },
  ];
}

type Log = { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };

/** The route (under the issuer's path); other methods → 405. */
export function globalTokenRevocationRoutes(deps: GlobalTokenRevocationDeps): Router {
  const router = new Router();
  router.post(GTR_PATH, async (ctx) => {
    const attempt: Attempt = { revoked: [] };
    let refusal: GtrRefused | undefined;
    try {
      await handle(ctx, deps, attempt);
    } catch (err) {
      // a store that could not answer (the key set, the replay store, the accounts): 503, never a 500
      refusal =
        err instanceof GtrRefused
          ? err
          : refused('unavailable', 503, 'temporarily_unavailable', UNAVAILABLE, (err as Error).message, {
              retryAfter: 5,
            });
    }
    const log = (ctx.state as { log: Log }).log;
    const idpId = attempt.idpId ?? String((ctx.params as { idp?: string }).idp ?? '').slice(0, 64);
    for (const { account, counts } of attempt.revoked)
      log.info(
        { idp: idpId, account: account.id, caller: attempt.caller, ...countsOf(counts) },
        'global_token_revocation.revoked',
      );
    if (refusal)
      log.warn(
        {
          idp: idpId,
          status: refusal.status,
          error: refusal.error,
          reason: refusal.reason,
          detail: refusal.detail.slice(0, 500),
        },
        'global_token_revocation.refused',
      );
    // a record of a removal or a refusal: awaited, a failed write logged (audit.write_failed), the answer kept
    await recordNow(deps.audit, records(ctx, attempt, refusal), log).catch(() => {});
    if (refusal) answer(ctx, attempt.idp ? gtrEndpoint(deps.issuer, attempt.idp.id) : deps.issuer, refusal);
  });
  return router;
}
