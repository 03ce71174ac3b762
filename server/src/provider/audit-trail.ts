/**
 * The audit records of a request, durable before its answer leaves (issue #13: no token without its record).
 * A listener, a grant or a step hands its events to the audit sink (audit/writer.ts: one group commit with
 * the lineage rows); `awaitAudit`, around oidc-provider's routes and around the sign-in pages, waits for every
 * write the request started and, when one that guards the answer failed, answers 503 instead of the response
 * (its token is never sent; RFC 6749 §5.2 / RFC 7591 §3.2.2 for the body's shape; the sign-in pages show
 * their own 503 page). A record that guards nothing (a refusal, a removal) is awaited too, and its failure
 * is logged (`audit.write_failed`) without changing the answer. The durability rule: docs/events.md ("Audit
 * event catalogue").
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type Koa from 'koa';
import type { AuditSink } from '../audit/sink.ts';

interface Pending {
  write: Promise<void>;
  /** the answer carries what this records (a token): without the record it must not leave */
  guards: boolean;
}

/** the writes each request started, awaited before it is answered */
const pending = new WeakMap<object, Pending[]>();

/** the request being answered (awaitAudit sets it), for code that runs inside it without its context */
const current = new AsyncLocalStorage<object>();

/**
 * The request `awaitAudit` is answering, for code oidc-provider calls without the request (a Client adapter,
 * the outgoing fetch): its records still belong to that request. Undefined outside one.
 */
export const currentRequest = (): object | undefined => current.getStore();

/** Makes `write` part of the request's answer, as recordFor does (for a write started after other work). */
export function track(ctx: object, write: Promise<void>, guards: boolean): void {
  write.catch(() => {}); // awaited (and reported) by awaitAudit
  const list = pending.get(ctx);
  if (list) list.push({ write, guards });
  else pending.set(ctx, [{ write, guards }]);
}

/**
 * Writes `batch` for the request `ctx`: the answer waits for it (awaitAudit). A record that guards the answer
 * (a token issued) turns a failed write into 503; one that does not (a refusal, which hands out nothing)
 * keeps the precise refusal on the wire and the failure in the log.
 */
export function recordFor(
  ctx: object,
  sink: AuditSink,
  batch: Parameters<AuditSink['write']>[0],
  { guards = true }: { guards?: boolean } = {},
): Promise<void> {
  const write = sink.write(batch);
  track(ctx, write, guards);
  return write;
}

type Log = { error(obj: object, msg: string): void };

/** Every write the request started, including those started while waiting for the first ones. */
async function settle(ctx: object): Promise<{ reason: string | undefined; guards: boolean }[]> {
  const failed: { reason: string | undefined; guards: boolean }[] = [];
  for (let writes = pending.get(ctx); writes; writes = pending.get(ctx)) {
    pending.delete(ctx);
    const results = await Promise.allSettled(writes.map((w) => w.write));
    for (const [i, r] of results.entries())
      if (r.status === 'rejected')
        failed.push({ reason: (r.reason as Error | undefined)?.message, guards: writes[i]!.guards });
  }
  return failed;
}

/** RFC 6749 §5.2 / RFC 7591 §3.2.2: what a JSON endpoint answers when a record that guards it failed */
function unavailable(ctx: Koa.Context): void {
  ctx.status = 503;
  ctx.remove('Location');
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error: 'server_error', error_description: 'the audit trail is unavailable; try again later' };
}

/**
 * Around the routes whose requests write records. `refuse` answers when a record that guards the answer
 * failed (the sign-in pages show a page; by default the 503 `server_error` JSON of the OAuth endpoints).
 */
export function awaitAudit(refuse: (ctx: Koa.Context) => void = unavailable) {
  return async (ctx: Koa.Context, next: () => Promise<void>): Promise<void> => {
    await current.run(ctx, next);
    const failed = await settle(ctx);
    if (failed.length === 0) return;
    const log = (ctx.state as { log?: Log }).log;
    log?.error({ reason: failed[0]!.reason }, 'audit.write_failed');
    if (failed.some((f) => f.guards)) refuse(ctx);
  };
}

export { recordNow, type AuditSink } from '../audit/sink.ts';
