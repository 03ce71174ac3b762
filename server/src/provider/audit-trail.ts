/**
 * The token endpoint's audit records, durable before the answer leaves (issue #13: no token without its
 * record). A listener or a grant hands its events to the audit sink (audit/writer.ts: one group commit with
 * the lineage rows); `awaitAudit`, around oidc-provider's routes, waits for every write the request started
 * and, when one failed, answers 503 `server_error` instead of the response (its token is never sent; RFC 6749
 * §5.2 for the body's shape).
 */
import type Koa from 'koa';
import type { AuditEvent } from '../audit/record.ts';
import type { LineageRow } from '../audit/record.ts';

export interface AuditSink {
  /** resolves once the whole batch is durable, in one transaction; rejects when nothing was written */
  write(batch: { audit?: readonly AuditEvent[]; lineage?: readonly LineageRow[] }): Promise<void>;
}

/** the writes each request started, awaited before it is answered */
const pending = new WeakMap<object, Promise<void>[]>();

/** Writes `batch` for the request `ctx`: the answer waits for it (awaitAudit). */
export function recordFor(ctx: object, sink: AuditSink, batch: Parameters<AuditSink['write']>[0]): Promise<void> {
  const write = sink.write(batch);
  write.catch(() => {}); // awaited (and reported) by awaitAudit
  const list = pending.get(ctx);
  if (list) list.push(write);
  else pending.set(ctx, [write]);
  return write;
}

type Log = { error(obj: object, msg: string): void };

export function awaitAudit() {
  return async (ctx: Koa.Context, next: () => Promise<void>): Promise<void> => {
    await next();
    const writes = pending.get(ctx);
    if (!writes) return;
    pending.delete(ctx);
    const failed = (await Promise.allSettled(writes)).find((r) => r.status === 'rejected');
    if (!failed) return;
    const log = (ctx.state as { log?: Log }).log;
    log?.error({ reason: (failed.reason as Error)?.message }, 'audit.write_failed');
    ctx.status = 503;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: 'server_error', error_description: 'the audit trail is unavailable; try again later' };
  };
}
