/**
 * `baton clients block ID [--reason TEXT]` / `POST /admin/api/clients/{client}/block` and `baton clients
 * unblock ID` / `POST /admin/api/clients/{client}/unblock`: an administrator blocks a client at runtime, as
 * `clients.blocked` does in the configuration. The block is a `client_blocks` row (who, when, why:
 * revocation/client-blocks.ts) that every process reads into its blocked set; from then the client is
 * unknown (invalid_client, RFC 6749 §5.2, at its next request), and its tokens and every token whose actor
 * chain passes through it (RFC 8693 §4.1) are revoked at once as `baton revoke client` revokes them
 * (introspection `active: false`, RFC 7662 §2.2; Token Status List INVALID, draft-ietf-oauth-status-list-20
 * §7.1). Unblocking lets the client in again, for new tokens only. A client the configuration blocks stays
 * blocked until the configuration says otherwise.
 */
import { z } from 'zod';
import type { AuditEvent } from '../audit/record.ts';
import { isCimdClientId } from '../provider/client-registry/rules.ts';
import { blockClient, unblockClient, type ClientBlock } from '../revocation/client-blocks.ts';
import { countsOf, revoke, UnknownTarget, type RevocationCounts } from '../revocation/revoke.ts';
import { AdminError } from './errors.ts';
import { operation, policyOf, type AdminStores } from './operation.ts';

// eslint-disable-next-line no-control-regex -- the point is to refuse them
const CONTROL = /[\u0000-\u001f\u007f]/;
/** PostgreSQL text holds neither U+0000 nor an unpaired surrogate: such an id names no client */
const text = (max: number, what: string) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((v) => !CONTROL.test(v) && v.isWellFormed(), `${what} without control characters or unpaired surrogates`);
const clientId = text(1024, 'a client id');

/**
 * A client baton knows: static (the policy in force), registered (RFC 7591, stored), a CIMD id (a URL
 * client id baton would fetch: blocking one before it ever comes is allowed), or one with tokens or a block.
 */
async function known(stores: AdminStores, id: string): Promise<boolean> {
  const { db, config } = stores;
  if (policyOf(stores).staticClients.has(id)) return true;
  if (config.clients.registration.cimd.enabled && isCimdClientId(config.mode, id)) return true;
  const stored = await db('oidc_payloads').where({ model: 'Client', id }).first<{ id: string } | undefined>('id');
  if (stored) return true;
  const tokens = await db('status_list_entries').where({ client_id: id }).first<{ jti: string } | undefined>('jti');
  return tokens !== undefined || (await db('client_blocks').where({ client_id: id }).first('client_id')) !== undefined;
}

const notFound = (id: string, what: 'blocked' | 'unblocked') =>
  new AdminError('not_found', `no client ${id.slice(0, 200)} (see baton clients list): nothing was ${what}`);

const NONE: RevocationCounts = { tokens: 0, grants: 0, refresh_tokens: 0, consents: 0, sessions: 0 };

export interface Blocked extends RevocationCounts {
  client: string;
  blocked: true;
  /** false when it was blocked already (the first block's who, when and why are kept) */
  changed: boolean;
  block: ClientBlock;
  /** also blocked by the configuration (`clients.blocked`) */
  configured: boolean;
}

const block = operation({
  args: z.strictObject({ client: clientId, reason: text(500, 'a reason').optional() }),
  async run(stores, { client, reason }, { via, by }): Promise<Blocked> {
    const { db, adapterFor, accounts } = stores;
    if (!adapterFor) throw new Error('a block needs the store adapters (AdminStores.adapterFor)');
    if (!(await known(stores, client))) throw notFound(client, 'blocked');
    const { block: row, changed } = await blockClient(db, {
      client_id: client,
      blocked_by_client: by?.client ?? null,
      blocked_by_account: by?.account ?? null,
      via,
      reason: reason ?? null,
    });
    stores.blocked?.set(client, true);
    // the tokens already issued: revoked as `baton revoke client` does (again for a second block: idempotent,
    // and it completes one whose revocation failed)
    const policy = policyOf(stores);
    const isStaticClient = (id: string) => policy.staticClients.has(id);
    const counts = await revoke({ db, adapterFor, accounts, isStaticClient }, { client }).catch((err: unknown) => {
      if (err instanceof UnknownTarget) return NONE;
      throw err;
    });
    return { client, blocked: true, changed, block: row, configured: policy.blocked.has(client), ...countsOf(counts) };
  },
  print: (r) =>
    `${r.changed ? 'blocked' : 'already blocked'} ${r.client} (since ${r.block.blocked_at}); revoked ${r.tokens} access token(s), ${r.grants} grant(s), ${r.refresh_tokens} refresh token(s)\n`,
  audit: (r): AuditEvent[] => [
    {
      type: 'client.blocked',
      outcome: 'success',
      client: r.client,
      details: {
        operation: 'clients.block',
        changed: r.changed,
        // the operator's note stays in client_blocks (clients show): it is free text
        reason_given: r.block.reason !== null,
        ...countsOf(r),
      },
    },
  ],
});

const unblock = operation({
  args: z.strictObject({ client: clientId }),
  async run(stores, { client }): Promise<{ client: string; blocked: false; changed: boolean }> {
    if (policyOf(stores).blocked.has(client))
      throw new AdminError(
        'conflict',
        `client ${client.slice(0, 200)} is blocked by the configuration (clients.blocked): remove it there and reload the policy (SIGHUP)`,
      );
    const changed = await unblockClient(stores.db, client);
    if (!changed && !(await known(stores, client))) throw notFound(client, 'unblocked');
    stores.blocked?.set(client, false);
    return { client, blocked: false, changed };
  },
  print: (r) => `${r.changed ? 'unblocked' : 'not blocked'} ${r.client}\n`,
  audit: (r): AuditEvent[] => [
    {
      type: 'client.unblocked',
      outcome: 'success',
      client: r.client,
      details: { operation: 'clients.unblock', changed: r.changed },
    },
  ],
});

export const CLIENT_BLOCK_OPERATIONS = [
  ['clients.block', block],
  ['clients.unblock', unblock],
] as const;
