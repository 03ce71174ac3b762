/**
 * The hash chain of the audit trail. Each stored record is sealed by
 *
 *   hash = SHA-256( prev_hash ‖ canonical(record without hash) )      (hex, lowercase)
 *
 * where prev_hash is the previous record's hash (GENESIS for the first), taken as its 32 bytes, and
 * canonical() is a deterministic JSON text: object keys sorted by UTF-16 code units, no whitespace, strings
 * and numbers as JSON.stringify writes them (the RFC 8785 JCS rules for the values audit records hold:
 * strings, finite numbers, booleans, null; undefined members are left out). The record hashed is every
 * column of `audit_events` but `hash`: seq, at (ISO 8601, milliseconds), type, outcome, the search columns
 * and the event itself, so editing any column, or moving a row to another seq, breaks its hash, and
 * removing or inserting a row breaks the next row's prev_hash. (The CloudTrail digest files chain the same
 * way: each digest names the previous one's hash.)
 */
import { createHash } from 'node:crypto';
import type { AuditEvent } from './record.ts';

export const GENESIS = '0'.repeat(64);

/** 9999-12-31T23:59:59.999Z: the last instant a four-digit ISO 8601 year (and timestamptz input) writes */
const MAX_TIME = 253_402_300_799_999;

/** One row of `audit_events`, as the chain sees it (every column). */
export interface ChainedRow {
  seq: number;
  /** ISO 8601 with milliseconds */
  at: string;
  type: string;
  outcome: string;
  account_id: string | null;
  client_id: string | null;
  resource: string | null;
  jti: string | null;
  parent_jti: string | null;
  grant_id: string | null;
  event: AuditEvent;
  prev_hash: string;
  hash: string;
}

/** Deterministic JSON (sorted keys, no whitespace); throws on values JSON cannot carry exactly. */
export function canonical(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('canonical: a number must be finite');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonical(v))).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  throw new TypeError(`canonical: cannot encode a ${typeof value}`);
}

export function hashRecord(row: Omit<ChainedRow, 'hash'>): string {
  const { seq, at, type, outcome, account_id, client_id, resource, jti, parent_jti, grant_id, event, prev_hash } = row;
  const body = canonical({
    seq,
    at,
    type,
    outcome,
    account_id,
    client_id,
    resource,
    jti,
    parent_jti,
    grant_id,
    event,
    prev_hash,
  });
  return createHash('sha256').update(Buffer.from(prev_hash, 'hex')).update(body, 'utf8').digest('hex');
}

/**
 * Text PostgreSQL cannot store in jsonb or text (NUL, unpaired surrogates) becomes U+FFFD, so that a hostile
 * value in an event (a client id, a reason) can never make the audit write, and the decision with it, fail.
 */
function storable(value: unknown): unknown {
  if (typeof value === 'string')
    return value.replace(/\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(storable);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [storable(k) as string, storable(v)]),
    );
  }
  return value;
}

/** Chains events after the head (seq, hash): the rows to insert, in order. `now` stamps events without `at`. */
export function chainEvents(
  head: { seq: number; hash: string },
  events: readonly AuditEvent[],
  now = Date.now(),
): ChainedRow[] {
  let { seq, hash } = head;
  return events.map((raw) => {
    const at = typeof raw.at === 'number' && raw.at >= 0 && raw.at <= MAX_TIME ? Math.trunc(raw.at) : now;
    const event = storable({ ...raw, at }) as AuditEvent;
    seq += 1;
    const row: Omit<ChainedRow, 'hash'> = {
      seq,
      at: new Date(at).toISOString(),
      type: event.type,
      outcome: event.outcome,
      account_id: event.account ?? null,
      client_id: event.client ?? null,
      resource: event.resource ?? null,
      jti: event.jti ?? null,
      parent_jti: event.parent_jti ?? null,
      grant_id: event.gid ?? null,
      event,
      prev_hash: hash,
    };
    hash = hashRecord(row);
    return { ...row, hash };
  });
}
