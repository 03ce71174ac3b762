/**
 * The Client model's adapter: static clients from the current policy first, blocked ids (configured, or blocked
 * by an administrator: deps.isBlocked) unknown, CIMD ids left to CIMD, then registered clients (RFC 7591) from
 * storage, their secrets sealed under the KEK and their expiry renewed while they are used.
 */
import type { Adapter, AdapterPayload } from '../../../../adapters/src/models.ts';
import type { Kek } from '../../keys/kek.ts';
import { SEALED_SECRET } from '../../consts.ts';
import type { RegistryAudit } from './audit.ts';
import type { ClientDeps } from './deps.ts';
import { isCimdClientId } from './rules.ts';
import { isStaticClient, staticMetadata } from './static-clients.ts';

/**
 * The stored payload's field for a registered client's secret, encrypted under the KEK (a compact JWE).
 * oidc-provider compares the secret it is given with the client's (client_secret_basic/post), so it needs
 * it back in the clear: the Client adapter decrypts on find and encrypts on upsert. A payload from before
 * this carries a plain `client_secret`: it is read as it is and sealed on its next write (or by `keys
 * rewrap`).
 */
async function sealSecret(kek: Kek, payload: AdapterPayload): Promise<AdapterPayload> {
  const { client_secret: secret, ...rest } = payload;
  return typeof secret === 'string' ? { ...rest, [SEALED_SECRET]: await kek.encrypt(secret) } : payload;
}

async function openSecret(kek: Kek, payload: AdapterPayload): Promise<AdapterPayload> {
  const { [SEALED_SECRET]: sealed, ...rest } = payload;
  return typeof sealed === 'string' ? { ...rest, client_secret: await kek.decrypt(sealed) } : payload;
}

export function storedClients(deps: ClientDeps, audit?: RegistryAudit) {
  const unusedTtl = deps.config.clients.registration.dcr.unused_expiry_days * 86400;
  const touched = new Map<string, number>();
  const isCimdId = (id: unknown) => isCimdClientId(deps.config.mode, id);

  /** The Client model's adapter: static clients first (current config), blocked ids unknown, then storage. */
  function clientAdapter(stored: Adapter): Adapter {
    return {
      ...stored,
      async find(id) {
        if (deps.isBlocked(id)) return undefined;
        const fixed = staticMetadata(deps.policy(), id);
        if (fixed) return { ...fixed };
        if (isCimdId(id)) return undefined; // CIMD resolves it (an https id, or a loopback http one in development)
        const payload = await stored.find(id);
        return payload && openSecret(deps.kek, payload);
      },
      // RFC 7591 registrations expire when unused (touch() renews them); secrets are stored encrypted. A
      // registration's audit record is durable first: without it nothing is stored (issue #13)
      upsert: async (id, payload) => {
        await audit?.registering(id, payload);
        return stored.upsert(id, await sealSecret(deps.kek, payload), unusedTtl);
      },
      findByUid: (uid) => stored.findByUid(uid),
      findByUserCode: (code) => stored.findByUserCode(code),
      consume: (id) => stored.consume(id),
      destroy: (id) => stored.destroy(id),
      revokeByGrantId: (grantId) => stored.revokeByGrantId(grantId),
    };
  }

  /** A registered client that is used stays registered (at most one write an hour per process). */
  async function touch(stored: Adapter, clientId: string): Promise<void> {
    if (isStaticClient(deps.policy(), clientId) || isCimdId(clientId)) return;
    const now = Date.now();
    if ((touched.get(clientId) ?? 0) > now - 3600_000) return;
    touched.set(clientId, now);
    const payload = await stored.find(clientId);
    if (payload) await stored.upsert(clientId, payload, unusedTtl);
  }

  return { clientAdapter, touch };
}
