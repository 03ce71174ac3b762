/**
 * The `status` claim of every JWT access token baton issues (draft-ietf-oauth-status-list-20 §6.1, §6.2:
 * `status: { status_list: { idx, uri } }`), and its entry, which must be durable before the token leaves:
 * the caller hands it to the audit writer with the token's own records (one batch, one round trip).
 * For oidc-provider's grants the claim is made in the `extraTokenClaims` hook and the entry waits on the
 * request (`stashEntry`) for the `grant.success` record (provider/events.ts) to take it (`takeEntries`).
 */
import type { Knex } from 'knex';
import { guard } from '../../../adapters/src/errors.ts';
import { statusAllocator, type StatusListSettings } from './allocate.ts';
import type { StatusEntryRow } from './entry.ts';

/** §6.2: the Referenced Token's `status` claim */
export interface StatusClaim {
  status_list: { idx: number; uri: string };
}

export interface StatusTokenIds {
  jti: string;
  /** seconds since the epoch */
  exp: number;
  accountId?: string | null | undefined;
  clientId?: string | null | undefined;
  grantId?: string | null | undefined;
}

export interface StatusIssuer {
  /** a fresh slot for the token: its claim, and the entry to write with the token's records */
  issue(token: StatusTokenIds): Promise<{ claim: StatusClaim; entry: StatusEntryRow }>;
}

/** §5.1: the list's URI, the `sub` of its Status List Token (GET ${issuer}/statuslists/:id) */
export const statusListUri = (issuer: string, list: number): string => `${issuer}/statuslists/${list}`;

export function statusIssuer(db: Knex, issuer: string, settings: StatusListSettings): StatusIssuer {
  const allocator = statusAllocator(db, settings);
  return {
    async issue(t) {
      // a store failure is an AdapterError: 503 server_error at the token endpoint, like any store failure
      const { list, idx } = await guard('StatusList', 'allocate', () => allocator.allocate(t.exp));
      return {
        claim: { status_list: { idx, uri: statusListUri(issuer, list) } },
        entry: {
          list_id: list,
          idx,
          jti: t.jti,
          account_id: t.accountId ?? null,
          client_id: t.clientId ?? null,
          grant_id: t.grantId ?? null,
          expires_at: new Date(t.exp * 1000),
        },
      };
    },
  };
}

/** the entries of tokens a request made in oidc-provider's hook, until its grant.success record takes them */
const waiting = new WeakMap<object, StatusEntryRow[]>();

export function stashEntry(ctx: object, entry: StatusEntryRow): void {
  const list = waiting.get(ctx);
  if (list) list.push(entry);
  else waiting.set(ctx, [entry]);
}

export function takeEntries(ctx: object): StatusEntryRow[] {
  const list = waiting.get(ctx) ?? [];
  waiting.delete(ctx);
  return list;
}
