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
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value === 'boolean') return value ? 'true' : value === false ? 'false' : 'null';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('canonical: a number must be finite');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      out += (i ? ',' : '') + (v === undefined ? 'null' : canonical(v));
    }
    return `${out}]`;
  }
  if (typeof value === 'object') {
    const object = value as Record<string, unknown>;
    // Array.prototype.sort compares UTF-16 code units by default (RFC 8785 §3.2.3)
    const keys = Object.keys(object).sort();
    let out = '{';
    for (const k of keys) {
      const v = object[k];
      if (v === undefined) continue;
      out += `${out.length > 1 ? ',' : ''}${JSON.stringify(k)}:${canonical(v)}`;
    }
    return `${out}}`;
  }
  throw new TypeError(`canonical: cannot encode a ${typeof value}`);
}

/** the columns a record's hash covers (every one but `hash`), in canonical order: sorted */
const HASHED = [
  ...['account_id', 'at', 'client_id', 'event', 'grant_id', 'jti', 'outcome', 'parent_jti', 'prev_hash'],
  ...['resource', 'seq', 'type'],
] as const;

/**
 * canonical(row without hash), with the event's canonical text given (the writer stores that same text):
 * the same string canonical() writes for the whole row, without sorting its twelve keys each time.
 */
function recordBody(row: Omit<ChainedRow, 'hash'>, eventText: string): string {
  let out = '{';
  for (const k of HASHED) {
    const v = row[k];
    if (v === undefined) continue;
    out += `${out.length > 1 ? ',' : ''}"${k}":${k === 'event' ? eventText : canonical(v)}`;
  }
  return `${out}}`;
}

function sealWith(row: Omit<ChainedRow, 'hash'>, eventText: string): string {
  return createHash('sha256')
    .update(Buffer.from(row.prev_hash, 'hex'))
    .update(recordBody(row, eventText), 'utf8')
    .digest('hex');
}

export function hashRecord(row: Omit<ChainedRow, 'hash'>): string {
  return sealWith(row, canonical(row.event));
}

/** NUL, and a surrogate that is not half of a pair */
const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** what may need UNSTORABLE's replacement (a quick test first: most strings hold neither) */
const SUSPECT = /[\0\uD800-\uDFFF]/;

/**
 * Text PostgreSQL cannot store in jsonb or text (NUL, unpaired surrogates) becomes U+FFFD, so that a hostile
 * value in an event (a client id, a reason) can never make the audit write, and the decision with it, fail.
 */
function storable(value: unknown): unknown {
  if (typeof value === 'string') return SUSPECT.test(value) ? value.replace(UNSTORABLE, '\uFFFD') : value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(storable);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[storable(k) as string] = storable(v);
    }
    return out;
  }
  return value;
}

/** A row to insert and its event's canonical JSON text (what the writer stores in `event`). */
export interface SealedRow {
  row: ChainedRow;
  eventText: string;
}

/** Chains events after the head (seq, hash): the rows to insert, in order. `now` stamps events without `at`. */
export function sealEvents(
  head: { seq: number; hash: string },
  events: readonly AuditEvent[],
  now = Date.now(),
): SealedRow[] {
  let { seq, hash } = head;
  return events.map((raw) => {
    const at = typeof raw.at === 'number' && raw.at >= 0 && raw.at <= MAX_TIME ? Math.trunc(raw.at) : now;
    const event = storable({ ...raw, at }) as AuditEvent;
    const eventText = canonical(event);
    seq += 1;
    const row: ChainedRow = {
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
      hash: '',
    };
    row.hash = hash = sealWith(row, eventText);
    return { row, eventText };
  });
}

/** sealEvents, the rows alone */
export function chainEvents(
  head: { seq: number; hash: string },
  events: readonly AuditEvent[],
  now = Date.now(),
): ChainedRow[] {
  return sealEvents(head, events, now).map((s) => s.row);
}
