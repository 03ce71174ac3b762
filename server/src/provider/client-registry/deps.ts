import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Kek } from '../../keys/kek.ts';
import type { Config } from '../../config/schema.ts';
import type { Policy } from '../../policy/policy.ts';

/** What the client registry is built from. */
export interface ClientDeps {
  config: Config;
  policy(): Policy;
  redis: Redis | undefined;
  log: Logger;
  /** encrypts registered clients' secrets at rest */
  kek: Kek;
}
