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

interface Pending {
  write: Promise<void>;
  /** the answer carries what this records (a token): without the record it must not leave */
  guards: boolean;
}

/** the writes each request started, awaited before it is answered */
const pending = new WeakMap<object, Pending[]>();

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
  write.catch(() => {}); // awaited (and reported) by awaitAudit
  const list = pending.get(ctx);
  if (list) list.push({ write, guards });
  else pending.set(ctx, [{ write, guards }]);
  return write;
}

type Log = { error(obj: object, msg: string): void };

export function awaitAudit() {
  return async (ctx: Koa.Context, next: () => Promise<void>): Promise<void> => {
    await next();
    const writes = pending.get(ctx);
    if (!writes) return;
    pending.delete(ctx);
    const results = await Promise.allSettled(writes.map((w) => w.write));
    const failed = results.flatMap((r, i) =>
      r.status === 'rejected' ? [{ reason: (r.reason as Error | undefined)?.message, guards: writes[i]!.guards }] : [],
    );
    if (failed.length === 0) return;
    const log = (ctx.state as { log?: Log }).log;
    log?.error({ reason: failed[0]!.reason }, 'audit.write_failed');
    if (!failed.some((f) => f.guards)) return;
    ctx.status = 503;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: 'server_error', error_description: 'the audit trail is unavailable; try again later' };
  };
}
