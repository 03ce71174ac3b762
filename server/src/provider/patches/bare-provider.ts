/**
 * For the patch tests only (imported by patches/*.test.ts, never by the server): a bare oidc-provider,
 * WITHOUT baton's configuration or patches, on an in-memory adapter, so that each test can show what
 * upstream does and what its patch changes, at unit speed (no PostgreSQL, no Redis, no listening socket).
 */
import Provider, { type Configuration } from 'oidc-provider';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import request from 'supertest';
import type { Adapter, AdapterPayload } from '../../../../adapters/src/models.ts';

export const ISSUER = 'http://op.test';

/** An Adapter kept in a Map (expiry ignored), with `claim`; `beforeFind` lets a test hold a find back. */
export class MemoryAdapter implements Adapter {
  readonly records = new Map<string, AdapterPayload>();
  beforeFind: (id: string) => Promise<void> = async () => {};
  async upsert(id: string, payload: AdapterPayload): Promise<void> {
    this.records.set(id, payload);
  }
  async find(id: string): Promise<AdapterPayload | undefined> {
    await this.beforeFind(id);
    return this.records.get(id);
  }
  async findByUserCode(code: string) {
    return [...this.records.values()].find((p) => p.userCode === code);
  }
  async findByUid(uid: string) {
    return [...this.records.values()].find((p) => p.uid === uid);
  }
  async consume(id: string): Promise<void> {
    const p = this.records.get(id);
    if (p) p.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id: string): Promise<void> {
    this.records.delete(id);
  }
  async revokeByGrantId(grantId: string): Promise<void> {
    for (const [id, p] of this.records) if (p.grantId === grantId) this.records.delete(id);
  }
  async claim(id: string, payload: AdapterPayload, _expiresIn: number): Promise<boolean> {
    if (this.records.has(id)) return false;
    this.records.set(id, payload);
    return true;
  }
}

let signingKey: Promise<JWK> | undefined;
/** one RS256 key per test process (oidc-provider's default ID token algorithm needs an RSA key) */
function key(): Promise<JWK> {
  signingKey ??= generateKeyPair('RS256', { extractable: true }).then(({ privateKey }) => exportJWK(privateKey));
  return signingKey;
}

export interface Bare {
  provider: Provider;
  /** the adapter of a model (created on first use, by the provider or by the test) */
  store: (model: string) => MemoryAdapter;
  /** supertest on the provider's request handler (built on each read: read it after
   * `provider.use(...)`, not destructured before) */
  readonly http: ReturnType<typeof request>;
}

/** oidc-provider configuration, loosely typed (test fixtures are plain literals) */
export type BareConfig = { [K in keyof Configuration]?: unknown };

/** A bare Provider with `config` on top of in-memory storage, a signing key and cookie keys. */
export async function bareProvider(config: BareConfig = {}): Promise<Bare> {
  const stores = new Map<string, MemoryAdapter>();
  const store = (name: string) => {
    let store = stores.get(name);
    if (!store) stores.set(name, (store = new MemoryAdapter()));
    return store;
  };
  const provider = new Provider(ISSUER, {
    adapter: store as unknown as Configuration['adapter'],
    jwks: { keys: [await key()] },
    cookies: { keys: ['bare-provider-test-cookie-key'] },
    // an error page is its JSON (oidc-provider's default page is HTML)
    renderError: async (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
    ...(config as Configuration),
    features: { devInteractions: { enabled: false }, ...(config.features as Configuration['features']) },
  });
  return {
    provider,
    store,
    get http() {
      return request(provider.callback());
    },
  };
}

/** An HTTP Basic Authorization header value (RFC 6749 §2.3.1: form-urlencoded id and secret). */
export const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
