/**
 * Clients blocked at runtime by an administrator (`baton clients block`, `POST /admin/api/clients/{client}/
 * block`), kept in the `client_blocks` table (migrations/20261201000050), and the blocked set every process
 * consults: the configuration's `clients.blocked` (Policy.blocked) ∪ the table's ids.
 *
 * The set is a cache of the table, safe to lose: each process re-reads it every
 * `clients.block_refresh_interval_seconds` (lifecycle/timers.ts), and the process that blocks or unblocks
 * changes its own copy at once. Until a peer's next refresh it still knows the client; the block's
 * revocation (revoke.ts: status list bits, introspection's RevokedToken entries) already covers the tokens
 * issued before it, and the peer revokes again what it issued in that window when its refresh sees the block.
 */
import type { Knex } from 'knex';

/** how the block reached the store (admin/audit-record.ts AdminVia) */
export type BlockVia = 'store' | 'admin_socket' | 'admin_api' | 'admin_console';

export interface ClientBlock {
  client_id: string;
  /** ISO 8601 */
  blocked_at: string;
  /** the admin API caller's client, and its account for a person; both null from the command line */
  blocked_by_client: string | null;
  blocked_by_account: string | null;
  via: BlockVia;
  reason: string | null;
}

interface BlockRow extends Omit<ClientBlock, 'blocked_at'> {
  blocked_at: Date | string;
}

const TABLE = 'client_blocks';
const COLUMNS = ['client_id', 'blocked_at', 'blocked_by_client', 'blocked_by_account', 'via', 'reason'];

const blockOf = (r: BlockRow): ClientBlock => ({ ...r, blocked_at: new Date(r.blocked_at).toISOString() });

/** The blocks of these clients (every block without `ids`), by client id. */
export async function clientBlocks(db: Knex, ids?: readonly string[]): Promise<Map<string, ClientBlock>> {
  if (ids?.length === 0) return new Map();
  const q = db(TABLE).select<BlockRow[]>(COLUMNS);
  if (ids) void q.whereIn('client_id', ids);
  return new Map((await q).map((r) => [r.client_id, blockOf(r)]));
}

/** Only the ids: what each process's refresh reads. */
export async function blockedIds(db: Knex): Promise<string[]> {
  return (await db(TABLE).select<{ client_id: string }[]>('client_id')).map((r) => r.client_id);
}

/**
 * Blocks a client; a second block keeps the first one's who, when and why (idempotent). `changed`: whether
 * this call blocked it.
 */
export async function blockClient(
  db: Knex,
  block: Omit<ClientBlock, 'blocked_at'>,
): Promise<{ block: ClientBlock; changed: boolean }> {
  const inserted = await db(TABLE).insert(block).onConflict('client_id').ignore().returning<BlockRow[]>(COLUMNS);
  if (inserted[0]) return { block: blockOf(inserted[0]), changed: true };
  const existing = await db(TABLE).where({ client_id: block.client_id }).first<BlockRow | undefined>(COLUMNS);
  // unblocked between the two statements: block again
  return existing ? { block: blockOf(existing), changed: false } : blockClient(db, block);
}

/** Unblocks a client; false when it was not blocked at runtime. */
export async function unblockClient(db: Knex, clientId: string): Promise<boolean> {
  // the deleted rows themselves: the embedded store's driver answers no row count
  const deleted = await db(TABLE)
    .where({ client_id: clientId })
    .delete()
    .returning<{ client_id: string }[]>('client_id');
  return deleted.length > 0;
}

/**
 * The blocked set of one process: the configuration's (read through `configured`, so a policy reload applies
 * at once) and the runtime blocks, an in-memory Set lookup each (the token endpoint and introspection ask it
 * at every request).
 */
export class BlockedClients {
  readonly #configured: () => ReadonlySet<string>;
  #runtime = new Set<string>();
  /** bumped by each local change, so that a refresh that read the table before it does not undo it */
  #version = 0;

  constructor(configured: () => ReadonlySet<string>) {
    this.#configured = configured;
  }

  has(clientId: string): boolean {
    return this.#configured().has(clientId) || this.#runtime.has(clientId);
  }

  /** the runtime-blocked ids */
  runtime(): string[] {
    return [...this.#runtime];
  }

  /** This process blocked or unblocked a client: its copy follows at once. */
  set(clientId: string, blocked: boolean): void {
    this.#version++;
    if (blocked) this.#runtime.add(clientId);
    else this.#runtime.delete(clientId);
  }

  /**
   * Replaces the runtime set with the table's (`load`); resolves to the ids this process did not know were
   * blocked. A local change made while the table was read wins: the next refresh reads it back.
   */
  async refresh(load: () => Promise<readonly string[]>): Promise<string[]> {
    const started = this.#version;
    const ids = await load();
    if (this.#version !== started) return [];
    const added = ids.filter((id) => !this.#runtime.has(id));
    this.#runtime = new Set(ids);
    return added;
  }
}
