/** Where audit records go (the writer, audit/writer.ts), and a record written outside a request. */
import type { AuditEvent, LineageRow } from './record.ts';
import type { StatusEntryRow } from '../status-list/entry.ts';

type Log = { error(obj: object, msg: string): void };

export interface AuditSink {
  /** resolves once the whole batch is durable, in one transaction; rejects when nothing was written */
  write(batch: {
    audit?: readonly AuditEvent[];
    lineage?: readonly LineageRow[];
    statuses?: readonly StatusEntryRow[];
  }): Promise<void>;
}

/**
 * A record written outside a request (a policy reload): resolves once it is durable, or logs
 * `audit.write_failed` and rejects. (Admin operations report their own: admin/audit-record.ts.)
 */
export async function recordNow(sink: AuditSink, audit: readonly AuditEvent[], log: Log): Promise<void> {
  try {
    await sink.write({ audit });
  } catch (err) {
    log.error({ reason: (err as Error).message }, 'audit.write_failed');
    throw err;
  }
}
