/**
 * `verify` (server/src/audit/verify.ts) names each tampering of the stored chain, on PostgreSQL and on the
 * embedded store: the rows are changed in SQL with the append-only trigger disabled, as a database
 * superuser would, and a chain rewritten with recomputed hashes is caught by the signed checkpoints, the
 * exported ones when the database's are gone too.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { createLogger } from '../../src/logger.ts';
import { openStorage, type Storage } from '../../src/storage/index.ts';
import { kekFrom } from '../../src/keys/kek.ts';
import { auditWriter } from '../../src/audit/writer.ts';
import { GENESIS, hashRecord } from '../../src/audit/chain.ts';
import {
  auditKey,
  listCheckpoints,
  writeCheckpoint,
  type AuditKey,
  type Checkpoint,
} from '../../src/audit/checkpoint.ts';
import { readChain } from '../../src/audit/store.ts';
import { verifyChain } from '../../src/audit/verify.ts';
import type { AuditEvent } from '../../src/audit/record.ts';
import { BACKENDS, KEK, makeConfig } from '../helpers.ts';

const silent = createLogger('silent');
const event = (i: number): AuditEvent => ({
  type: 'token.issued',
  outcome: 'success',
  client: 'ide-agent',
  jti: `jti-${i}`,
});

async function tamper(db: Knex, ...statements: [string, Knex.RawBinding[]?][]): Promise<void> {
  await db.transaction(async (trx) => {
    await trx.raw('alter table audit_events disable trigger audit_events_append_only');
    for (const [sql, bindings] of statements) await trx.raw(sql, bindings ?? []);
    await trx.raw('alter table audit_events enable trigger audit_events_append_only');
  });
}

/** Recomputes every hash from `from` on, as someone covering an edit would. */
async function rehash(db: Knex, from: number): Promise<void> {
  const rows = [];
  for await (const r of readChain(db)) rows.push(r);
  let prev = rows.find((r) => r.seq === from - 1)?.hash ?? GENESIS;
  const updates: [string, Knex.RawBinding[]][] = [];
  for (const r of rows.filter((x) => x.seq >= from)) {
    const hash = hashRecord({ ...r, prev_hash: prev });
    updates.push(['update audit_events set prev_hash = ?, hash = ? where seq = ?', [prev, hash, r.seq]]);
    prev = hash;
  }
  await tamper(db, ...updates);
}

describe.each(BACKENDS.filter((b) => b.name !== 'postgres+redis'))('audit verify ($name)', (backend) => {
  let storage: Storage;
  let cleanup: () => Promise<void>;
  let key: AuditKey;
  const verify = async (exported: Checkpoint[] = []) =>
    verifyChain({
      rows: readChain(storage.db, 4),
      database: await listCheckpoints(storage.db),
      exported,
      keys: [key.publicJwk],
    });
  const problems = async (exported: Checkpoint[] = []) =>
    (await verify(exported)).problems.map((p) => `${p.kind}@${p.seq}: ${p.message}`);

  beforeAll(async () => {
    const store = await backend.create();
    cleanup = store.cleanup;
    storage = await openStorage(makeConfig({ storage: store.storage }), silent);
    await storage.migrate('latest');
    key = await auditKey(storage.db, kekFrom(KEK));
  });
  afterAll(async () => {
    await storage?.close();
    await cleanup?.();
  });
  beforeEach(async () => {
    await tamper(storage.db, ['delete from audit_events'], ['delete from audit_checkpoints']);
    await auditWriter(storage.db).write({ audit: Array.from({ length: 10 }, (_, i) => event(i + 1)) });
    expect(await verify()).toMatchObject({ ok: true, events: 10, first: 1, last: 10, unsealed: 10 });
  });

  it('an edited row: its hash does not match at seq N', async () => {
    await tamper(storage.db, [`update audit_events set outcome = 'refused' where seq = 5`]);
    expect(await problems()).toEqual(['edited@5: seq 5: its content does not match its hash: edited']);
  });

  it('an edited event, the search column left alone', async () => {
    await tamper(storage.db, [`update audit_events set event = jsonb_set(event, '{client}', '"other"') where seq = 3`]);
    expect(await problems()).toEqual(['edited@3: seq 3: its content does not match its hash: edited']);
  });

  it('a deleted row: a gap', async () => {
    await tamper(storage.db, ['delete from audit_events where seq in (5, 6)']);
    expect(await problems()).toEqual(['deleted@5: seq 5–6 are missing: deleted']);
  });

  it('a deleted row, the rows after renumbered to close the gap', async () => {
    await tamper(
      storage.db,
      ['delete from audit_events where seq = 5'],
      ['update audit_events set seq = -seq where seq > 5'],
      ['update audit_events set seq = -seq - 1 where seq < 0'],
    );
    expect(await problems()).toEqual([
      'deleted@5: a row before seq 5 is missing (the rows after it were renumbered): deleted',
      'renumbered@5: seq 5–9 hash as seq 6–10: renumbered by -1',
    ]);
  });

  it('an inserted row (with a valid hash after its predecessor), the rows after it renumbered', async () => {
    const row4 = await storage.db('audit_events').where({ seq: 4 }).first<{ hash: string }>('hash');
    const fake = {
      seq: 5,
      at: new Date().toISOString(),
      type: 'token.issued',
      outcome: 'success',
      account_id: null,
      client_id: 'ide-agent',
      resource: null,
      jti: 'forged',
      parent_jti: null,
      grant_id: null,
      event: { type: 'token.issued', outcome: 'success', client: 'ide-agent', jti: 'forged' } as AuditEvent,
      prev_hash: row4.hash,
    };
    await tamper(
      storage.db,
      ['update audit_events set seq = -seq where seq >= 5'],
      ['update audit_events set seq = -seq + 1 where seq < 0'],
      [
        'insert into audit_events (seq, at, type, outcome, client_id, jti, event, prev_hash, hash) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [
          5,
          fake.at,
          fake.type,
          fake.outcome,
          'ide-agent',
          'forged',
          JSON.stringify(fake.event),
          fake.prev_hash,
          hashRecord(fake),
        ],
      ],
    );
    expect(await problems()).toEqual([
      'inserted@5: seq 5 is not in the chain (seq 6 names seq 4): inserted',
      'renumbered@6: seq 6–11 hash as seq 5–10: renumbered by +1',
    ]);
  });

  it('a reordered pair', async () => {
    await tamper(
      storage.db,
      ['update audit_events set seq = -1 where seq = 5'],
      ['update audit_events set seq = 5 where seq = 6'],
      ['update audit_events set seq = 6 where seq = -1'],
    );
    expect(await problems()).toEqual(["reordered@5: seq 5 and 6 are in each other's place: reordered"]);
  });

  it('a chain rewritten with recomputed hashes: caught by the checkpoints, the exported ones when the database has none left', async () => {
    const writer = auditWriter(storage.db);
    const sealed = await writeCheckpoint(storage.db, key, silent);
    await writer.write({ audit: [event(11), event(12)] });
    const exported = [sealed!, (await writeCheckpoint(storage.db, key, silent))!];
    expect((await verify(exported)).ok).toBe(true);
    await tamper(storage.db, [
      `update audit_events set event = jsonb_set(event, '{client}', '"other"'), client_id = 'other' where seq = 4`,
    ]);
    await rehash(storage.db, 4);
    expect(await problems()).toEqual([
      "rewritten@10: the chain's hash at seq 10 is not the one the database checkpoint signed: seq 1–10 were rewritten and their hashes recomputed",
      "rewritten@12: the chain's hash at seq 12 is not the one the database checkpoint signed: seq 1–12 were rewritten and their hashes recomputed",
    ]);
    // the superuser removes the database's checkpoints as well: the chain alone is consistent again...
    await storage.db('audit_checkpoints').delete();
    expect(await verify()).toMatchObject({ ok: true, unsealed: 12 });
    // ...but not against the exported ones
    expect(await problems(exported)).toEqual([
      'rewritten@10: the exported checkpoint at seq 10 is not in the database: removed',
      "rewritten@10: the chain's hash at seq 10 is not the one the exported checkpoint signed: seq 1–10 were rewritten and their hashes recomputed",
      'rewritten@12: the exported checkpoint at seq 12 is not in the database: removed',
      "rewritten@12: the chain's hash at seq 12 is not the one the exported checkpoint signed: seq 1–12 were rewritten and their hashes recomputed",
    ]);
  });

  it('a forged checkpoint; rows deleted from the end, past an exported checkpoint', async () => {
    const cp = (await writeCheckpoint(storage.db, key, silent))!;
    await storage
      .db('audit_checkpoints')
      .where({ seq: 10 })
      .update({ hash: 'f'.repeat(64) });
    const [forged] = await listCheckpoints(storage.db);
    expect(await problems()).toEqual([
      'bad_checkpoint@10: database checkpoint at seq 10: its signature does not verify',
    ]);
    expect(forged!.hash).not.toBe(cp.hash);
    await storage.db('audit_checkpoints').delete();
    await tamper(storage.db, ['delete from audit_events where seq > 8']);
    expect(await problems([cp])).toEqual([
      'missing_end@9: the chain ends at seq 8, but the exported checkpoint sealed seq 10: seq 9–10 were deleted',
      'rewritten@10: the exported checkpoint at seq 10 is not in the database: removed',
    ]);
  });
});
