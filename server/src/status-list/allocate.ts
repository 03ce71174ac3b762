/**
 * Index allocation for the Token Status List (draft-ietf-oauth-status-list-20), safe across processes:
 *
 *  - lists by expiry window (§13.4): a token whose `exp` falls in a window gets a slot of that window's
 *    lists, so a list retires once every token in it expired (§13.1);
 *  - a process reserves a BLOCK of a list in one small transaction (a status_list_blocks row: the primary
 *    key (list_id, block) gives a block to one process only), the block chosen at random among the list's
 *    free ones, and hands out the block's indexes in a random order, in memory (§12.4: non-sequential,
 *    random indexes; §13.3: no double allocation). A block left unused by a stopped process is never used
 *    again: its slots stay 0x00, indistinguishable from valid tokens (§13.3, decoys);
 *  - `lists_per_window` lists are open at once per window, and a block comes from any of them (§12.4).
 *
 * The in-memory blocks are a cache that is safe to lose.
 */
import { randomInt } from 'node:crypto';
import type { Knex } from 'knex';

export interface StatusListSettings {
  /** entries per list (config `status_list.list_size`) */
  size: number;
  windowSeconds: number;
  listsPerWindow: number;
}

/** §6.2: where a token's status is: the list (its id in `${issuer}/statuslists/<id>`) and the index */
export interface StatusSlot {
  list: number;
  idx: number;
}

interface Block {
  list: number;
  /** the block's indexes, shuffled; handed out from the end */
  free: number[];
}

/** a list's blocks: at least 8, at most 1024 indexes each */
export const blockSizeFor = (size: number): number => Math.min(1024, Math.max(8, Math.floor(size / 8)));

function shuffled(start: number, n: number): number[] {
  const out = Array.from({ length: n }, (_, i) => start + i);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

type ListRow = { id: number; size: number; block_size: number };

/** A list of the window that still has free blocks, or a new one while fewer than `listsPerWindow` are open. */
async function openList(trx: Knex.Transaction, window: number, s: StatusListSettings): Promise<ListRow> {
  const start = new Date(window * 1000);
  const open = await trx('status_lists')
    .where({ window_start: start, full: false })
    .whereNull('retired_at')
    .select<ListRow[]>('id', 'size', 'block_size');
  if (open.length >= s.listsPerWindow) return open[randomInt(open.length)]!;
  const [created] = await trx('status_lists')
    .insert({
      bits: 1,
      size: s.size,
      block_size: blockSizeFor(s.size),
      window_start: start,
      window_end: new Date((window + s.windowSeconds) * 1000),
    })
    .returning<ListRow[]>(['id', 'size', 'block_size']);
  return created!;
}

/** One small transaction: a random free block of an open list of the window, or undefined (that list is full). */
async function reserveOnce(db: Knex, window: number, s: StatusListSettings): Promise<Block | undefined> {
  return db.transaction(async (trx) => {
    const list = await openList(trx, window, s);
    // the list's row lock orders the processes reserving from it; the primary key would refuse a duplicate
    await trx('status_lists').where('id', list.id).forUpdate().first('id');
    const blocks = Math.floor(list.size / list.block_size);
    const found: { rows: { b: number }[] } = await trx.raw(
      `select b from generate_series(0, ?::int - 1) as b
        where not exists (select 1 from status_list_blocks k where k.list_id = ? and k.block = b)
        order by random() limit 1`,
      [blocks, list.id],
    );
    const b = found.rows[0]?.b;
    if (b === undefined) {
      await trx('status_lists').where('id', list.id).update({ full: true });
      return undefined;
    }
    await trx('status_list_blocks').insert({ list_id: list.id, block: b });
    return { list: list.id, free: shuffled(b * list.block_size, list.block_size) };
  });
}

async function reserve(db: Knex, window: number, s: StatusListSettings): Promise<Block> {
  for (let attempt = 0; attempt < 16; attempt++) {
    const block = await reserveOnce(db, window, s);
    if (block) return block;
  }
  throw new Error('status list: no free block after 16 attempts');
}

export interface StatusAllocator {
  /** a fresh slot for a token expiring at `exp` (seconds since the epoch); never handed out twice */
  allocate(exp: number): Promise<StatusSlot>;
}

export function statusAllocator(db: Knex, settings: StatusListSettings): StatusAllocator {
  const blocks = new Map<number, Block>();
  const reserving = new Map<number, Promise<Block>>();

  const forget = (now: number) => {
    for (const w of blocks.keys()) if (w + settings.windowSeconds < now) blocks.delete(w);
  };

  async function allocate(exp: number): Promise<StatusSlot> {
    const window = Math.floor(exp / settings.windowSeconds) * settings.windowSeconds;
    for (;;) {
      const block = blocks.get(window);
      const idx = block?.free.pop();
      if (block && idx !== undefined) return { list: block.list, idx };
      let pending = reserving.get(window);
      if (!pending) {
        // concurrent callers of this process share one reservation
        pending = reserve(db, window, settings).finally(() => reserving.delete(window));
        reserving.set(window, pending);
        forget(Math.floor(Date.now() / 1000));
      }
      blocks.set(window, await pending);
    }
  }
  return { allocate };
}
