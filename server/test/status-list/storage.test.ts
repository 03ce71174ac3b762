/**
 * Token Status List storage (draft-ietf-oauth-status-list-20) on PostgreSQL and on the embedded store:
 * index allocation by two allocators on two connections (two processes) never hands out a (list, idx)
 * twice (§13.3) and not in order (§12.4); the audit writer commits the entries with its batch, in its one
 * statement, also with audit events off; markRevoked flips exactly the entries it names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import knexFactory, { type Knex } from 'knex';
import { createLogger } from '../../src/logger.ts';
import { openStorage, type Storage } from '../../src/storage/index.ts';
import { auditWriter } from '../../src/audit/writer.ts';
import { statusAllocator, type StatusSlot } from '../../src/status-list/allocate.ts';
import { markRevoked, type StatusEntryRow } from '../../src/status-list/entry.ts';
import { retireStatusLists } from '../../src/status-list/retire.ts';
import { BACKENDS, makeConfig } from '../helpers.ts';

const silent = createLogger('silent');
const HOUR = 3600;

const entry = (slot: StatusSlot, jti: string, ids: Partial<StatusEntryRow> = {}): StatusEntryRow => ({
  list_id: slot.list,
  idx: slot.idx,
  jti,
  account_id: 'u_1',
  client_id: 'ide-agent',
  grant_id: 'g-1',
  expires_at: new Date(Date.now() + 600_000),
  ...ids,
});

describe.each(BACKENDS.filter((b) => b.name !== 'postgres+redis'))('status list storage ($name)', (backend) => {
  let storage: Storage;
  let cleanup: () => Promise<void>;
  let url: string | undefined;
  beforeAll(async () => {
    const store = await backend.create();
    cleanup = store.cleanup;
    url = store.storage.postgres as string | undefined;
    storage = await openStorage(makeConfig({ storage: store.storage }), silent);
    await storage.migrate('latest');
    // the grants the entries name: an entry whose grant is gone is born INVALID (migrations/20261201000030)
    await storage
      .db('oidc_payloads')
      .insert(['g-1', 'g-a', 'g-b', 'g-c', 'g-d'].map((id) => ({ model: 'Grant', id, payload: {} })));
  });
  afterAll(async () => {
    await storage?.close();
    await cleanup?.();
  });

  it('two allocators on two connections never hand out a (list, idx) twice, and not in issuance order', async () => {
    // on PostgreSQL a second pool (another process's); the embedded store has one connection
    const other: Knex = url ? knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 2 } }) : storage.db;
    try {
      const settings = { size: 256, windowSeconds: HOUR, listsPerWindow: 2 };
      const [a, b] = [statusAllocator(storage.db, settings), statusAllocator(other, settings)];
      const exp = Math.floor(Date.now() / 1000) + 600;
      const slots = await Promise.all(Array.from({ length: 700 }, (_, i) => (i % 2 ? a : b).allocate(exp)));
      const keys = slots.map((s) => `${s.list}/${s.idx}`);
      expect(new Set(keys).size).toBe(700);
      for (const s of slots) expect(s.idx).toBeGreaterThanOrEqual(0);
      for (const s of slots) expect(s.idx).toBeLessThan(256);
      // 700 slots do not fit in two lists of 256: the window got more lists, every one of them 256 wide
      const lists = await storage.db('status_lists').orderBy('id').select('id', 'size', 'block_size', 'full');
      expect(lists.length).toBeGreaterThanOrEqual(3);
      expect(new Set(slots.map((s) => s.list))).toEqual(new Set(lists.map((l: { id: number }) => l.id)));
      // one allocator's indexes in one list, in the order handed out: neither sorted nor consecutive
      const first = slots
        .filter((_, i) => i % 2 === 1)
        .filter((s) => s.list === slots[1]!.list)
        .map((s) => s.idx);
      expect(first.length).toBeGreaterThan(8);
      expect(first).not.toEqual([...first].sort((x, y) => x - y));
      // the blocks each process reserved: one row per block, none shared (the primary key)
      const blocks = await storage.db('status_list_blocks').select('list_id', 'block');
      expect(blocks.length).toBeGreaterThanOrEqual(Math.ceil(700 / 32));
    } finally {
      if (other !== storage.db) await other.destroy();
    }
  });

  it('a token expiring in another window gets a list of that window', async () => {
    const settings = { size: 64, windowSeconds: HOUR, listsPerWindow: 1 };
    const alloc = statusAllocator(storage.db, settings);
    const now = Math.floor(Date.now() / 1000);
    const [x, y] = [await alloc.allocate(now + 10 * HOUR), await alloc.allocate(now + 20 * HOUR)];
    expect(x.list).not.toBe(y.list);
    const rows = await storage.db('status_lists').whereIn('id', [x.list, y.list]).orderBy('id').select('window_start');
    const starts = rows.map((r: { window_start: Date }) => new Date(r.window_start).getTime() / 1000);
    expect(starts).toEqual([Math.floor((now + 10 * HOUR) / HOUR) * HOUR, Math.floor((now + 20 * HOUR) / HOUR) * HOUR]);
  });

  it('the writer commits status entries in its one statement per batch, also with audit events off', async () => {
    const db = storage.db;
    const alloc = statusAllocator(db, { size: 1024, windowSeconds: HOUR, listsPerWindow: 1 });
    const exp = Math.floor(Date.now() / 1000) + 900;
    const slots = await Promise.all(Array.from({ length: 20 }, () => alloc.allocate(exp)));
    const writer = auditWriter(db, { events: false });
    const writes: string[] = [];
    const onQuery = (q: { sql: string }) => {
      const m = /^\s*(?:insert into (\w+)|select .* from (audit_append\w*)\()/is.exec(q.sql);
      if (m) writes.push((m[1] ?? m[2])!);
    };
    db.on('query', onQuery);
    try {
      await Promise.all(
        slots.map((s, i) =>
          writer.write({
            audit: [{ type: 'token.issued', outcome: 'success', jti: `w-${i}` }],
            statuses: [entry(s, `w-${i}`)],
          }),
        ),
      );
    } finally {
      db.off('query', onQuery);
    }
    expect(writes).toEqual(['audit_append_rows_v2', 'audit_append_rows_v2']);
    const rows = await db('status_list_entries').where('jti', 'like', 'w-%').select('jti', 'list_id', 'idx', 'status');
    expect(rows).toHaveLength(20);
    for (const r of rows as { status: number }[]) expect(r.status).toBe(0);
    const [events] = await db('audit_events').where('jti', 'like', 'w-%').count<{ n: string }[]>('* as n');
    expect(Number(events!.n)).toBe(0);
  });

  it('an entry is born INVALID when its grant is gone or its parent token is not VALID', async () => {
    const db = storage.db;
    const alloc = statusAllocator(db, { size: 1024, windowSeconds: HOUR, listsPerWindow: 1 });
    const exp = Math.floor(Date.now() / 1000) + 900;
    const expires_at = new Date(exp * 1000);
    await auditWriter(db).write({
      statuses: [
        entry(await alloc.allocate(exp), 'b-live', { grant_id: 'g-1' }),
        entry(await alloc.allocate(exp), 'b-gone', { grant_id: 'g-deleted' }),
        entry(await alloc.allocate(exp), 'b-none', { grant_id: null }),
        entry(await alloc.allocate(exp), 'b-parent', { grant_id: null }),
      ],
    });
    await markRevoked(db, { jtis: ['b-parent'] });
    const lineage = (jti: string, parent: string) => ({
      ...{ jti, parent_jti: parent, grant_id: null, account_id: 'u_1', actor: 'logs-mcp' },
      ...{ audience: 'https://cost.internal.example.com', depth: 1, expires_at },
    });
    await auditWriter(db).write({
      lineage: [lineage('b-child-of-revoked', 'b-parent'), lineage('b-child-of-live', 'b-none')],
      statuses: [
        entry(await alloc.allocate(exp), 'b-child-of-revoked', { grant_id: null }),
        entry(await alloc.allocate(exp), 'b-child-of-live', { grant_id: null }),
      ],
    });
    const rows = await db('status_list_entries').where('jti', 'like', 'b-%').select('jti', 'status');
    expect(Object.fromEntries(rows.map((r: { jti: string; status: number }) => [r.jti, Number(r.status)]))).toEqual({
      'b-live': 0,
      'b-gone': 1,
      'b-none': 0,
      'b-parent': 1,
      'b-child-of-revoked': 1,
      'b-child-of-live': 0,
    });
  });

  it('markRevoked flips the entries named by jti, grant, account or client, and no other', async () => {
    const db = storage.db;
    const alloc = statusAllocator(db, { size: 1024, windowSeconds: HOUR, listsPerWindow: 1 });
    const exp = Math.floor(Date.now() / 1000) + 900;
    const rows = [
      entry(await alloc.allocate(exp), 'm-1', { grant_id: 'g-a', account_id: 'u_a', client_id: 'c-a' }),
      entry(await alloc.allocate(exp), 'm-2', { grant_id: 'g-b', account_id: 'u_b', client_id: 'c-b' }),
      entry(await alloc.allocate(exp), 'm-3', { grant_id: 'g-c', account_id: 'u_c', client_id: 'c-c' }),
      entry(await alloc.allocate(exp), 'm-4', { grant_id: 'g-d', account_id: 'u_d', client_id: 'c-d' }),
      entry(await alloc.allocate(exp), 'm-5', { grant_id: null, account_id: null, client_id: 'c-e' }),
    ];
    await auditWriter(db).write({ statuses: rows });
    const status = async () =>
      Object.fromEntries(
        (await db('status_list_entries').where('jti', 'like', 'm-%').select('jti', 'status')).map(
          (r: { jti: string; status: number }) => [r.jti, r.status],
        ),
      );
    expect(await markRevoked(db, {})).toBe(0);
    expect(await markRevoked(db, { jtis: ['m-1'] })).toBe(1);
    expect(await markRevoked(db, { grantId: 'g-b' })).toBe(1);
    expect(await markRevoked(db, { accountId: 'u_c', clientId: 'c-e' })).toBe(2);
    expect(await markRevoked(db, { jtis: ['m-1'], grantId: 'g-b' })).toBe(0); // already INVALID
    expect(await status()).toEqual({ 'm-1': 1, 'm-2': 1, 'm-3': 1, 'm-4': 0, 'm-5': 1 });
    // in the caller's transaction: rolled back with it
    await db
      .transaction(async (trx) => {
        expect(await markRevoked(trx, { jtis: ['m-4'] })).toBe(1);
        throw new Error('roll back');
      })
      .catch(() => {});
    expect((await status())['m-4']).toBe(0);
  });

  it('retires a list once its window has passed (§13.1): its entries and blocks go, a current list stays', async () => {
    const db = storage.db;
    const alloc = statusAllocator(db, { size: 64, windowSeconds: HOUR, listsPerWindow: 1 });
    const now = Math.floor(Date.now() / 1000);
    const past = await alloc.allocate(now - 2 * HOUR); // a token that expired two hours ago
    const live = await alloc.allocate(now + 600);
    await auditWriter(db).write({
      statuses: [entry(past, 'r-past', { expires_at: new Date((now - 2 * HOUR) * 1000) }), entry(live, 'r-live')],
    });
    expect(await retireStatusLists(db)).toBeGreaterThanOrEqual(1);
    const lists = await db('status_lists').whereIn('id', [past.list, live.list]).select('id', 'retired_at');
    const retired = (id: number) => lists.find((l: { id: number }) => l.id === id)!.retired_at !== null;
    expect([retired(past.list), retired(live.list)]).toEqual([true, false]);
    expect(await db('status_list_entries').whereIn('jti', ['r-past', 'r-live']).pluck('jti')).toEqual(['r-live']);
    expect(await db('status_list_blocks').where('list_id', past.list).pluck('block')).toEqual([]);
    expect(await retireStatusLists(db)).toBe(0); // idempotent
  });
});
