/**
 * Brokered upstreams (issue #20): what the server (the connect pages) and `baton gateway` (the broker) build
 * from the configuration's `gateways[]` with `oauth`, on the shared PostgreSQL store.
 */
import type { Knex } from 'knex';
import type { Config, GatewayConfig } from '../config/schema.ts';
import { kekValue, type Kek } from '../keys/kek.ts';
import type { SecretLookup } from '../secrets/reader.ts';
import { clientSecretOf } from './client-secret.ts';
import { GrantStore } from './grants.ts';
import { connectTickets, type Tickets } from './tickets.ts';
import { upstreamAuth, type UpstreamAuth } from './upstream-auth.ts';

export { broker, NotConnected, type Broker } from './broker.ts';
export { GrantStore } from './grants.ts';

type Brokered = GatewayConfig & { oauth: NonNullable<GatewayConfig['oauth']> };

export const brokeredGateways = (config: Config): Brokered[] =>
  config.gateways.filter((g): g is Brokered => g.oauth !== undefined);

export interface Brokering {
  grants: GrantStore;
  tickets: Tickets;
  upstream: ReadonlyMap<string, UpstreamAuth>;
}

/** The grants, the tickets and each brokered gateway's upstream client (undefined: none is brokered). */
export function brokering(
  config: Config,
  db: Knex,
  kek: Kek,
  opts: { secret?: SecretLookup | undefined; env?: Record<string, string | undefined> } = {},
): Brokering | undefined {
  const gateways = brokeredGateways(config);
  if (gateways.length === 0) return undefined;
  return {
    grants: new GrantStore(db, kek),
    tickets: connectTickets(kekValue(config)),
    upstream: new Map(gateways.map((g) => [g.id, upstreamAuth(g, clientSecretOf(g, opts))])),
  };
}
