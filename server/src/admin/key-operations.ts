/**
 * `baton keys publish|activate KID|retire KID [--force]` and `POST /admin/api/keys`, `POST
 * /admin/api/keys/{kid}/activate|retire`: the signing key rotation of keys/keystore.ts, in stages with no
 * downtime. A published key must have reached every process (keys.refresh_interval_seconds) and relying
 * parties' JWKS caches before it signs; a retiring key must outlive the tokens it signed (the longest access
 * token lifetime). `force` skips both waits: the command line's only (the admin API never passes it). Each
 * change is recorded as `keys.changed` naming the kid, with its `admin.operation`.
 */
import { z } from 'zod';
import type { AuditEvent } from '../audit/record.ts';
import type { Config } from '../config/schema.ts';
import { KeyStoreError } from '../keys/keystore.ts';
import { AdminError, type AdminErrorCode } from './errors.ts';
import { operation, type AdminStores, type OperationContext } from './operation.ts';

// eslint-disable-next-line no-control-regex -- the point is to refuse them
const CONTROL = /[\u0000-\u001f\u007f]/;
/** a key id (an RFC 7638 thumbprint, 43 base64url characters); anything else is the key store's "no key" */
const kid = z
  .string()
  .min(1)
  .max(256)
  .refine((v) => !CONTROL.test(v) && v.isWellFormed(), 'a key id without control characters');

/** how long a published key waits before it may sign, and a retiring key before it may go (seconds) */
export function rotationWaits(config: Config, force: boolean): { propagation: number; longestToken: number } {
  if (force) return { propagation: 0, longestToken: 0 };
  return {
    propagation: config.keys.refresh_interval_seconds * 2 + 60,
    longestToken:
      Math.max(config.tokens.access_token_ttl, ...config.resources.map((r) => r.access_token_ttl ?? 0)) + 60,
  };
}

const REFUSAL_CODE: Record<KeyStoreError['refusal'], AdminErrorCode> = {
  unknown_key: 'not_found',
  wrong_state: 'conflict',
  too_early: 'conflict',
  no_active_key: 'conflict',
};

/**
 * The key store's refusal as the operation's (404 unknown kid, 409 otherwise; recorded `keystore_refused`).
 * Over the admin API, the hint to pass --force names the command line: the API never forces.
 */
async function refusing<T>(context: OperationContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof KeyStoreError)) throw err;
    const message =
      context.via === 'admin_api'
        ? err.message.replace(' (or pass --force)', ' (only `baton keys … --force` skips the wait)')
        : err.message;
    throw new AdminError(REFUSAL_CODE[err.refusal], message, 'keystore_refused');
  }
}

type Action = 'published' | 'activated' | 'retired';

const changed = (action: Action, operationName: string, keyId: string): AuditEvent[] => [
  { type: 'keys.changed', outcome: 'success', details: { action, kid: keyId, operation: operationName } },
];

/**
 * This process follows the change at once; its peers at their next key refresh. When this re-read fails,
 * this process's periodic one follows too (and logs `keys.refresh_failed`): the change is done either way.
 */
async function followed(stores: AdminStores): Promise<void> {
  await stores.refreshKeys?.().catch(() => {});
}

export interface Published {
  kid: string;
  alg: string;
  state: 'published';
  /** every process serves it within this many seconds */
  refresh_interval_seconds: number;
  /** it may be activated once published this long */
  activate_after_seconds: number;
}

export interface Activated {
  kid: string;
  state: 'active';
  /** the key that signed until now, retiring (still published), or null */
  previous: string | null;
  /** the previous key may be retired after this many seconds */
  retire_after_seconds: number;
}

const publish = operation({
  args: z.strictObject({}),
  async run(stores): Promise<Published> {
    const { config, keys } = stores;
    await keys.ensureActiveKey(config.keys.algorithm);
    const newKid = await keys.publish(config.keys.algorithm);
    await followed(stores);
    return {
      kid: newKid,
      alg: config.keys.algorithm,
      state: 'published',
      refresh_interval_seconds: config.keys.refresh_interval_seconds,
      activate_after_seconds: rotationWaits(config, false).propagation,
    };
  },
  print: (r) =>
    `published ${r.kid}; every process serves it within ${r.refresh_interval_seconds} s. Activate it with: baton keys activate -- ${r.kid}\n`,
  audit: (r) => changed('published', 'keys.publish', r.kid),
});

const activate = operation({
  args: z.strictObject({ kid, force: z.boolean().optional() }),
  async run(stores, args, context): Promise<Activated> {
    const waits = rotationWaits(stores.config, args.force ?? false);
    const { previous } = await refusing(context, () => stores.keys.activate(args.kid, waits.propagation));
    await followed(stores);
    return { kid: args.kid, state: 'active', previous: previous ?? null, retire_after_seconds: waits.longestToken };
  },
  print: (r) =>
    `activated ${r.kid}${r.previous ? `; ${r.previous} is retiring (still published). Retire it after ${r.retire_after_seconds} s with: baton keys retire -- ${r.previous}` : ''}\n`,
  audit: (r) => changed('activated', 'keys.activate', r.kid),
});

const retire = operation({
  args: z.strictObject({ kid, force: z.boolean().optional() }),
  async run(stores, args, context): Promise<{ kid: string; state: 'retired' }> {
    const { longestToken } = rotationWaits(stores.config, args.force ?? false);
    await refusing(context, () => stores.keys.retire(args.kid, longestToken));
    await followed(stores);
    return { kid: args.kid, state: 'retired' };
  },
  print: (r) => `retired ${r.kid}\n`,
  audit: (r) => changed('retired', 'keys.retire', r.kid),
});

export const KEY_OPERATIONS = [
  ['keys.publish', publish],
  ['keys.activate', activate],
  ['keys.retire', retire],
] as const;
