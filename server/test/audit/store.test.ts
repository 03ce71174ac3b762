/**
 * The audit trail's storage (issue #13) on PostgreSQL and on the embedded store: the append-only trigger and
 * the retention, the group-commit writer (one chain, gap-free, under concurrent writers on two connections;
 * audit and lineage in one transaction; a failed batch rejects all its callers), the signed checkpoints, and
 * `verify` naming each tampering (rows edited in SQL with the trigger disabled, as a superuser would).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import knexFactory, { type Knex } from 'knex';
import { createLogger } from '../../src/logger.ts';
import { openStorage, type Storage } from '../../src/storage/index.ts';
import { kekFrom } from '../../src/keys/kek.ts';
import { auditWriter, sharedAuditWriter } from '../../src/audit/writer.ts';
import {
  auditKey,
  listCheckpoints,
  startCheckpoints,
  writeCheckpoint,
  type AuditKey,
} from '../../src/audit/checkpoint.ts';
import { cachedIssuedTokens, readChain, retainAudit } from '../../src/audit/store.ts';
import { verifyChain } from '../../src/audit/verify.ts';
import { lineageWriter } from '../../src/provider/lineage.ts';
import type { LineageRow } from '../../src/audit/record.ts';
import type { AuditEvent } from '../../src/audit/record.ts';
import { BACKENDS, KEK, makeConfig, memoryLogger } from '../helpers.ts';

const kek = kekFrom(KEK);
const silent = createLogger('silent');

const event = (i: number, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  type: 'token.issued',
  outcome: 'success',
  account: `u_${i % 3}`,
  client: 'ide-agent',
  resource: 'https://logs.mcp.example.com/mcp',
  jti: `jti-${i}`,
  ...extra,
});

const lineage = (jti: string, parent: string): LineageRow => ({
  jti,
  parent_jti: parent,
  grant_id: 'g-1',
  account_id: 'u_0',
  actor: 'logs-mcp',
  audience: 'https://cost.internal.example.com',
  depth: 1,
  expires_at: new Date(Date.now() + 60_000),
});

async function seqs(db: Knex): Promise<number[]> {
  return (await db('audit_events').orderBy('seq').select<{ seq: string }[]>('seq')).map((r) => Number(r.seq));
}

async function verifyNow(db: Knex, key: AuditKey, exported: Awaited<ReturnType<typeof listCheckpoints>> = []) {
  return verifyChain({ rows: readChain(db, 7), database: await listCheckpoints(db), exported, keys: [key.publicJwk] });
}

/** Runs SQL as a superuser would: with the append-only trigger disabled, then enabled again. */
async function tamper(db: Knex, sql: string, bindings: Knex.RawBinding[] = []): Promise<void> {
  await db.transaction(async (trx) => {
    await trx.raw('alter table audit_events disable trigger audit_events_append_only');
    await trx.raw(sql, bindings);
    await trx.raw('alter table audit_events enable trigger audit_events_append_only');
  });
}

describe.each(BACKENDS.filter((b) => b.name !== 'postgres+redis'))('audit storage ($name)', (backend) => {
  let storage: Storage;
  let cleanup: () => Promise<void>;
  let url: string | undefined;
  let key: AuditKey;
  beforeAll(async () => {
    const store = await backend.create();
    cleanup = store.cleanup;
    url = store.storage.postgres as string | undefined;
    storage = await openStorage(makeConfig({ storage: store.storage }), silent);
    await storage.migrate('latest');
    key = await auditKey(storage.db, kek);
  });
  afterAll(async () => {
    await storage?.close();
    await cleanup?.();
  });
  const reset = async () => {
    await storage.db.raw('alter table audit_events disable trigger user');
    await storage.db.raw('truncate audit_events, audit_checkpoints, token_lineage');
    await storage.db.raw('alter table audit_events enable trigger user');
  };

  it('callers arriving during a batch share the next one: one statement per batch, one gap-free chain', async () => {
    await reset();
    const db = storage.db;
    const writer = auditWriter(db);
    const writes: string[] = [];
    const onQuery = (q: { sql: string }) => {
      const m = /^\s*(?:insert into (\w+)|select .* from (audit_append\w*)\()/is.exec(q.sql);
      if (m) writes.push((m[1] ?? m[2])!);
    };
    db.on('query', onQuery);
    try {
      await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          writer.write({ audit: [event(i)], ...(i % 2 ? { lineage: [lineage(`x-${i}`, `jti-${i}`)] } : {}) }),
        ),
      );
    } finally {
      db.off('query', onQuery);
    }
    // the first caller's batch, then the 59 that arrived while it was in flight (30 with a lineage row): one
    // audit_append_rows_v2 each (the lock, the head check and the inserts in one round trip)
    expect(writes).toEqual(['audit_append_rows_v2', 'audit_append_rows_v2']);
    expect(await seqs(db)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(Number((await db('token_lineage').count<{ n: string }[]>('* as n'))[0]!.n)).toBe(30);
    expect(writer.head().seq).toBe(60);
    expect(await verifyNow(db, key)).toMatchObject({ ok: true, events: 60, first: 1, last: 60, problems: [] });
  });

  it('the issuance records of reported calls: found once, then remembered; a jti not yet written is asked again', async () => {
    await reset();
    const db = storage.db;
    const writer = auditWriter(db);
    await writer.write({ audit: [event(1)] });
    // a token's reported calls name its jti too: the lookup must find the one token.issued row among them
    await writer.write({
      audit: Array.from({ length: 50 }, () => event(1, { type: 'tool.called', outcome: 'success' })),
    });
    const lookup = cachedIssuedTokens(db);
    let queries = 0; // lookups of issuance records
    const onQuery = (q: { sql: string }) => void (/from "audit_events" where "jti" in/.test(q.sql) && queries++);
    db.on('query', onQuery);
    try {
      const first = await lookup(['jti-1', 'jti-2']);
      expect([...first.keys()]).toEqual(['jti-1']);
      expect(first.get('jti-1')).toMatchObject({ type: 'token.issued', account: 'u_1', jti: 'jti-1' });
      expect(queries).toBe(1);
      expect([...(await lookup(['jti-1'])).keys()]).toEqual(['jti-1']);
      expect(queries).toBe(1); // remembered: no query
      await writer.write({ audit: [event(2)] });
      const again = await lookup(['jti-1', 'jti-2']);
      expect(queries).toBe(2); // jti-2 asked again, and found
      expect(again.get('jti-2')).toMatchObject({ type: 'token.issued', jti: 'jti-2' });
    } finally {
      db.off('query', onQuery);
    }
    if (backend.name === 'postgres') {
      // migration 20261202000001: the partial index holds the issuance rows alone
      const forced = await db.transaction(async (trx) => {
        await trx.raw('set local enable_seqscan = off');
        return trx.raw<{ rows: { 'QUERY PLAN': string }[] }>(
          "explain select event from audit_events where jti in ('jti-1') and type = 'token.issued'",
        );
      });
      expect(forced.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/audit_events_issued_jti/);
    }
  });

  it('a failed batch rejects every caller in it, writes nothing of it, and the chain goes on gap-free', async () => {
    await reset();
    const writer = auditWriter(storage.db);
    await writer.write({ audit: [event(0)], lineage: [lineage('dup', 'p')] });
    const first = writer.write({ audit: [event(1)] }); // in flight while the next two queue
    const results = await Promise.allSettled([
      writer.write({ audit: [event(2)] }),
      writer.write({ audit: [event(3)], lineage: [lineage('dup', 'p')] }), // primary key violation
    ]);
    await first;
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(writer.head().seq).toBe(2);
    await writer.write({ audit: [event(4)] });
    expect(await seqs(storage.db)).toEqual([1, 2, 3]);
    expect((await verifyNow(storage.db, key)).ok).toBe(true);
  });

  it('lineageWriter(db).record(row) still settles when its row is committed, through the shared writer', async () => {
    await reset();
    const record = lineageWriter(storage.db);
    await Promise.all([record(lineage('l-1', 'p-1')), record(lineage('l-2', 'p-1'))]);
    expect((await storage.db('token_lineage').orderBy('jti').select('jti')).map((r: { jti: string }) => r.jti)).toEqual(
      ['l-1', 'l-2'],
    );
    await expect(record(lineage('l-1', 'p-1'))).rejects.toThrow();
    await sharedAuditWriter(storage.db).write({ audit: [event(1)] });
    expect(await seqs(storage.db)).toEqual([1]);
  });

  it('two writers on two connections writing at once keep one gap-free chain that verifies', async () => {
    await reset();
    // on PostgreSQL a second pool (another process's); the embedded store has one connection
    const other = url ? knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 2 } }) : storage.db;
    try {
      await other.raw('select 1'); // connected, so that both writers race from the first batch
      const [a, b] = [auditWriter(storage.db), auditWriter(other)];
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).write({ audit: [event(i), event(i + 1000)] })),
      );
    } finally {
      if (other !== storage.db) await other.destroy();
    }
    expect(await seqs(storage.db)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    expect(await verifyNow(storage.db, key)).toMatchObject({ ok: true, events: 400 });
  });

  it('the trigger refuses UPDATE, DELETE and TRUNCATE; audit_retain deletes the old end up to a checkpoint', async () => {
    await reset();
    const db = storage.db;
    const writer = auditWriter(db);
    await writer.write({ audit: [1, 2, 3].map((i) => event(i, { at: Date.now() - 10 * 86_400_000 })) });
    expect((await writeCheckpoint(db, key, silent))?.seq).toBe(3);
    await writer.write({ audit: [4, 5].map((i) => event(i, { at: Date.now() - 10 * 86_400_000 })) });
    await writer.write({ audit: [event(6)] });
    await expect(db('audit_events').where({ seq: 2 }).update({ outcome: 'refused' })).rejects.toThrow(
      /append-only \(UPDATE refused\)/,
    );
    await expect(db('audit_events').where({ seq: 1 }).delete()).rejects.toThrow(/append-only \(DELETE refused\)/);
    await expect(db.raw('truncate audit_events')).rejects.toThrow(/append-only \(TRUNCATE refused\)/);
    // a session setting the limit itself still deletes nothing that is not older than a checkpoint
    await expect(
      db.transaction(async (trx) => {
        await trx.raw("select set_config('baton.audit_retain_below', '5', true)");
        await trx('audit_events').where({ seq: 1 }).delete();
      }),
    ).rejects.toThrow(/append-only/);
    // rows 1-5 are older than 7 days; the newest checkpoint among them is at 3: 1 and 2 go, 3 stays as anchor
    expect(await retainAudit(db, 7)).toBe(2);
    expect(await seqs(db)).toEqual([3, 4, 5, 6]);
    expect(await retainAudit(db, 7)).toBe(0);
    expect(await verifyNow(db, key)).toMatchObject({ ok: true, first: 3, last: 6, unsealed: 3 });
    await tamper(db, 'delete from audit_events where seq = 3');
    expect((await verifyNow(db, key)).problems).toEqual([
      {
        kind: 'missing_start',
        seq: 1,
        message: 'seq 1–3 are missing, and seq 4 is not a checkpoint (retention deletes up to one): deleted',
      },
    ]);
  });

  it('checkpoints every N events, signed by the audit key (sealed under the KEK), logged as audit.checkpoint', async () => {
    await reset();
    const writer = auditWriter(storage.db);
    const logs = memoryLogger();
    let loads = 0;
    const loadKey = () => {
      loads++;
      return Promise.resolve(key);
    };
    const cp = startCheckpoints(writer, storage.db, loadKey, logs.log, {
      every: 10,
      intervalSeconds: 3600,
    });
    const five = (i: number) => writer.write({ audit: Array.from({ length: 5 }, (_, j) => event(i * 5 + j)) });
    try {
      // nothing to seal: no checkpoint, and no audit key loaded (an empty trail makes none)
      expect(await cp.checkpoint()).toBeUndefined();
      expect(loads).toBe(0);
      await five(0);
      expect(await listCheckpoints(storage.db)).toEqual([]);
      await five(1);
      while ((await listCheckpoints(storage.db)).length === 0) await new Promise((ok) => setTimeout(ok, 10));
      await five(2);
      await cp.stop();
    } finally {
      await cp.stop();
    }
    const stored = await listCheckpoints(storage.db);
    expect(stored.map((c) => c.seq)).toEqual([10]);
    const line = logs
      .lines()
      .map((l) => JSON.parse(l) as { msg: string; checkpoint?: unknown })
      .find((l) => l.msg === 'audit.checkpoint');
    expect(line?.checkpoint).toEqual(stored[0]);
    expect(stored[0]).toMatchObject({ kid: key.kid, prev_seq: null, prev_digest: null });
    const secret = await storage
      .db('server_secrets')
      .where({ name: 'audit-signing-key' })
      .first<{ jwe: string }>('jwe');
    expect(secret.jwe.split('.')).toHaveLength(5); // a compact JWE, not the key
    expect(key.publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: key.kid });
    expect(key.publicJwk).not.toHaveProperty('d');
    expect((await auditKey(storage.db, kek)).kid).toBe(key.kid); // generated once
    await writer.write({ audit: [event(99)] });
    const second = await cp.checkpoint();
    expect(second).toMatchObject({ seq: 16, prev_seq: 10 });
    expect(loads).toBe(2); // read at each checkpoint, inside its lock: a rotated key is used at once
    expect(await verifyNow(storage.db, key)).toMatchObject({ ok: true, unsealed: 0 });
  });
});
