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
import Router from '@koa/router';
import type Koa from 'koa';
import type { Knex } from 'knex';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { AUDIT_RESOURCE_PATH, AUDIT_WRITE_SCOPE } from '../consts.ts';
import type { Policy } from '../policy/policy.ts';
import type { AuditSink } from '../provider/audit-trail.ts';
import {
  answer,
  authenticate,
  invalidToken,
  jsonBodyReader,
  Refused,
  type OwnApi,
  type OwnApiDeps,
} from './own-api-token.ts';

type BodyReader = ReturnType<typeof jsonBodyReader>;
import { isIngestRefusal, MAX_BODY_BYTES, parseBatch, recordsOf } from '../audit/ingest.ts';
import { cachedIssuedTokens } from '../audit/store.ts';
import { isLimitReached, retryAfterSeconds } from '../rate-limit.ts';

export interface AuditIngestDeps extends OwnApiDeps {
  policy(): Policy;
  sink: AuditSink;
  db: Knex;
  /** requests per client (audit.ingest_rate_per_minute), shared by every process through Redis */
  limiter: RateLimiterAbstract;
}

async function limit(deps: AuditIngestDeps, clientId: string): Promise<void> {
  try {
    await deps.limiter.consume(clientId);
  } catch (err) {
    if (!isLimitReached(err)) throw err; // the counter store failed: 503 below
    const wait = retryAfterSeconds(err.msBeforeNext);
    throw new Refused(
      429,
      'temporarily_unavailable',
      `too many requests from this client; retry after ${wait} s`,
      'rate limited',
      { retryAfter: wait },
    );
  }
}

async function ingest(
  ctx: Koa.Context,
  deps: AuditIngestDeps,
  c: { readBody: BodyReader; api: OwnApi; issued: ReturnType<typeof cachedIssuedTokens> },
) {
  const { readBody, api } = c;
  const payload = await authenticate(ctx, deps, api, AUDIT_WRITE_SCOPE);
  const client = String(payload.client_id);
  ctx.state.auditClient = client;
  await limit(deps, client);
  const batch = parseBatch(await readBody(ctx), Date.now());
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
  const records = await recordsOf(batch, reporter, c.issued);
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
  const audience = `${deps.issuer.replace(/\/$/, '')}${AUDIT_RESOURCE_PATH}`;
  const api: OwnApi = { audience, name: "baton's audit API", replayTag: 'audit-ingest' };
  const readBody = jsonBodyReader(MAX_BODY_BYTES);
  const issued = cachedIssuedTokens(deps.db);
  const router = new Router();
  router.post('/audit/events', async (ctx) => {
    try {
      await ingest(ctx, deps, { readBody, api, issued });
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
