import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Kek } from '../../keys/kek.ts';
import type { Config } from '../../config/schema.ts';
import type { Policy } from '../../policy/policy.ts';
import type { AuditSink } from '../audit-trail.ts';

/** What the client registry is built from. */
export interface ClientDeps {
  config: Config;
  policy(): Policy;
  /**
   * whether a client id is blocked: the configuration's `clients.blocked` or an administrator's runtime block
   * (revocation/client-blocks.ts BlockedClients); an in-memory lookup
   */
  isBlocked(clientId: string): boolean;
  redis: Redis | undefined;
  log: Logger;
  /** encrypts registered clients' secrets at rest */
  kek: Kek;
  /** the audit trail (registrations, CIMD documents accepted and refused) and the store it is read from */
  audit?: AuditSink | undefined;
  db?: Knex | undefined;
}
