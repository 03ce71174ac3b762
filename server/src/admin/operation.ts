/**
 * The shape of one admin operation (admin/operations.ts lists them): its arguments, checked on the side that
 * runs it, the run itself (a JSON result: it may cross the admin socket), the command's output, and its
 * exit status when that depends on the result (`baton audit verify`).
 */
import type { z } from 'zod';
import type { Knex } from 'knex';
import type { AccountStore } from '../accounts/store.ts';
import type { AuditEvent } from '../audit/record.ts';
import type { Config } from '../config/schema.ts';
import type { Kek } from '../keys/kek.ts';
import type { KeyStore } from '../keys/keystore.ts';
import { Policy } from '../policy/policy.ts';
import type { PolicyReloadResult } from '../policy/follow.ts';
import type { Adapter } from '../../../adapters/src/models.ts';
import type { BlockedClients } from '../revocation/client-blocks.ts';
import type { AdminCaller, AdminVia } from './audit-record.ts';

export interface AdminStores {
  /** the configuration the server (or the command line) runs with: IdPs and role bindings */
  config: Config;
  db: Knex;
  accounts: AccountStore;
  keys: KeyStore;
  /** the KEK the upstream secrets are sealed under (admin/secret-operations.ts) */
  kek?: Kek | undefined;
  /** the store's adapters (storage.adapterFor): what a revocation reaches in the hot store */
  adapterFor?: ((model: string) => Adapter) | undefined;
  /** the policy in force (a server's, reloaded by SIGHUP); the command line's is built from `config` */
  policy?: (() => Policy) | undefined;
  /**
   * a server's: re-read its configuration file, validate it, swap its policy as SIGHUP does and ask every
   * other process to do the same (policy/follow.ts); rejects with PolicyFileError for an unusable file
   */
  reloadPolicy?: (() => Promise<PolicyReloadResult>) | undefined;
  /** the stores' health as `/readyz` checks it (Storage.check; never throws) */
  check?: (() => Promise<{ postgres: boolean; migrations: boolean; redis?: boolean }>) | undefined;
  /** where a read's audit record failure is reported (admin/audit-record.ts); the server's log on its socket */
  log?: { error(obj: object, msg: string): void };
  /** a server's blocked set (revocation/client-blocks.ts): a block or unblock applies in this process at once */
  blocked?: BlockedClients | undefined;
  /** a server's key reload (main.ts refreshKeys): a key change applies in this process at once */
  refreshKeys?: (() => Promise<void>) | undefined;
}

/** how the operation was asked for, and by whom (the admin API's caller; none from the command line) */
export interface OperationContext {
  via: AdminVia;
  by?: AdminCaller | undefined;
}

export interface Operation<A, R> {
  args: z.ZodType<A>;
  run(stores: AdminStores, args: A, context: OperationContext): Promise<R>;
  print(result: R): string;
  /** the exit status (0 unless given) */
  status?(result: R): number;
  /** what the operation decided, for the audit trail besides its `admin.operation` record (ids only) */
  audit?(result: R): AuditEvent[];
  /** a read of the audit trail: its own record's failure is reported, and the read still answers */
  reads?: boolean;
}

export const operation = <A, R>(op: Operation<A, R>) => op as unknown as Operation<unknown, unknown>;

/** The policy in force: the server's (reloaded by SIGHUP or a reload), or, on the command line, the config's. */
export const policyOf = (stores: AdminStores): Policy => stores.policy?.() ?? new Policy(stores.config);
