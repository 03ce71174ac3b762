/**
 * The audit records of admin operations (issue #13, docs/events.md "Audit"): one `admin.operation` for every
 * operation, whichever way it ran (on the store by the command line, or by the server holding the embedded
 * store through its admin socket: both call runOperation, which records, so each is recorded exactly once),
 * with its outcome and, for a refusal or failure, its reason code; plus what the operation decided
 * (`account.disabled`, `account.enabled`, `keys.changed`) in the same write. Never an argument's value (a
 * file's content, an account name the operator typed that may be anything): the operation's name only.
 */
import type { AuditEvent } from '../audit/record.ts';
import { sharedAuditWriter } from '../audit/writer.ts';
import type { Knex } from 'knex';
import { AdminError } from './errors.ts';

export type AdminOutcome = { outcome: 'success' } | { outcome: 'refused' | 'failure'; reason: string };

/** how the operation reached the store */
export type AdminVia = 'store' | 'admin_socket' | 'admin_api' | 'admin_console';

/** who asked, when the admin API ran it: the token's client and, for a person, their account */
export interface AdminCaller {
  client: string;
  account?: string | undefined;
}

export function adminEvent(operation: string, result: AdminOutcome, via: AdminVia, by?: AdminCaller): AuditEvent {
  return {
    type: 'admin.operation',
    outcome: result.outcome,
    ...(by ? { client: by.client, ...(by.account ? { account: by.account } : {}) } : {}),
    ...('reason' in result ? { reason: result.reason } : {}),
    details: { operation, via },
  };
}

/** the outcome of a failed operation: an AdminError's code (a refusal), else the error's class name */
export function failureOf(err: unknown): AdminOutcome {
  if (err instanceof AdminError) return { outcome: 'refused', reason: err.reason ?? err.code };
  return { outcome: 'failure', reason: err instanceof Error ? err.name : 'error' };
}

/** The operation's change is done; this reports when its record could not be written (issue #13). */
export class AuditRecordError extends Error {
  override name = 'AuditRecordError';
}

/** Writes the records through the store's one writer (audit/writer.ts); rejects with AuditRecordError. */
export async function writeAdminRecords(db: Knex, operation: string, events: AuditEvent[]): Promise<void> {
  try {
    await sharedAuditWriter(db).write({ audit: events });
  } catch (err) {
    throw new AuditRecordError(
      `${operation} was done, but its audit record could not be written (${(err as Error).message}); the audit trail misses it`,
    );
  }
}
