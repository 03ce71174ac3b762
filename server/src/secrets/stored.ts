/**
 * The gateways' `credential: { secret: NAME }`: the upstream secrets store (server/src/secrets/, sealed under
 * the KEK in PostgreSQL), read through secretReader's cache, so that `baton secrets rotate` made by any
 * process reaches every gateway process within SECRET_REFRESH_SECONDS with no restart; a call in flight keeps
 * the value it was sent with (issue #16 "Rotation is one operation").
 */
import type { Knex } from 'knex';
import type { Config } from '../config/schema.ts';
import { resolveKek } from '../keys/kek.ts';
import { secretReader, type SecretLookup } from './reader.ts';

/** how soon every gateway process uses a rotated upstream secret (seconds) */
export const SECRET_REFRESH_SECONDS = 2;

export interface StoredSecrets {
  lookup: SecretLookup;
  close(): void;
}

/** Whether a gateway of the configuration takes its credential from the secrets store. */
export const usesStoredSecrets = (config: Config): boolean =>
  config.gateways.some((g) => g.credential?.secret !== undefined || g.oauth?.client_secret?.secret !== undefined);

/** The lookup of a stored secret's current value (and previous one, in an overlap) on `db`, and its close. */
export function storedSecrets(
  config: Config,
  db: Knex,
  log?: { warn(obj: object, msg: string): void },
  refreshSeconds = SECRET_REFRESH_SECONDS,
): StoredSecrets {
  const reader = secretReader(db, resolveKek(config), { refreshSeconds, log });
  return {
    async lookup(name) {
      const { value, previous } = await reader.current(name);
      return previous ? { value, previous: previous.value } : { value };
    },
    close: () => reader.close(),
  };
}
